"""Job bodies: a sync run, a retry of chosen records, and a preview that writes nothing.

Each batch commits once, together with its log lines and the watermark of its last record, so a killed worker
resumes exactly where the last commit left it and re-applies nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import frappe
from frappe import _
from rq.timeouts import JobTimeoutException
from sqlalchemy.exc import OperationalError

from vtigercrm_sync.config.config import STREAM_ORDER, MappingError
from vtigercrm_sync.constants import SETTING_DOCTYPE, TRIGGER_RETRY, VTIGER_HASH_FIELD, VTIGER_ID_FIELD
from vtigercrm_sync.syncer.handler.base import error_text
from vtigercrm_sync.syncer.handler.run import SyncRun
from vtigercrm_sync.syncer.handler.run_state import restore_watermarks
from vtigercrm_sync.syncer.observer.frappe import FrappeObserver
from vtigercrm_sync.syncer.plan import BundleResult
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.services.query import ConnectionFailed, Watermark, reason


def run_sync(connection: str, trigger: str = "Button", full: bool = False, user: str | None = None) -> str:
	"""Job body: sync everything changed since the stored watermarks (or everything, with ``full``)."""
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	before = {module: doc.watermark(module) for module in STREAM_ORDER}
	observer = FrappeObserver.start(connection, trigger, user, full, before)
	try:
		run = SyncRun(connection)
		until = run.reader.signpost()
		since = {m: None if full else Watermark.parse(before[m]) for m in run.streams}
		observer.set_total(sum(run.reader.count_changes(m, since[m], until) for m in run.streams))
		for module in run.streams:
			for batch in run.reader.iter_changes(module, since[module], until):
				for result in run.planner.plan_all(batch.bundles):
					run.apply(result, observer)
					observer.record_read()
				for ref in batch.deleted:
					run.delete(ref, observer)
					observer.record_read()
				run.doc.set_watermark(module, str(batch.last))
				observer.batch_committed(module, str(batch.last))
				frappe.db.commit()
	except JobTimeoutException:
		frappe.db.rollback()
		return observer.finish(
			_("The run hit its time limit; the next run resumes after the last committed batch"),
			timed_out=True,
		)
	except (ConnectionFailed, MappingError) as exc:
		frappe.db.rollback()
		return observer.finish(redact(str(exc)))
	except OperationalError as exc:
		frappe.db.rollback()
		return observer.finish(_("Lost the connection to VTiger: {0}").format(redact(reason(exc))))
	except Exception as exc:
		frappe.db.rollback()
		frappe.log_error(
			title=_("VTigerCRM Sync {0} failed").format(connection), message=redact(frappe.get_traceback())
		)
		return observer.finish(redact(error_text(exc)))
	status = observer.finish()
	if status == "Failed":
		restore_watermarks(connection, before)
	return status


def retry_records(
	connection: str, records: Iterable[Iterable[Any]], retry_of: str, user: str | None = None
) -> str:
	"""Re-read and re-apply chosen records (the failed lines of a log); watermarks stay as they are."""
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	observer = FrappeObserver.start(
		connection, TRIGGER_RETRY, user, False, {m: doc.watermark(m) for m in STREAM_ORDER}, retry_of
	)
	by_module: dict[str, list[int]] = {}
	for module, crmid in records:
		by_module.setdefault(module, []).append(int(crmid))
	try:
		run = SyncRun(connection)
		observer.set_total(sum(len(ids) for ids in by_module.values()))
		for module, crmids in by_module.items():
			bundles = run.reader.read_records(module, sorted(set(crmids)))
			found = {bundle.source.crmid for bundle in bundles}
			for result in run.planner.plan_all(bundles):
				run.apply(result, observer)
				observer.record_read()
			for crmid in sorted(set(crmids) - found):
				observer.line("Skipped", module, crmid, _("No longer a live record in VTiger"))
				observer.record_read()
			observer.flush()
			frappe.db.commit()
	except (ConnectionFailed, MappingError) as exc:
		frappe.db.rollback()
		return observer.finish(redact(str(exc)))
	return observer.finish()


def preview(connection: str, limit: int = 20) -> list[dict[str, Any]]:
	"""What the next run would do with the first ``limit`` changed records of each stream; writes nothing."""
	run = SyncRun(connection)
	until = run.reader.signpost()
	rows: list[dict[str, Any]] = []
	for module in run.streams:
		batch = next(run.reader.iter_changes(module, Watermark.parse(run.doc.watermark(module)), until), None)
		for result in run.planner.plan_all(batch.bundles[:limit] if batch else []):
			rows.extend(preview_rows(result))
	return rows


def preview_rows(result: BundleResult) -> list[dict[str, Any]]:
	base = {"module": result.source.module, "record": result.source.crmid}
	if result.filtered or result.failed:
		reason = result.filtered or "; ".join(i.message for i in result.issues if i.severity == "error")
		return [{**base, "action": "filtered" if result.filtered else "fail", "message": reason}]
	rows = []
	for plan in result.plans:
		stored = frappe.db.get_value(
			plan.doctype, {VTIGER_ID_FIELD: plan.vtiger_id}, ["name", VTIGER_HASH_FIELD], as_dict=True
		)
		action = (
			"create"
			if not stored
			else ("skip" if stored.get(VTIGER_HASH_FIELD) == plan.content_hash else "update")
		)
		rows.append(
			{**base, "doctype": plan.doctype, "vtiger_id": plan.vtiger_id, "action": action, "message": ""}
		)
	return rows + [{**base, "action": "warning", "message": i.message} for i in result.issues]
