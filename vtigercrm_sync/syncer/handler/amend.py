"""Orders VTiger changes after they were submitted in ERPNext: shown on the order, then amended or kept.

ERPNext never rewrites a submitted order. Instead of skipping VTiger's change on every run, the order is marked
(*Changed in VTiger after Submit*, with the fields that differ, filterable in the list) and the log line names
them. *Amend from VTiger* cancels the order and writes VTiger's version as its amendment (which takes the
``vtiger_id``); *Keep ERPNext* acknowledges that version: the order is marked again only if VTiger changes it again.
An order VTiger cancelled is marked *Cancelled in VTiger after Submit* as well, and offered *Cancel in ERPNext*
instead of an amendment (VTiger's version of it is a cancelled order).
"""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import flt, getdate

from vtigercrm_sync.constants import (
	CANCELLED_FIELD,
	CHANGED_FIELD,
	CHANGES_FIELD,
	CONNECTION_FIELD,
	OFFERED_HASH_FIELD,
	VTIGER_CANCELLED,
	VTIGER_HASH_FIELD,
	VTIGER_ID_FIELD,
)
from vtigercrm_sync.syncer.handler.base import Outcome
from vtigercrm_sync.syncer.plan import DocumentPlan, VTigerId


def offer(
	handler: Any, doc: Document, plan: DocumentPlan, resolver: Any, content_hash: str
) -> Outcome | Document:
	"""A submitted order VTiger changed (or cancelled) is marked with the fields that differ; a cancelled one the
	user asked to amend from VTiger becomes the document to write (its amendment)."""
	if doc.docstatus == 2 and doc.get(CHANGED_FIELD) and not doc.get(CANCELLED_FIELD):
		return amendment_of(doc)
	if doc.docstatus == 2 and doc.get(CANCELLED_FIELD):
		acknowledge(doc.name, content_hash)
		return Outcome("Skipped", doc.name, _("cancelled in VTiger and in ERPNext"))
	if doc.docstatus != 1:
		return Outcome("Skipped", doc.name, _("cancelled in ERPNext; VTiger changes were not applied"))
	cancelled = plan.meta.get("vtiger_status") == VTIGER_CANCELLED
	what, actions = (
		(_("cancelled in VTiger after it was submitted"), _("Cancel in ERPNext or Keep ERPNext on the order"))
		if cancelled
		else (
			_("changed in VTiger after it was submitted"),
			_("Amend from VTiger or Keep ERPNext on the order"),
		)
	)
	if doc.get(OFFERED_HASH_FIELD) == content_hash:
		return Outcome("Skipped", doc.name, f"{what}; {actions}")
	draft = frappe.copy_doc(doc)
	handler.fill(draft, plan, resolver, [])
	changed = differing_fields(doc, draft, plan)
	frappe.db.set_value(
		doc.doctype,
		doc.name,
		{
			CHANGED_FIELD: 1,
			CANCELLED_FIELD: int(cancelled),
			CHANGES_FIELD: ", ".join(([_("Status: Cancelled in VTiger")] if cancelled else []) + changed),
			OFFERED_HASH_FIELD: content_hash,
		},
		update_modified=False,
	)
	fields = ", ".join(changed) or ("" if cancelled else _("no field ERPNext shows"))
	return Outcome("Skipped", doc.name, f"{what} ({fields}); {actions}" if fields else f"{what}; {actions}")


def differing_fields(doc: Document, draft: Document, plan: DocumentPlan) -> list[str]:
	"""Labels of the fields (and tables) whose value VTiger's version changes."""
	meta = doc.meta
	changed = [
		_(meta.get_label(fieldname))
		for fieldname in sorted(set(plan.values) | {link.fieldname for link in plan.links if link.fieldname})
		if meta.has_field(fieldname) and _differs(doc.get(fieldname), draft.get(fieldname))
	]
	for table, rows in plan.children.items():
		ours, theirs = doc.get(table) or [], draft.get(table) or []
		keys = {key for row in rows for key in row}
		if len(ours) != len(theirs) or any(
			_differs(a.get(key), b.get(key)) for a, b in zip(ours, theirs, strict=False) for key in keys
		):
			changed.append(_(meta.get_label(table)))
	return changed


