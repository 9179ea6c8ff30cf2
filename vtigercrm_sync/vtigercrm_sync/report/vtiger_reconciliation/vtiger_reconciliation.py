"""VTiger Reconciliation: do ERPNext and VTiger agree, and where not, why.

Per connection and stream: VTiger's live records against the connection's documents; records VTiger has and
ERPNext lacks (with the reason the last run gave, or "never read"); documents whose VTiger record was deleted or
purged, and whether the deletion policy reached them; Sales Orders whose grand total, currency or number of lines
differs from VTiger's (its total rounded half up to the cent, as VTiger's UI shows it); pushes waiting or failed.
VTiger is read with SELECT only, each module in bulk (``syncer/services/audit.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import frappe
from frappe import _
from frappe.query_builder.functions import Count

from vtigercrm_sync.config.spec import STREAM_ORDER
from vtigercrm_sync.constants import (
	CONNECTION_FIELD,
	LOG_DOCTYPE,
	LOG_LINE_DOCTYPE,
	MODULE_FIELD,
	OUTBOX_DOCTYPE,
	OUTBOX_FAILED,
	OUTBOX_PENDING,
	OUTBOX_SENDING,
	SETTING_DOCTYPE,
	VTIGER_ID_FIELD,
	WAITING_DOCTYPE,
)
from vtigercrm_sync.database.engine import get_engine
from vtigercrm_sync.database.unit_of_work import SqlAlchemyUnitOfWork
from vtigercrm_sync.syncer.plan import VTigerId
from vtigercrm_sync.syncer.services.audit import order_money, record_states
from vtigercrm_sync.syncer.services.webservice import is_http_url

STREAM_DOCTYPES = {"Accounts": "Customer", "Contacts": "Contact", "SalesOrder": "Sales Order"}
"""The document each stream's record becomes (its own id, without a role)."""
MISSING, GONE, GONE_APPLIED, TOTAL, CURRENCY, LINES, PUSH_WAITING, PUSH_FAILED = (
	"Missing in ERPNext",
	"Gone from VTiger",
	"Gone from VTiger (policy applied)",
	"Total differs",
	"Currency differs",
	"Line count differs",
	"Push waiting",
	"Push failed",
)
KINDS = (MISSING, GONE, GONE_APPLIED, TOTAL, CURRENCY, LINES, PUSH_WAITING, PUSH_FAILED)
LINE_CHUNK = 1000


def execute(filters: dict | None = None):
	filters = frappe._dict(filters or {})
	if not filters.connection:
		return columns(), [], _("Choose a connection"), None, []
	connection = frappe.get_doc(SETTING_DOCTYPE, filters.connection)
	connection.check_permission("read")
	rows, summary = reconcile(connection)
	shown = [row for row in rows if row["kind"] != GONE_APPLIED or filters.show_applied]
	for row in shown:
		row["vtiger_link"] = vtiger_link(
			connection.vtiger_url, row.get("vtiger_module"), row.get("vtiger_record")
		)
	if filters.kind:
		shown = [row for row in shown if row["kind"] == filters.kind]
	actionable = sum(1 for row in rows if row["kind"] != GONE_APPLIED)
	message = (
		_("All clear: ERPNext holds every live VTiger record of {0}, with VTiger's totals.").format(
			frappe.bold(connection.name)
		)
		if not actionable
		else None
	)
	report_summary = [
		*summary,
		{
			"value": actionable,
			"label": _("Differences"),
			"datatype": "Int",
			"indicator": "Green" if not actionable else "Red",
		},
	]
	return columns(), shown, message, None, report_summary


def columns() -> list[dict[str, Any]]:
	return [
		{"fieldname": "kind", "label": _("Difference"), "fieldtype": "Data", "width": 200},
		{"fieldname": "vtiger_module", "label": _("VTiger Module"), "fieldtype": "Data", "width": 110},
		{"fieldname": "vtiger_record", "label": _("VTiger Record"), "fieldtype": "Int", "width": 110},
		{
			"fieldname": "document_type",
			"label": _("Document Type"),
			"fieldtype": "Link",
			"options": "DocType",
		},
		{
			"fieldname": "document",
			"label": _("Document"),
			"fieldtype": "Dynamic Link",
			"options": "document_type",
			"width": 180,
		},
		{"fieldname": "vtiger_value", "label": _("VTiger"), "fieldtype": "Data", "width": 150},
		{"fieldname": "erpnext_value", "label": _("ERPNext"), "fieldtype": "Data", "width": 150},
		{"fieldname": "detail", "label": _("Detail"), "fieldtype": "Data", "width": 420},
		{"fieldname": "vtiger_link", "label": _("VTiger Link"), "fieldtype": "Data", "hidden": 1},
	]


def vtiger_link(base: str | None, module: str | None, crmid: int | None) -> str | None:
	"""The record's page in VTiger, for an http(s) VTiger URL only (the report's JS makes it a link)."""
	if not (base and module and crmid and is_http_url(base)):
		return None
	return f"{base.rstrip('/')}/index.php?{urlencode({'module': module, 'view': 'Detail', 'record': crmid})}"


