"""The VTiger Sync workspace's numbers (failures of the last seven days, the last successful run), and who sees
the app on the apps screen."""

import frappe
from frappe import _
from frappe.utils import add_days, now_datetime, pretty_date

from vtigercrm_sync.constants import LOG_DOCTYPE, SETTING_DOCTYPE, STATUS_SUCCESS


@frappe.whitelist()
def failures_last_7_days(filters=None) -> dict:
	"""Records that failed in the runs of the last seven days."""
	frappe.has_permission(LOG_DOCTYPE, "read", throw=True)
	since = add_days(now_datetime(), -7)
	failed = frappe.get_all(
		LOG_DOCTYPE, filters={"started_at": (">=", since)}, fields=["sum(failed) as failed"], as_list=True
	)
	return {"value": (failed and failed[0][0]) or 0, "fieldtype": "Int"}


@frappe.whitelist()
def last_successful_run(filters=None) -> str:
	"""When a run last ended Success ("2 hours ago"), or that none has."""
	frappe.has_permission(LOG_DOCTYPE, "read", throw=True)
	ended = frappe.db.get_value(LOG_DOCTYPE, {"status": STATUS_SUCCESS}, "ended_at", order_by="ended_at desc")
	return pretty_date(ended) if ended else _("Never")


def can_use_app() -> bool:
	"""The apps screen shows VTiger Sync to whoever may read its connections."""
	return bool(frappe.has_permission(SETTING_DOCTYPE, "read"))
