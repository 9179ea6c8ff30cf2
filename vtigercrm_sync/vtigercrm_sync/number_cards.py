"""The VTiger Sync workspace's numbers (failures of the last seven days, the last successful run), and who sees
the app on the apps screen."""

import frappe
from frappe import _
from frappe.utils import add_days, now_datetime, pretty_date

from vtigercrm_sync.constants import (
	LOG_DOCTYPE,
	SETTING_DOCTYPE,
	STATUS_FAILED,
	STATUS_SUCCESS,
	STATUS_TIMED_OUT,
	WAITING_DOCTYPE,
)


@frappe.whitelist()
def failures_last_7_days(filters=None) -> dict:
	"""Records that failed in the runs of the last seven days; a run that failed as a whole (VTiger
	unreachable, a time limit) counts one at least, so it never reads 0."""
	frappe.has_permission(LOG_DOCTYPE, "read", throw=True)
	since = add_days(now_datetime(), -7)
	value = frappe.db.sql(
		f"""SELECT COALESCE(SUM(GREATEST(failed, status IN %(whole)s)), 0) FROM `tab{LOG_DOCTYPE}`
		WHERE started_at >= %(since)s""",
		{"whole": (STATUS_FAILED, STATUS_TIMED_OUT), "since": since},
	)[0][0]
	return {"value": int(value), "fieldtype": "Int"}


@frappe.whitelist()
def last_successful_run(filters=None) -> str:
	"""When a run last ended Success ("2 hours ago"), or that none has."""
	frappe.has_permission(LOG_DOCTYPE, "read", throw=True)
	ended = frappe.db.get_value(LOG_DOCTYPE, {"status": STATUS_SUCCESS}, "ended_at", order_by="ended_at desc")
	return pretty_date(ended) if ended else _("Never")


def waiting_count(connection: str | None = None) -> int:
	"""Records waiting on a reason in their data or the settings (``syncer/run/waiting.py``), of one connection
	or of all."""
	return frappe.db.count(WAITING_DOCTYPE, {"connection": connection} if connection else None)


def can_use_app() -> bool:
	"""The apps screen shows VTiger Sync to whoever may read its connections."""
	return bool(frappe.has_permission(SETTING_DOCTYPE, "read"))
