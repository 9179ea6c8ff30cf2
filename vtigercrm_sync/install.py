"""Install, migrate and uninstall: the app's custom fields, role and need-to-know permissions, all idempotent;
and no secret left behind."""

import frappe
from frappe.custom.doctype.custom_field.custom_field import create_custom_fields
from frappe.permissions import add_permission

from vtigercrm_sync.constants import (
	CUSTOM_FIELDS,
	MANAGER_ROLE,
	SECRET_FIELDS,
	SENSITIVE_PERMLEVEL,
	SENSITIVE_ROLES,
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
	"""The encrypted values live in ``__Auth``, which outlives the app's doctypes and fields: remove them."""
	for doctype, fieldname in SECRET_FIELDS:
		frappe.db.delete("__Auth", {"doctype": doctype, "fieldname": fieldname})
