"""Records that wait: a failure for a reason in the record's data or the connection's settings is not retried by
every run.

A tax or unit the connection does not map, a value ERPNext refuses, a record it needs that VTiger deleted, a currency
without an exchange rate: the same record fails the same way until someone changes it in VTiger or changes the
setting. Such a record keeps a row here (its reason, the setting it names, when it first and last failed) and its
fingerprint (``fingerprint.py``), so runs leave it unread until its fingerprint moves: the record or one it reads
changed, or a setting of its stream did. *Retry waiting* takes every record of one reason at once, through
the retry path (which holds the connection's lease). A failure that is not about the data (VTiger unreachable, a
deadlock, a lock held too long, a document another record failed to write) leaves no row: the next run tries again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

import frappe
from frappe import _
from frappe.utils import now_datetime

from vtigercrm_sync.constants import SETTING_DOCTYPE, WAITING_DOCTYPE
from vtigercrm_sync.syncer.handler.base import LinkNotFound, SettingMissing
from vtigercrm_sync.syncer.run.retry import queue_retry
from vtigercrm_sync.syncer.run.state import is_alive, prefix_holder

MISSING_RECORD = "Record needed is missing"
VALUE_REFUSED = "Value refused"
NOT_PLANNED = "Could not be planned"
REASON_LENGTH = 1000
MISSING_TEMPLATE = "which VTiger does not have"
"""What the planner says of a required record the reader could not load (0, deleted or purged)."""
PASSING = (LinkNotFound, frappe.TimestampMismatchError, frappe.DocumentLockedError)
"""Validation errors that are not about the record's data: they may pass at the next run."""


@dataclass(frozen=True)
class Failure:
	"""Why one document of a record (or the record) failed: ``kind`` None when the reason is not in the data."""

	kind: str | None
	reason: str
	setting: str | None = None


def write_failure(exc: Exception, reason: str) -> Failure:
	"""A document ERPNext would not write: a setting it lacks, a value it refuses (its validation), or else
	something that may pass next time (a link to a document another record failed to write, a document a desk
	user saved or a job locked meanwhile, a database error)."""
	if isinstance(exc, SettingMissing):
		return Failure(exc.kind, reason, exc.setting)
	if isinstance(exc, frappe.ValidationError) and not isinstance(exc, PASSING):
		return Failure(VALUE_REFUSED, reason)
	return Failure(None, reason)


def noted(message: str, failure: Failure) -> str:
	"""A failure's log line, saying when a record that waits is read again."""
	if failure.kind is None:
		return message
	return _(
		"{0} (waiting: {1}; read again when the record changes in VTiger, {2} changes, or on Retry waiting)"
	).format(message, _(failure.kind), failure.setting or _("a setting of its stream"))


def plan_failure(issues: Iterable[str], reason: str) -> Failure:
	"""A record the planner refused (its data cannot make the documents; ``issues`` in English): a record it
	needs is missing in VTiger, or another rule of the mapping is not met."""
	missing = any(MISSING_TEMPLATE in issue for issue in issues)
	return Failure(MISSING_RECORD if missing else NOT_PLANNED, reason)


def row_name(connection: str, crmid: int) -> str:
	"""The name of a record's waiting row, and of its fingerprint's: one per connection and crmid, found by key."""
	return f"{hashlib.sha256(connection.encode()).hexdigest()[:10]}-{crmid}"


def store_waiting(
	connection: str, log: str | None, records: list[tuple[str, int, str, list[Failure]]]
) -> None:
	"""(module, crmid, fingerprint, failures) of records that now wait; a row already there keeps its first
	failure's time."""
	if not records:
		return
	now, user = now_datetime(), frappe.session.user
	columns = (
		"name",
		*("creation", "modified", "modified_by", "owner", "docstatus", "idx"),
		*("connection", "module", "crmid", "reason_kind", "setting", "reason", "fingerprint"),
		*("first_seen", "last_seen", "log"),
	)
	values = []
	for module, crmid, fingerprint, failures in records:
		first = failures[0]
		reason = "; ".join(dict.fromkeys(failure.reason for failure in failures))[:REASON_LENGTH]
		values.append(
			(
				row_name(connection, crmid),
				*(now, now, user, user, 0, 0),
				*(connection, module, crmid, first.kind, first.setting, reason, fingerprint),
				*(now, now, log),
			)
		)
	placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(values))
	updated = ("module", "reason_kind", "setting", "reason", "fingerprint", "last_seen", "log", "modified")
	frappe.db.sql(
		f"""INSERT INTO `tab{WAITING_DOCTYPE}` ({", ".join(f"`{c}`" for c in columns)}) VALUES {placeholders}
		ON DUPLICATE KEY UPDATE {", ".join(f"`{c}` = VALUES(`{c}`)" for c in updated)}""",
		[value for row in values for value in row],
	)


def clear_waiting(connection: str, crmids: list[int]) -> None:
	"""Records that landed, were deleted in VTiger, or failed for a reason not in their data wait no more."""
	if crmids:
		frappe.db.delete(WAITING_DOCTYPE, {"name": ("in", [row_name(connection, c) for c in crmids])})


def waiting_reasons(connection: str) -> list[dict]:
	"""Each reason records of the connection wait on, with the setting it names and how many wait: what the
	form shows, most first."""
	return frappe.get_all(
		WAITING_DOCTYPE,
		filters={"connection": connection},
		fields=["reason_kind", "setting", "count(name) as records"],
		group_by="reason_kind, setting",
		order_by="records desc",
	)


def waiting_records(connection: str, kind: str | None = None) -> list[tuple[str, int]]:
	"""(module, crmid) of the records waiting (on one reason kind)."""
	filters = {"connection": connection, **({"reason_kind": kind} if kind else {})}
	rows = frappe.get_all(WAITING_DOCTYPE, filters=filters, fields=["module", "crmid"], order_by="crmid asc")
	return [(row.module, row.crmid) for row in rows]


def waiting_job_id(connection: str, kind: str | None) -> str:
	return f"vtigercrm_sync::waiting::{connection}::{kind or 'all'}"


@frappe.whitelist(methods=["POST"])
def retry_waiting(connection: str, kind: str | None = None) -> dict:
	"""Re-read every record waiting on one reason (all of them without ``kind``) through the retry path: those
	that land wait no more, those that fail again wait on, with the reason they fail with now."""
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	doc.check_permission("write")
	doc.check_sync_permission()
	holder = prefix_holder(doc.id_prefix or "")
	if is_alive(doc.name) or holder:
		frappe.throw(
			_("A sync ({0}) is writing the documents of {1}; retry the waiting records when it ends").format(
				frappe.bold(holder or doc.last_log), frappe.bold(doc.name)
			)
		)
	records = waiting_records(doc.name, kind)
	if not records:
		frappe.throw(_("No record of {0} is waiting on that reason").format(frappe.bold(doc.name)))
	return queue_retry(doc.name, records, waiting_job_id(doc.name, kind))
