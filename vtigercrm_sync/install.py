"""Install, migrate and uninstall: the app's custom fields, role and need-to-know permissions, all idempotent;
and no secret left behind."""

import frappe
from frappe.custom.doctype.custom_field.custom_field import create_custom_fields
from frappe.permissions import add_permission

from vtigercrm_sync.constants import (
	BANK_CARD_DOCTYPE,
	CUSTOM_FIELDS,
	LOG_DOCTYPE,
	MANAGER_ROLE,
	SECRET_FIELDS,
	SENSITIVE_PERMLEVEL,
	SENSITIVE_ROLES,
	SETTING_DOCTYPE,
	VTIGER_ID_FIELD,
)


def after_install() -> None:
	setup()


def after_migrate() -> None:
	setup()


def setup() -> None:
	create_custom_fields(CUSTOM_FIELDS, update=True)
	if not frappe.db.exists("Role", MANAGER_ROLE):
		frappe.get_doc({"doctype": "Role", "role_name": MANAGER_ROLE, "desk_access": 1}).insert(
			ignore_permissions=True
		)
	for role in SENSITIVE_ROLES:  # a Contact's SSN fields: only these roles see them
		add_permission("Contact", role, permlevel=SENSITIVE_PERMLEVEL)


def before_uninstall() -> None:
	"""Say what goes, then remove what Frappe's uninstall would leave behind: the encrypted values (``__Auth``
	outlives the app's doctypes and fields), the role and the SSN permissions. Frappe itself then drops the app's
	doctypes (connections, logs, Bank Cards) and, as they belong to the app's module, its custom fields, columns
	and values included."""
	print(uninstall_inventory())
	for doctype, fieldname in SECRET_FIELDS:
		frappe.db.delete("__Auth", {"doctype": doctype, "fieldname": fieldname})
	frappe.db.delete(
		"Custom DocPerm",
		{"parent": "Contact", "permlevel": SENSITIVE_PERMLEVEL, "role": ("in", SENSITIVE_ROLES)},
	)
	if frappe.db.exists("Role", MANAGER_ROLE):
		frappe.db.delete("Has Role", {"role": MANAGER_ROLE})
		frappe.delete_doc("Role", MANAGER_ROLE, ignore_permissions=True, force=True)


def uninstall_inventory() -> str:
	"""What uninstalling the app deletes, in figures."""
	synced = {
		doctype: frappe.db.count(doctype, {VTIGER_ID_FIELD: ("is", "set")})
		for doctype in CUSTOM_FIELDS
		if any(f["fieldname"] == VTIGER_ID_FIELD for f in CUSTOM_FIELDS[doctype])
	}
	lines = [
		"Uninstalling vtigercrm_sync deletes:",
		f"- {frappe.db.count(SETTING_DOCTYPE)} connection(s), {frappe.db.count(LOG_DOCTYPE)} sync log(s) and "
		f"{frappe.db.count(BANK_CARD_DOCTYPE)} bank card(s);",
		f"- the app's {sum(len(f) for f in CUSTOM_FIELDS.values())} custom fields (VTiger ID, policy fields, SSN…) "
		"with their values on "
		+ ", ".join(f"{count} {doctype}" for doctype, count in synced.items())
		+ " synced document(s) (the documents themselves stay);",
		"- every encrypted value the app stored (passwords, card numbers, SSNs), its role and its SSN permissions.",
	]
	return "\n".join(lines)