def reconcile(connection: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
	"""Every difference between the connection's documents and VTiger, and a count per stream."""
	rows: list[dict[str, Any]] = []
	summary: list[dict[str, Any]] = []
	streams = [m for m in STREAM_ORDER if m in connection.mapping_config().streams]
	with SqlAlchemyUnitOfWork(get_engine(connection.connection_settings())) as uow:
		for module in streams:
			doctype = STREAM_DOCTYPES[module]
			states = record_states(uow.session, module)
			documents = synced_documents(connection, doctype, module)
			live = {crmid for crmid, deleted in states.items() if not deleted}
			summary.append(
				{"value": len(live), "label": _("VTiger {0}").format(_(module)), "datatype": "Int"}
			)
			summary.append(
				{"value": len(documents), "label": _("ERPNext {0}").format(_(doctype)), "datatype": "Int"}
			)
			rows += missing_rows(connection, module, sorted(live - set(documents)))
			rows += gone_rows(connection, module, doctype, documents, states)
			if module == "SalesOrder":
				rows += order_rows(uow.session, documents, live)
	rows += push_rows(connection.name)
	return rows, summary


def order_differences(connection: Any) -> list[dict[str, Any]]:
	"""The report's rows of Sales Orders whose total, currency or line count is not VTiger's, read alone (the
	workspace's card): one query for the orders' states, one for their money."""
	if "SalesOrder" not in connection.mapping_config().streams:
		return []
	with SqlAlchemyUnitOfWork(get_engine(connection.connection_settings())) as uow:
		states = record_states(uow.session, "SalesOrder")
		documents = synced_documents(connection, "Sales Order", "SalesOrder")
		return order_rows(uow.session, documents, {crmid for crmid, deleted in states.items() if not deleted})


def order_rows(session: Any, documents: dict[int, Any], live: set[int]) -> list[dict[str, Any]]:
	money = order_money(session, [crmid for crmid in documents if crmid in live])
	return money_rows("SalesOrder", "Sales Order", documents, money)


def synced_documents(connection: Any, doctype: str, module: str) -> dict[int, frappe._dict]:
	"""crmid -> the connection's document of that record (its own id, without a role)."""
	fields = ["name", VTIGER_ID_FIELD, "docstatus"]
	meta = frappe.get_meta(doctype)
	if meta.has_field("disabled"):
		fields.append("disabled")
	if doctype == "Sales Order":
		fields += ["grand_total", "currency"]
	found = {}
	for row in frappe.get_all(
		doctype,
		filters={CONNECTION_FIELD: connection.name, MODULE_FIELD: module, VTIGER_ID_FIELD: ("is", "set")},
		fields=fields,
	):
		vtiger_id = VTigerId.parse(row[VTIGER_ID_FIELD])
		if not vtiger_id.role:
			found[vtiger_id.crmid] = row
	return found


def missing_rows(connection: Any, module: str, crmids: list[int]) -> list[dict[str, Any]]:
	"""Live VTiger records without a document: the reason it waits on, else what the last run said of it (a
	filtered one is no difference)."""
	last = last_lines(connection.name, module, crmids)
	waiting = waiting_of(connection.name, crmids)
	rows = []
	for crmid in crmids:
		line = last.get(crmid)
		if line and line.action == "Filtered" and crmid not in waiting:
			continue
		if crmid in waiting:
			detail = waiting_detail(waiting[crmid])
		elif line:
			detail = _("{0} in {1}: {2}").format(_(line.action), line.log, line.message or "")
		else:
			detail = _("never read: the next run (or Reconcile Now) takes it")
		rows.append({"kind": MISSING, "vtiger_module": module, "vtiger_record": crmid, "detail": detail})
	return rows


def waiting_of(connection: str, crmids: list[int]) -> dict[int, frappe._dict]:
	"""The waiting rows of these records (``syncer/run/waiting.py``)."""
	found: dict[int, frappe._dict] = {}
	for start in range(0, len(crmids), LINE_CHUNK):
		for row in frappe.get_all(
			WAITING_DOCTYPE,
			filters={"connection": connection, "crmid": ("in", crmids[start : start + LINE_CHUNK])},
			fields=["crmid", "reason_kind", "setting", "reason", "log"],
		):
			found[row.crmid] = row
	return found


def waiting_detail(row: frappe._dict) -> str:
	"""The "waiting: <reason>" text, with what to change for the record to land and the log that last tried it."""
	reason = _(row.reason_kind) + (f" ({row.setting})" if row.setting else "")
	return _(
		"waiting: {0}; until the record or that setting changes, or Retry Waiting (last tried in {1}): {2}"
	).format(reason, row.log, row.reason or "")


def last_lines(connection: str, module: str, crmids: Iterable[int]) -> dict[int, frappe._dict]:
	"""The newest pull line of each record, from this connection's logs."""
	line, log = frappe.qb.DocType(LOG_LINE_DOCTYPE), frappe.qb.DocType(LOG_DOCTYPE)
	crmids = list(crmids)
	found: dict[int, frappe._dict] = {}
	for start in range(0, len(crmids), LINE_CHUNK):
		for row in (
			frappe.qb.from_(line)
			.join(log)
			.on(log.name == line.log)
			.select(line.vtiger_record, line.action, line.message, log.name.as_("log"))
			.where(
				(log.connection == connection)
				& (line.vtiger_module == module)
				& line.vtiger_record.isin(crmids[start : start + LINE_CHUNK])
				& line.action.isin(["Failed", "Filtered", "Skipped", "Warning"])
			)
			.orderby(log.started_at, order=frappe.qb.desc)
			.run(as_dict=True)
		):
			found.setdefault(row.vtiger_record, row)
	return found


def gone_rows(
	connection: Any, module: str, doctype: str, documents: dict[int, Any], states: dict[int, bool]
) -> list[dict[str, Any]]:
	"""Documents whose record is in VTiger's Recycle Bin or purged, and whether the deletion policy reached them."""
	rows = []
	policy = connection.deleted_record_action or "Ignore"
	for crmid, doc in documents.items():
		if states.get(crmid) is False:
			continue
		where = _("deleted in VTiger") if crmid in states else _("purged from VTiger")
		applied = policy == "Ignore" or doc.get("disabled") or doc.docstatus == 2
		done = _("disabled") if doc.get("disabled") else _("left as it is")
		rows.append(
			{
				"kind": GONE_APPLIED if applied else GONE,
				"vtiger_module": module,
				"vtiger_record": crmid,
				"document_type": doctype,
				"document": doc.name,
				"detail": _("{0}; policy {1}: {2}").format(where, _(policy), done)
				if applied
				else _("{0}; policy {1} not applied yet: Reconcile Now applies it").format(where, _(policy)),
			}
		)
	return rows


def money_rows(
	module: str, doctype: str, documents: dict[int, Any], money: dict[int, Any]
) -> list[dict[str, Any]]:
	"""Orders whose total, currency or line count is not VTiger's."""
	counts = line_counts([doc.name for crmid, doc in documents.items() if crmid in money])
	rows = []
	for crmid, vtiger in money.items():
		doc = documents[crmid]
		base = {
			"vtiger_module": module,
			"vtiger_record": crmid,
			"document_type": doctype,
			"document": doc.name,
		}
		erpnext_total = Decimal(str(doc.grand_total or 0)).quantize(Decimal("0.01"))
		if erpnext_total != vtiger.total:
			rows.append(
				{
					**base,
					"kind": TOTAL,
					"vtiger_value": f"{vtiger.total} {vtiger.currency}",
					"erpnext_value": f"{erpnext_total} {doc.currency}",
					"detail": _("differs by {0}").format(erpnext_total - vtiger.total),
				}
			)
		if vtiger.currency and vtiger.currency != doc.currency:
			rows.append(
				{**base, "kind": CURRENCY, "vtiger_value": vtiger.currency, "erpnext_value": doc.currency}
			)
		if counts.get(doc.name, 0) != vtiger.lines:
			rows.append(
				{
					**base,
					"kind": LINES,
					"vtiger_value": str(vtiger.lines),
					"erpnext_value": str(counts.get(doc.name, 0)),
				}
			)
	return rows


def line_counts(orders: list[str]) -> dict[str, int]:
	item = frappe.qb.DocType("Sales Order Item")
	counts: dict[str, int] = {}
	for start in range(0, len(orders), LINE_CHUNK):
		chunk = orders[start : start + LINE_CHUNK]
		for parent, count in (
			frappe.qb.from_(item)
			.select(item.parent, Count("*"))
			.where(item.parent.isin(chunk) & (item.parenttype == "Sales Order"))
			.groupby(item.parent)
			.run()
		):
			counts[parent] = count
	return counts


def push_rows(connection: str) -> list[dict[str, Any]]:
	rows = []
	for row in frappe.get_all(
		OUTBOX_DOCTYPE,
		filters={"connection": connection, "status": ("in", [OUTBOX_PENDING, OUTBOX_SENDING, OUTBOX_FAILED])},
		fields=[
			"reference_doctype",
			"reference_name",
			"vtiger_id",
			"kind",
			"status",
			"attempts",
			"last_error",
		],
		order_by="creation asc",
	):
		vtiger_id = VTigerId.parse(row.vtiger_id) if row.vtiger_id else None
		rows.append(
			{
				"kind": PUSH_FAILED if row.status == OUTBOX_FAILED else PUSH_WAITING,
				"vtiger_record": vtiger_id.crmid if vtiger_id else None,
				"document_type": row.reference_doctype,
				"document": row.reference_name,
				"detail": _("{0}, {1} attempt(s){2}").format(
					_(row.kind), row.attempts or 0, f": {row.last_error}" if row.last_error else ""
				),
			}
		)
	return rows