def _differs(ours: Any, theirs: Any) -> bool:
	if isinstance(ours, int | float) or isinstance(theirs, int | float):
		return flt(ours, 6) != flt(theirs, 6)
	if hasattr(ours, "year") or hasattr(theirs, "year"):
		return (getdate(ours) if ours else None) != (getdate(theirs) if theirs else None)
	return str(ours or "") != str(theirs or "")


def amendment_of(cancelled: Document) -> Document:
	"""A new order amending the cancelled one; the cancelled order gives up its ``vtiger_id``."""
	amendment = frappe.copy_doc(cancelled)
	amendment.amended_from = cancelled.name
	amendment.docstatus = 0
	frappe.db.set_value(cancelled.doctype, cancelled.name, VTIGER_ID_FIELD, None, update_modified=False)
	return amendment


@frappe.whitelist(methods=["POST"])
def amend_from_vtiger(name: str) -> str:
	"""Cancel the order and queue VTiger's version of it, written as its amendment."""
	doc = frappe.get_doc("Sales Order", name)
	doc.check_permission("cancel")
	doc.check_permission("amend")
	if not (doc.docstatus == 1 and doc.get(CHANGED_FIELD)):
		frappe.throw(_("{0} has no change from VTiger to apply").format(frappe.bold(name)))
	if doc.get(CANCELLED_FIELD):
		frappe.throw(_("VTiger cancelled {0}: Cancel in ERPNext, or Keep ERPNext").format(frappe.bold(name)))
	connection, vtiger_id = doc.get(CONNECTION_FIELD), doc.get(VTIGER_ID_FIELD)
	doc.cancel()
	frappe.enqueue(
		"vtigercrm_sync.syncer.run.job.retry_records",
		queue="long",
		job_id=f"vtigercrm_sync_amend::{name}",
		deduplicate=True,
		enqueue_after_commit=True,
		now=frappe.flags.in_test,
		connection=connection,
		records=[("SalesOrder", VTigerId.parse(vtiger_id).crmid)],
		retry_of=None,
		user=frappe.session.user,
	)
	return _("{0} cancelled; VTiger's version is being written as its amendment").format(name)


@frappe.whitelist(methods=["POST"])
def cancel_in_erpnext(name: str) -> str:
	"""Cancel the order as VTiger did; later runs skip it (its hash is VTiger's cancelled version) until VTiger
	changes it again."""
	doc = frappe.get_doc("Sales Order", name)
	doc.check_permission("cancel")
	if not (doc.docstatus == 1 and doc.get(CANCELLED_FIELD)):
		frappe.throw(_("{0} was not cancelled in VTiger").format(frappe.bold(name)))
	doc.cancel()
	acknowledge(name, doc.get(OFFERED_HASH_FIELD))
	return _("{0} cancelled, as in VTiger").format(name)


@frappe.whitelist(methods=["POST"])
def keep_erpnext(name: str) -> str:
	"""Acknowledge VTiger's version: the order is marked again only when VTiger changes it again."""
	doc = frappe.get_doc("Sales Order", name)
	doc.check_permission("write")
	acknowledge(name, doc.get(OFFERED_HASH_FIELD))
	return _("{0} keeps its ERPNext values").format(name)


def acknowledge(name: str, content_hash: str | None) -> None:
	"""VTiger's version ``content_hash`` is dealt with: the mark goes, and runs skip that version."""
	frappe.db.set_value(
		"Sales Order",
		name,
		{CHANGED_FIELD: 0, CANCELLED_FIELD: 0, CHANGES_FIELD: None, VTIGER_HASH_FIELD: content_hash},
		update_modified=False,
	)
