"""What a record deleted in VTiger does to its ERPNext documents: ignored, disabled, or deleted while draft."""

from __future__ import annotations

import frappe
from frappe import _

from vtigercrm_sync.constants import BANK_CARD_DOCTYPE, VTIGER_ID_FIELD
from vtigercrm_sync.syncer.plan import VTigerId

DELETE_ORDER = ("Sales Order", BANK_CARD_DOCTYPE, "Bank Account", "Address", "Contact", "Customer", "Item")
"""Every doctype the sync writes, dependents first, so a deletion never trips over a link."""


def documents_of(record: VTigerId) -> list[tuple[str, str]]:
	"""Every synced document that came from this VTiger record (its id, and its id with any role), dependents
	first."""
	vtiger_id = str(record.record)
	found = []
	for doctype in DELETE_ORDER:
		for name in frappe.get_all(
			doctype,
			or_filters=[[VTIGER_ID_FIELD, "=", vtiger_id], [VTIGER_ID_FIELD, "like", f"{vtiger_id}:%"]],
			pluck="name",
		):
			found.append((doctype, name))
	return found


def remove_document(doctype: str, name: str, policy: str) -> tuple[str | None, str | None]:
	"""Disable, or delete a draft, as the policy says; what cannot be done is kept and said. None when the
	document is already as the policy wants it."""
	meta = frappe.get_meta(doctype)
	docstatus = frappe.db.get_value(doctype, name, "docstatus") if meta.is_submittable else 0
	if policy == "Delete Drafts" and meta.is_submittable and docstatus == 0:
		frappe.delete_doc(doctype, name, ignore_permissions=True)
		return "Deleted", None
	if meta.has_field("disabled"):
		if frappe.db.get_value(doctype, name, "disabled"):
			return None, None
		frappe.db.set_value(doctype, name, "disabled", 1)
		return "Disabled", None
	reason = _("submitted") if docstatus == 1 else _("{0} cannot be disabled").format(_(doctype))
	return "Warning", _("Deleted in VTiger; kept ({0})").format(reason)
