"""A pull meets ERPNext edits still waiting to be pushed: load them before planning, settle the outbox after.

The decisions themselves are plain Python (``syncer/processor/pending.py``). Settling runs in the document's own
savepoint, so the document and its outbox rows move together: a field VTiger won leaves the outbox (a row with
nothing left becomes Superseded), a field ERPNext won is pushed from VTiger's value, and each conflict is a line of
the pull's Sync Log naming the value that was not kept. A row a drain is sending (*Sending*) is never settled: its
fields keep ERPNext's value and the push in flight decides them.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import frappe
from frappe import _
from frappe.utils import get_datetime, get_system_timezone, now_datetime

from vtigercrm_sync.constants import (
	KIND_EDIT,
	OUTBOX_DOCTYPE,
	OUTBOX_PENDING,
	OUTBOX_SENDING,
	OUTBOX_SUPERSEDED,
)
from vtigercrm_sync.syncer.plan import DocumentPlan
from vtigercrm_sync.syncer.processor.pending import WaitingEdit, settle_changes
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.services.reverse import VTIGER_WINS, Decision, FieldChange


def waiting_edits(connection: str) -> list[WaitingEdit]:
	"""The connection's edits not yet pushed (waiting, or being sent), oldest first."""
	rows = frappe.get_all(
		OUTBOX_DOCTYPE,
		filters={
			"connection": connection,
			"status": ("in", (OUTBOX_PENDING, OUTBOX_SENDING)),
			"kind": KIND_EDIT,
		},
		fields=["reference_doctype", "vtiger_id", "changed_at", "changes", "status"],
		order_by="creation asc, name asc",
	)
	return [
		WaitingEdit(
			row.reference_doctype,
			row.vtiger_id,
			utc(row.changed_at),
			tuple(FieldChange(*change) for change in json.loads(row.changes or "[]")),
			row.status == OUTBOX_SENDING,
		)
		for row in rows
		if row.vtiger_id
	]


def settle(connection: str, plan: DocumentPlan, rule: str, log: str | None) -> list[str]:
	"""Bring the document's waiting outbox rows in line with what the pull decided; returns the Conflict
	messages."""
	decisions = {decision.target: decision for decision in plan.pending}
	rows = frappe.get_all(
		OUTBOX_DOCTYPE,
		filters={
			"connection": connection,
			"status": OUTBOX_PENDING,
			"kind": KIND_EDIT,
			"reference_doctype": plan.doctype,
			"vtiger_id": plan.vtiger_id,
		},
		fields=["name", "changes"],
		order_by="creation asc, name asc",
	)
	first = set(decisions)
	for row in rows:
		changes = json.loads(row.changes or "[]")
		settled = settle_changes(changes, decisions, first)
		if settled == changes:
			continue
		if settled:
			_update_waiting(row.name, {"changes": json.dumps(settled, default=str)})
		else:
			_update_waiting(
				row.name,
				{
					"status": OUTBOX_SUPERSEDED,
					"log": log,
					"last_error": _("VTiger's values won a conflict at a pull; nothing is left to push"),
				},
			)
	return [conflict_message(d, rule) for d in plan.pending if d.conflict]


def _update_waiting(name: str, values: dict[str, Any]) -> None:
	"""Write a row still Pending: one a drain claimed since the pull read it is left to that push, which judges
	it against VTiger's value by the same rule."""
	assignments = ", ".join(f"`{field}` = %({field})s" for field in values)
	frappe.db.sql(
		f"""UPDATE `tab{OUTBOX_DOCTYPE}` SET {assignments}, modified = %(now)s
		WHERE name = %(name)s AND status = %(pending)s""",
		{**values, "now": now_datetime(), "name": name, "pending": OUTBOX_PENDING},
	)


def conflict_message(decision: Decision, rule: str) -> str:
	"""The Conflict line of a field both sides changed: who won by which rule, and the value not kept."""
	winner = _("ERPNext") if decision.writes else _("VTiger")
	loser = decision.loser
	return redact(
		_("{0} changed on both sides; {1} wins ({2}). Value not kept: {3}").format(
			decision.target, winner, _(rule or VTIGER_WINS), '""' if loser in (None, "") else str(loser)
		)
	)


def utc(value: Any) -> datetime | None:
	"""A system-time-zone datetime from the database, as naive UTC."""
	if not value:
		return None
	local = get_datetime(value).replace(tzinfo=ZoneInfo(get_system_timezone()))
	return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
