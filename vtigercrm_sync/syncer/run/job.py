"""Job bodies: a sync run, a retry of chosen records, and a preview that writes nothing.

Every job that writes ends its log in a final state, whatever stops it: a time-out ends it Timed Out, any other
error Failed with a redacted reason (and a redacted Error Log). Watermarks only ever hold what was committed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

import frappe
from frappe import _
from rq.timeouts import JobTimeoutException
from sqlalchemy.exc import OperationalError

from vtigercrm_sync.config.spec import STREAM_ORDER, MappingError
from vtigercrm_sync.constants import (
	LOG_DOCTYPE,
	SETTING_DOCTYPE,
	STATUS_FAILED,
	STATUS_QUEUED,
	TRIGGER_RETRY,
	VTIGER_HASH_FIELD,
	VTIGER_ID_FIELD,
)
from vtigercrm_sync.syncer.handler.base import error_text, rollback_or_reconnect
from vtigercrm_sync.syncer.observer.frappe import FrappeObserver, new_log_name
from vtigercrm_sync.syncer.plan import BundleResult
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.run.feed import follow_feed, read_pushed_again
from vtigercrm_sync.syncer.run.fingerprint import forget_all
from vtigercrm_sync.syncer.run.run import SyncRun
from vtigercrm_sync.syncer.run.stages import plan_run
from vtigercrm_sync.syncer.run.state import (
	RunRefused,
	beating,
	claim_prefix,
	claim_run,
	end_log,
	release_prefix,
	stop_beating,
)
from vtigercrm_sync.syncer.services.query import Change, ConnectionFailed, Watermark, reason

DEFAULT_OVERLAP_MINUTES = 10


def run_sync(
	connection: str,
	trigger: str = "Button",
	full: bool = False,
	user: str | None = None,
	rebuild: bool = False,
) -> str:
	"""Job body of a run's start (the *coordinator*): the lease, then the log, then its window (everything changed
	since the stored watermarks, or everything with ``full``), cut into stages and chunks whose jobs write it
	(``stages.py``); returns the log's status (final when the chunks ran in this process, as under tests). Records
	whose fingerprint did not move are not read; ``rebuild`` (a Full Resync) forgets every fingerprint first, so
	every record is read and planned again."""
	full = full or rebuild
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	before = {module: doc.watermark(module) for module in STREAM_ORDER}
	last_signpost = _last_signpost(connection)

	def body(run: SyncRun, observer: FrappeObserver) -> None:
		until = run.reader.signpost(doc.vtiger_time_zone or None)
		overlap = timedelta(
			minutes=doc.overlap_minutes if doc.overlap_minutes is not None else DEFAULT_OVERLAP_MINUTES
		)
		since = {
			m: None if full or not before[m] else Watermark.parse(before[m]).rewound(overlap, last_signpost)
			for m in run.streams
		}
		if rebuild:
			forget_all(connection)
		follow_feed(run, observer, since)
		read_pushed_again(run, observer)
		plan_run(run, observer, until, since)

	def start(log: str) -> FrappeObserver:
		claim_run(connection, log, queued=doc.status == STATUS_QUEUED)
		return FrappeObserver.start(connection, trigger, user, full, before, name=log)

	return _run_job(connection, start, body, hold=True)


def _last_signpost(connection: str) -> datetime | None:
	"""The signpost of the connection's last run that read a window: the overlap is re-read before it."""
	window = frappe.db.get_value(
		LOG_DOCTYPE,
		{"connection": connection, "run_window": ("is", "set")},
		"run_window",
		order_by="started_at desc",
	)
	return datetime.fromisoformat(json.loads(window)["until"]) if window else None


