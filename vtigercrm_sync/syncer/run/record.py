"""One synced document against its VTiger record: sync it now, compare it, list its sync history.

Offered on Customer, Contact, Address and Sales Order to whoever may read both the document and its connection.
*Sync from VTiger now* re-reads the record with its bundle and applies it in the background, through the same
retry path as "Retry failed records" (so it takes the connection's lease and writes a Sync Log); the document's
room hears when it ends. *Compare with VTiger* plans the record as a pull would and sets each planned value beside
the document's; sensitive values are never shown.
"""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _
from frappe.utils import now_datetime

from vtigercrm_sync.constants import (
	CONNECTION_FIELD,
	LOG_DOCTYPE,
	LOG_LINE_DOCTYPE,
	MODULE_FIELD,
	REFRESH_EVENT,
	SETTING_DOCTYPE,
	TRIGGER_RETRY,
	VTIGER_ID_FIELD,
)
from vtigercrm_sync.syncer.plan import VTigerId
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.run.state import RunRefused
from vtigercrm_sync.syncer.services.reverse import same_value

RECORD_DOCTYPES = ("Customer", "Contact", "Address", "Sales Order")
HISTORY_LIMIT = 50
JOB_TIMEOUT = 600
HIDDEN = "••••"


def synced_record(doctype: str, name: str, permission: str = "read") -> tuple[Any, str, str, int]:
	"""The document, its connection, VTiger module and crmid, once the user may use both document and connection."""
	if doctype not in RECORD_DOCTYPES:
		raise frappe.PermissionError(_("{0} is not synced from VTiger").format(_(doctype)))
	doc = frappe.get_doc(doctype, name)
	doc.check_permission(permission)
	connection, vtiger_id, module = (doc.get(f) for f in (CONNECTION_FIELD, VTIGER_ID_FIELD, MODULE_FIELD))
	if not (connection and vtiger_id and module):
		frappe.throw(_("{0} {1} was not synced from VTiger").format(_(doctype), frappe.bold(name)))
	frappe.get_doc(SETTING_DOCTYPE, connection).check_permission("read")
	return doc, connection, module, VTigerId.parse(vtiger_id).crmid


@frappe.whitelist(methods=["POST"])
def sync_from_vtiger_now(doctype: str, name: str) -> str:
	"""Queue the re-read of the document's VTiger record; the form hears when it is written."""
	doc, connection, module, crmid = synced_record(doctype, name, "write")
	frappe.enqueue(
		"vtigercrm_sync.syncer.run.record.sync_record",
		queue="long",
		timeout=JOB_TIMEOUT,
		job_id=f"vtigercrm_sync::record::{connection}::{module}::{crmid}",
		deduplicate=True,
		enqueue_after_commit=True,
		now=frappe.flags.in_test,
		doctype=doctype,
		name=doc.name,
		connection=connection,
		module=module,
		crmid=crmid,
		user=frappe.session.user,
	)
	return _("Reading {0} {1} from VTiger; the form refreshes when it is written.").format(module, crmid)


def sync_record(doctype: str, name: str, connection: str, module: str, crmid: int, user: str) -> str:
	"""Job body: one record through the retry path; its log's status goes to the document's room."""
	from vtigercrm_sync.syncer.run.job import retry_records

	started = now_datetime()
	try:
		status, message = retry_records(connection, [(module, crmid)], None, user), None
	except RunRefused as exc:  # a run of the connection is writing: it takes this record too, or the next one
		status, message = _("Not synced"), redact(str(exc))
	log = frappe.db.get_value(
		LOG_DOCTYPE,
		{"connection": connection, "trigger": TRIGGER_RETRY, "user": user, "creation": (">=", started)},
		"name",
		order_by="creation desc",
	)
	frappe.publish_realtime(
		REFRESH_EVENT,
		{"log": log, "status": status, "message": message, "doctype": doctype, "name": name},
		doctype=doctype,
		docname=name,
		after_commit=True,
	)
	return status


@frappe.whitelist()
def compare_with_vtiger(doctype: str, name: str) -> dict[str, Any]:
	"""Field by field, what a pull would write now beside what the document holds."""
	from vtigercrm_sync.syncer.run.run import SyncRun

	doc, connection, module, crmid = synced_record(doctype, name)
	run = SyncRun(connection)
	bundles = run.reader.read_records(module, [crmid]) if module in run.streams else []
	if not bundles:
		return {"found": False, "rows": []}
	result = run.planner.plan(bundles[0])
	plan = next((p for p in result.plans if p.key == (doctype, doc.get(VTIGER_ID_FIELD))), None)
	if plan is None:
		reasons = "; ".join(issue.message for issue in result.issues) or result.filtered or ""
		return {"found": True, "rows": [], "message": redact(reasons)}
	return {"found": True, "rows": compare_rows(doc, plan)}


def compare_rows(doc: Any, plan: Any) -> list[dict[str, Any]]:
	"""One row per planned field and child table: label, VTiger's value, ERPNext's, and whether they agree."""
	rows = []
	for fieldname, value in plan.values.items():
		if not doc.meta.has_field(fieldname):
			continue
		mine = doc.get(fieldname)
		rows.append(_row(doc, fieldname, _text(value), _text(mine), same_value(mine, value)))
	for fieldname in plan.secrets:
		rows.append(_row(doc, fieldname, HIDDEN, HIDDEN, None))
	for table, wanted in plan.children.items():
		have = [row.as_dict() for row in doc.get(table) or []]
		agree = len(have) == len(wanted) and all(
			any(all(same_value(row.get(k), v) for k, v in want.items()) for row in have) for want in wanted
		)
		rows.append(
			_row(doc, table, _("{0} row(s)").format(len(wanted)), _("{0} row(s)").format(len(have)), agree)
		)
	return rows


def _row(doc: Any, fieldname: str, vtiger: str, erpnext: str, same: bool | None) -> dict[str, Any]:
	return {
		"fieldname": fieldname,
		"label": _(doc.meta.get_label(fieldname)),
		"vtiger": vtiger,
		"erpnext": erpnext,
		"same": same,
	}


def _text(value: Any) -> str:
	return "" if value is None else redact(str(value))


@frappe.whitelist()
def sync_history(doctype: str, name: str) -> list[dict[str, Any]]:
	"""The Sync Log lines that name the document, newest first, with their logs."""
	synced_record(doctype, name)
	line = frappe.qb.DocType(LOG_LINE_DOCTYPE)
	log = frappe.qb.DocType(LOG_DOCTYPE)
	return (
		frappe.qb.from_(line)
		.join(log)
		.on(log.name == line.log)
		.select(
			line.log,
			log.started_at,
			log.trigger,
			line.direction,
			line.action,
			line.message,
		)
		.where((line.target_doctype == doctype) & (line.target_name == name))
		.orderby(log.started_at, order=frappe.qb.desc)
		.limit(HISTORY_LIMIT)
		.run(as_dict=True)
	)
