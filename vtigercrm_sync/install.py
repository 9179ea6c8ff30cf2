"""Install and migrate: the app's custom fields and its role, both idempotent."""

import frappe
from frappe.custom.doctype.custom_field.custom_field import create_custom_fields

from vtigercrm_sync.constants import CUSTOM_FIELDS, MANAGER_ROLE


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
