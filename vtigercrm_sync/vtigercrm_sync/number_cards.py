"""The VTiger workspace's numbers, and who sees the app on the apps screen.

Two plain cards (failures of the last seven days, the last successful run) and five cues, each a Custom Number
Card whose method returns ``{"value", "fieldtype", "route", "route_options", "color"}``: Frappe opens ``route``
with ``route_options`` on a click, and ``public/js/number_card_color.js`` paints the number in ``color``, which
turns yellow and red at the counts set in *VTigerCRM Sync Thresholds* (Frappe's Number Card has one fixed color).
Every method takes an optional ``connection`` (the cards show all connections).
"""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _
from frappe.utils import add_days, escape_html, now_datetime, pretty_date
from sqlalchemy.exc import SQLAlchemyError

from vtigercrm_sync.constants import (
	ACTION_CONFLICT,
	CHANGED_FIELD,
	CONNECTION_FIELD,
	LOG_DOCTYPE,
	LOG_LINE_DOCTYPE,
	OUTBOX_DOCTYPE,
	OUTBOX_FAILED,
	SETTING_DOCTYPE,
	STATUS_FAILED,
	STATUS_SUCCESS,
	STATUS_TIMED_OUT,
	WAITING_DOCTYPE,
)

THRESHOLDS_DOCTYPE = "VTigerCRM Sync Thresholds"
GREEN, YELLOW, RED = "#29cd42", "#ecad4b", "#e24c4c"
REPORT = "VTiger Reconciliation"
LINES = f"`tab{LOG_LINE_DOCTYPE}` line JOIN `tab{LOG_DOCTYPE}` log ON log.name = line.log"
"""Where the log lines are, with their log: the one place the cards name it."""


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


def card_color(card: str, value: int) -> str:
	"""Red from the card's red threshold, yellow from its yellow one, green below both (0 turns a color off)."""
	thresholds = frappe.get_cached_doc(THRESHOLDS_DOCTYPE)
	red, yellow = thresholds.get(f"{card}_red"), thresholds.get(f"{card}_yellow")
	if red and value >= red:
		return RED
	if yellow and value >= yellow:
		return YELLOW
	return GREEN


def cue(card: str, value: int, route: list[str], route_options: dict[str, Any]) -> dict[str, Any]:
	return {
		"value": value,
		"fieldtype": "Int",
		"route": route,
		"route_options": route_options,
		"color": card_color(card, value),
	}


def _connection_filter(connection: str | None) -> dict[str, Any]:
	return {"connection": connection} if connection else {}


@frappe.whitelist()
def waiting_records(filters=None, connection: str | None = None) -> dict:
	"""Records waiting on a reason in their data or the settings, until their record or that setting changes."""
	frappe.has_permission(WAITING_DOCTYPE, "read", throw=True)
	return cue(
		"waiting", waiting_count(connection), ["List", WAITING_DOCTYPE], _connection_filter(connection)
	)


@frappe.whitelist()
def failed_pushes(filters=None, connection: str | None = None) -> dict:
	"""ERPNext changes the two-way sync gave up sending to VTiger."""
	frappe.has_permission(OUTBOX_DOCTYPE, "read", throw=True)
	wanted = {"status": OUTBOX_FAILED, **_connection_filter(connection)}
	return cue("failed_pushes", frappe.db.count(OUTBOX_DOCTYPE, wanted), ["List", OUTBOX_DOCTYPE], wanted)


@frappe.whitelist()
def conflicts(filters=None, connection: str | None = None) -> dict:
	"""Values both sides changed, decided by the connection's rule, in the last seven days: the losing value is
	on the log's Conflict line."""
	frappe.has_permission(LOG_DOCTYPE, "read", throw=True)
	since = add_days(now_datetime(), -7)
	where = "AND log.connection = %(connection)s" if connection else ""
	value = frappe.db.sql(
		f"""SELECT COUNT(*) FROM {LINES}
		WHERE line.action = %(conflict)s AND log.started_at >= %(since)s {where}""",
		{"conflict": ACTION_CONFLICT, "since": since, "connection": connection},
	)[0][0]
	return cue(
		"conflicts",
		int(value),
		["List", LOG_LINE_DOCTYPE],
		{"action": ACTION_CONFLICT, "creation": [">=", since.strftime("%Y-%m-%d %H:%M:%S")]},
	)


@frappe.whitelist()
def changed_orders(filters=None, connection: str | None = None) -> dict:
	"""Submitted Sales Orders VTiger changed or cancelled since, waiting for Amend, Cancel or Keep ERPNext."""
	wanted = {CHANGED_FIELD: 1, "docstatus": 1}
	if connection:
		wanted[CONNECTION_FIELD] = connection
	value = len(frappe.get_list("Sales Order", filters=wanted, pluck="name"))
	return cue("changed_orders", value, ["List", "Sales Order"], wanted)


@frappe.whitelist()
def totals_differ(filters=None, connection: str | None = None) -> dict | str:
	"""Sales Orders whose grand total is not VTiger's, read from VTiger now (the report's money query, per
	connection); a VTiger that cannot be read makes the card say so instead of a count that leaves it out."""
	from vtigercrm_sync.vtigercrm_sync.report.vtiger_reconciliation.vtiger_reconciliation import (
		TOTAL,
		order_differences,
	)

	frappe.has_permission(SETTING_DOCTYPE, "read", throw=True)
	frappe.has_permission("Sales Order", "read", throw=True)
	names = [connection] if connection else frappe.get_list(SETTING_DOCTYPE, {"enabled": 1}, pluck="name")
	counts = {}
	for name in names:
		try:
			rows = order_differences(frappe.get_doc(SETTING_DOCTYPE, name))
		except SQLAlchemyError:
			return _("VTiger of {0} unreachable").format(escape_html(name))
		counts[name] = sum(1 for row in rows if row["kind"] == TOTAL)
	first = max(counts, key=counts.get, default=None)
	return cue(
		"totals_differ",
		sum(counts.values()),
		["query-report", REPORT],
		{"connection": first, "kind": TOTAL} if first else {},
	)
