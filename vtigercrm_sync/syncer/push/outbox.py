"""The outbox as several drains share it: which drain sends a row, when a drain job is queued, what is due.

Drains of one connection may run at once (one queued while another runs, the scheduler's, a second worker), so a
row is *claimed* before its web service call: ``Pending → Sending`` in one UPDATE whose row count says who won,
committed before VTiger is called, so exactly one drain sends it. A claim whose drain died (a killed worker) is
released after :func:`claim_seconds` as a failed attempt. While one of a document's rows is being sent, the
document's later rows wait, so a document's edits reach VTiger in the order they were made.

Drain jobs are named by *generation*: the job id holds the connection's generation number, and a drain opens the
next generation as it starts. A change captured before that is read by the drain; one captured after it queues a
job of the new generation, which RQ's deduplication (of queued and running jobs with the same id) does not swallow.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import frappe
from frappe import _
from frappe.utils import add_to_date, cint, now_datetime
from frappe.utils.background_jobs import get_redis_conn

from vtigercrm_sync.constants import (
	ACTION_FAILED,
	ACTION_RETRYING,
	DIRECTION_PUSH,
	KIND_EDIT,
	KIND_STATUS,
	LOG_DOCTYPE,
	OUTBOX_DOCTYPE,
	OUTBOX_FAILED,
	OUTBOX_PENDING,
	OUTBOX_SENDING,
	STATUS_FAILED,
	STATUS_RUNNING,
	TRIGGER_PUSH,
	WRITEBACK_MODULES,
	push_job_id,
)
from vtigercrm_sync.syncer.observer.frappe import MESSAGE_LENGTH
from vtigercrm_sync.syncer.observer.log_lines import insert_lines
from vtigercrm_sync.syncer.redact import redact

MAX_ATTEMPTS = 8
DRAIN_BATCH = 200
"""Rows read at a time: a drain reads again after each batch, so an edit saved meanwhile waits one batch at most."""
CLAIM_SECONDS = 600
"""A claim older than this belongs to a drain that died: one row is a few web service calls of 30 s at most."""
PUSH_TIMEOUT = 1800
DRAIN_METHOD = "vtigercrm_sync.syncer.push.pusher.drain"


# -- drain jobs ------------------------------------------------------------------------------------------------


def enqueue_drain(connection: str) -> None:
	"""Drain after the commit, in the background: one job however many changes the transaction captured. Tests
	drain by calling ``drain`` themselves, at the moment they choose, unless one sets
	``frappe.flags.vtigercrm_sync_drain_in_background`` to see this path run in a worker."""
	if not _in_background():
		return
	waiting = frappe.flags.setdefault("vtigercrm_sync_drains_after_commit", set())
	if connection in waiting:
		return
	waiting.add(connection)

	def after_commit():
		waiting.discard(connection)
		queue_drain_job(connection)

	frappe.db.after_commit.add(after_commit)
	frappe.db.after_rollback.add(lambda: waiting.discard(connection))


def queue_drain_job(connection: str) -> None:
	"""Queue a drain of the current generation, unless one is queued already (or running and not read yet)."""
	if not _in_background():
		return
	frappe.enqueue(
		DRAIN_METHOD,
		queue="short",
		timeout=PUSH_TIMEOUT,
		job_id=push_job_id(connection, cint(get_redis_conn().get(_generation_key(connection)))),
		deduplicate=True,
		connection=connection,
	)


def _in_background() -> bool:
	return not frappe.flags.in_test or bool(frappe.flags.vtigercrm_sync_drain_in_background)


def open_generation(connection: str) -> None:
	"""A drain is starting, before it reads the outbox: what is captured from now on needs a job of its own."""
	get_redis_conn().incr(_generation_key(connection))


def _generation_key(connection: str) -> str:
	return f"{frappe.local.site}:vtigercrm_sync_push_generation:{connection}"


# -- rows ------------------------------------------------------------------------------------------------------


def due_rows(connection: str, limit: int = DRAIN_BATCH) -> list[Any]:
	"""Pending rows whose next attempt is due, edits and creates before status write-backs, oldest first; a
	document with a row being sent has none due."""
	return frappe.db.sql(
		f"""SELECT o.* FROM `tab{OUTBOX_DOCTYPE}` o
		WHERE o.connection = %(connection)s AND o.status = %(pending)s
		AND (o.next_attempt_at IS NULL OR o.next_attempt_at <= %(now)s)
		AND NOT EXISTS (SELECT 1 FROM `tab{OUTBOX_DOCTYPE}` busy WHERE busy.status = %(sending)s
			AND busy.reference_doctype = o.reference_doctype AND busy.reference_name = o.reference_name)
		ORDER BY o.kind = %(status_kind)s, o.creation, o.name
		LIMIT %(limit)s""",
		{
			"connection": connection,
			"pending": OUTBOX_PENDING,
			"sending": OUTBOX_SENDING,
			"status_kind": KIND_STATUS,
			"now": now_datetime(),
			"limit": limit,
		},
		as_dict=True,
	)


def claim(row: Any, log: str) -> bool:
	"""Take ``row`` for the drain writing ``log``, and commit: False when another drain took it (or a pull
	settled it, or it is no longer due)."""
	now = now_datetime()
	frappe.db.sql(
		f"""UPDATE `tab{OUTBOX_DOCTYPE}` SET status = %(sending)s, log = %(log)s, claimed_at = %(now)s,
		modified = %(now)s WHERE name = %(name)s AND status = %(pending)s
		AND (next_attempt_at IS NULL OR next_attempt_at <= %(now)s)""",
		{"sending": OUTBOX_SENDING, "pending": OUTBOX_PENDING, "log": log, "now": now, "name": row.name},
	)
	won = frappe.db._cursor.rowcount == 1
	frappe.db.commit()
	return won


def record_failure(row: Any, reason: str, log: str) -> str | None:
	"""Count a failed attempt of a row claimed for ``log``: Pending again after a wait, or Failed after
	:data:`MAX_ATTEMPTS` (an edit given up has its record read again at the next pull: one that met it while it
	waited kept ERPNext's value). Returns the log line's action, or None when ``log`` no longer holds the claim."""
	attempts = (row.attempts or 0) + 1
	gave_up = attempts >= MAX_ATTEMPTS
	now = now_datetime()
	frappe.db.sql(
		f"""UPDATE `tab{OUTBOX_DOCTYPE}` SET status = %(status)s, attempts = %(attempts)s,
		next_attempt_at = %(next)s, last_error = %(reason)s, claimed_at = NULL, read_again = %(again)s,
		modified = %(now)s WHERE name = %(name)s AND status = %(sending)s AND log = %(log)s""",
		{
			"again": int(gave_up and row.kind == KIND_EDIT),
			"status": OUTBOX_FAILED if gave_up else OUTBOX_PENDING,
			"attempts": attempts,
			"next": None if gave_up else next_attempt(attempts, now),
			"reason": reason[:MESSAGE_LENGTH],
			"now": now,
			"name": row.name,
			"sending": OUTBOX_SENDING,
			"log": log,
		},
	)
	if frappe.db._cursor.rowcount != 1:
		return None
	row.attempts = attempts
	return ACTION_FAILED if gave_up else ACTION_RETRYING


def failure_line(row: Any, action: str, reason: str) -> dict[str, Any]:
	"""The Retrying or Failed line of a failed attempt, with its (redacted) reason."""
	if action == ACTION_FAILED:
		message = _("Not written to VTiger after {0} attempts: {1}").format(row.attempts, reason)
	else:
		message = _("Not written to VTiger yet (attempt {0}, tried again later): {1}").format(
			row.attempts, reason
		)
	return line_values(row, action, message)


def next_attempt(attempts: int, now: datetime) -> datetime:
	"""1, 2, 4, 8 ... minutes after the last attempt, at most an hour."""
	return add_to_date(now, minutes=min(2 ** max(attempts - 1, 0), 60))


def claim_seconds() -> int:
	return cint(frappe.conf.get("vtigercrm_sync_push_claim_seconds")) or CLAIM_SECONDS


def release_stale_claims(connection: str | None = None) -> int:
	"""Rows whose drain died while sending them go back to Pending as a failed attempt (the web service call may
	or may not have happened), with a line on the dead drain's log, which ends Failed. Returns how many."""
	filters = {
		"status": OUTBOX_SENDING,
		"claimed_at": ("<", add_to_date(now_datetime(), seconds=-claim_seconds())),
	}
	if connection:
		filters["connection"] = connection
	rows = frappe.get_all(OUTBOX_DOCTYPE, filters=filters, fields=["*"], order_by="creation asc")
	reason = _("The drain sending it stopped before it ended (its worker was stopped or killed)")
	released = 0
	for row in rows:
		action = row.log and record_failure(row, reason, row.log)
		if not action:
			continue  # its drain finished it meanwhile, or another release took it
		insert_lines(row.log, [failure_line(row, action, reason)])
		end_dead_log(row.log)
		frappe.db.commit()
		released += 1
	end_logs_without_claims(connection, filters["claimed_at"][1])
	return released


def end_logs_without_claims(connection: str | None, before: datetime) -> None:
	"""A drain killed between two rows holds no claim to release: its Push log, Running since before ``before``
	with no row Sending under it, ends Failed too. A live drain caught between two rows is ended with it, and
	writes its own final status when it finishes."""
	filters = {"trigger": TRIGGER_PUSH, "status": STATUS_RUNNING, "started_at": ("<", before)}
	if connection:
		filters["connection"] = connection
	for log in frappe.get_all(LOG_DOCTYPE, filters=filters, pluck="name"):
		if not frappe.db.exists(OUTBOX_DOCTYPE, {"status": OUTBOX_SENDING, "log": log}):
			end_dead_log(log)
	frappe.db.commit()


def end_dead_log(log: str) -> None:
	"""A Push log left Running by a drain that died ends Failed, saying so."""
	ended = now_datetime()
	frappe.db.sql(
		f"""UPDATE `tab{LOG_DOCTYPE}` SET status = %(failed)s, ended_at = %(ended)s, error_summary = %(why)s,
		duration = TIMESTAMPDIFF(SECOND, started_at, %(ended)s), modified = %(ended)s
		WHERE name = %(log)s AND status = %(running)s""",
		{
			"failed": STATUS_FAILED,
			"running": STATUS_RUNNING,
			"ended": ended,
			"log": log,
			"why": _("The worker running this drain stopped before it ended; its unsent rows are sent again"),
		},
	)


# -- log lines -------------------------------------------------------------------------------------------------


def line_values(row: Any, action: str, message: str) -> dict[str, Any]:
	return {
		"direction": DIRECTION_PUSH,
		"vtiger_id": row.vtiger_id,
		"vtiger_module": WRITEBACK_MODULES.get(row.reference_doctype) or "",
		"entity": row.kind,
		"target_doctype": row.reference_doctype,
		"target_name": row.reference_name,
		"action": action,
		"message": redact(message)[:MESSAGE_LENGTH],
	}