def retry_records(
	connection: str, records: Iterable[Iterable[Any]], retry_of: str, user: str | None = None
) -> str:
	"""Re-read and re-apply chosen records (the failed lines of a log); watermarks stay as they are. Raises
	:class:`RunRefused`, having created no log and touched nothing, when another job holds the lease or a run
	of the connection is on."""
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	by_module: dict[str, list[int]] = {}
	for module, crmid in records:
		by_module.setdefault(module, []).append(int(crmid))

	def start(log: str) -> FrappeObserver:
		watermarks = {m: doc.watermark(m) for m in STREAM_ORDER}
		claim_run(connection, log, queued=False)
		return FrappeObserver.start(connection, TRIGGER_RETRY, user, False, watermarks, retry_of, name=log)

	def body(run: SyncRun, observer: FrappeObserver) -> None:
		observer.set_total(sum(len(set(ids)) for ids in by_module.values()))
		for module, crmids in by_module.items():
			bundles = run.reader.read_records(module, sorted(set(crmids)))
			run.write(
				(Change(Watermark(b.modifiedtime, b.source.crmid), bundle=b) for b in bundles), observer
			)
			for crmid in sorted(set(crmids) - {bundle.source.crmid for bundle in bundles}):
				observer.line("Skipped", module, crmid, _("No longer a live record in VTiger"), record=crmid)
				observer.record_read()

	return _run_job(connection, start, body, refuse=True)


def _run_job(
	connection: str,
	start: Callable[[str], FrappeObserver],
	body: Callable[[SyncRun, FrappeObserver], None],
	hold: bool = False,
	refuse: bool = False,
) -> str:
	"""Claim the lease of the connection's id prefix, then create the log (``start``: the connection's claim),
	run ``body`` and end the log in a final state, whatever happens. Refused, the job writes nothing: it raises
	:class:`RunRefused` with ``refuse``, else a queued run's connection says why. With ``hold``, the body only
	starts the run: its chunks keep the lease and end the log."""
	log = new_log_name()
	prefix = frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix") or ""
	with beating(log, connection):
		try:
			claim_prefix(prefix, log)
			observer = start(log)
		except RunRefused as exc:
			release_prefix(prefix, log)
			frappe.db.rollback()
			if refuse:
				raise
			return _refused(connection, str(exc))
		try:
			run = SyncRun(connection, log)
			body(run, observer)
		except JobTimeoutException:
			rollback_or_reconnect(timed_out=True)
			return _finish(
				connection,
				prefix,
				observer,
				_(
					"The run hit its time limit; the next run resumes after the last committed group of records"
				),
				timed_out=True,
			)
		except (ConnectionFailed, MappingError, RunRefused) as exc:
			rollback_or_reconnect()
			return _finish(connection, prefix, observer, redact(str(exc)))
		except OperationalError as exc:
			rollback_or_reconnect()
			return _finish(
				connection,
				prefix,
				observer,
				_("Lost the connection to VTiger: {0}").format(redact(reason(exc))),
			)
		except BaseException as exc:
			rollback_or_reconnect()
			frappe.log_error(
				title=_("VTigerCRM Sync {0} failed").format(connection),
				message=redact(frappe.get_traceback()),
			)
			status = _finish(connection, prefix, observer, redact(error_text(exc)))
			if not isinstance(exc, Exception):
				raise  # the worker is being stopped: let it stop, with the log closed
			return status
		if hold:
			return frappe.db.get_value(LOG_DOCTYPE, log, "status")
		return _finish(connection, prefix, observer)


def _refused(connection: str, message: str) -> str:
	"""A queued run that could not start (another job writes its documents): Queued → Failed, with the reason."""
	frappe.db.sql(
		f"UPDATE `tab{SETTING_DOCTYPE}` SET status = %s, last_error = %s WHERE name = %s AND status = %s",
		(STATUS_FAILED, message, connection, STATUS_QUEUED),
	)
	frappe.db.commit()
	frappe.get_doc(SETTING_DOCTYPE, connection).notify_update()
	return STATUS_FAILED


def _finish(
	connection: str, prefix: str, observer: FrappeObserver, error: str | None = None, timed_out: bool = False
) -> str:
	status = observer.finish(end_log, error, timed_out=timed_out)
	release_prefix(prefix, observer.log.name)
	stop_beating(connection)
	return status


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
