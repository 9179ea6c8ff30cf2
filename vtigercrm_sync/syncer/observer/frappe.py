"""Report a sync run to Frappe: a Sync Log with a line per record that did not simply succeed, throttled
progress to the connection's document room, and the connection's status.

The log is flushed in the same transaction as each group of records, so a worker killed mid-run leaves a log that
matches what was committed. A run's chunks (``syncer/run/stages.py``) each report as a writer of their own:
counts on their own row, the log's totals their sum, so several writers never race on one counter; lines go to
the log's line doctype (``log_lines.py``), numbered by a sequence no two writers share. Messages carry figures
only; per-record texts were scrubbed of secrets by the caller.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace

import frappe
from frappe import _
from frappe.desk.doctype.notification_log.notification_log import enqueue_create_notification
from frappe.utils import now_datetime, strip_html

from vtigercrm_sync.constants import (
	CHUNK_DOCTYPE,
	LOG_DOCTYPE,
	MANAGER_ROLE,
	PROGRESS_EVENT,
	REFRESH_EVENT,
	SETTING_DOCTYPE,
	STATUS_FAILED,
	STATUS_PARTIAL,
	STATUS_RUNNING,
	STATUS_TIMED_OUT,
)
from vtigercrm_sync.syncer.observer.base import (
	Counts,
	ProgressThrottle,
	final_status,
	headline,
	progress_payload,
)
from vtigercrm_sync.syncer.observer.log_lines import insert_lines

MESSAGE_LENGTH = 1000
COUNT_FIELDS = ("records_read", "created", "updated", "skipped", "failed", "deleted", "filtered", "unchanged")


class FrappeObserver:
	def __init__(
		self, connection: str, log_name: str, watermarks: dict[str, str | None], chunk: str | None = None
	):
		self.connection = connection
		self.log = frappe._dict(
			frappe.db.get_value(LOG_DOCTYPE, log_name, ["name", "started_at", "total_records"], as_dict=True)
		)
		self.chunk = chunk
		self.counts = Counts()
		self.watermarks = dict(watermarks)
		self.total = self.log.total_records or 0
		self.done = 0
		self.throttle = ProgressThrottle(started=time.monotonic())
		self._pending_lines: list[dict] = []
		self._lines = 0
		self.lock_retries = 0
		if chunk:
			row = frappe.db.get_value(
				CHUNK_DOCTYPE, chunk, ["lines", "lock_retries", *COUNT_FIELDS], as_dict=True
			)
			self.counts = Counts(**{field: row[field] or 0 for field in COUNT_FIELDS})
			self._lines = row.lines or 0
			self.lock_retries = row.lock_retries or 0
		self._committed: tuple[Counts, int] = (replace(self.counts), 0)

	@classmethod
	def resume(cls, connection: str, log: str, chunk: str | None) -> FrappeObserver:
		"""A writer of a run already started: one of its chunks, or (``chunk`` None) the run's end, with the
		log's totals."""
		observer = cls(
			connection,
			log,
			json.loads(frappe.db.get_value(LOG_DOCTYPE, log, "watermark_after") or "{}"),
			chunk,
		)
		if chunk is None:
			observer.counts = chunk_totals(log)
		return observer

	@classmethod
	def start(
		cls,
		connection: str,
		trigger: str,
		user: str | None,
		full: bool,
		watermarks: dict[str, str | None],
		retry_of: str | None = None,
		name: str | None = None,
	) -> FrappeObserver:
		"""Create the run's log (named ``name``, the token of the lease its job already holds), in the
		transaction of the caller's claim of the connection (``syncer/run/state.py``: :func:`claim_run`)."""
		log = frappe.get_doc(
			{
				"doctype": LOG_DOCTYPE,
				"connection": connection,
				"trigger": trigger,
				"user": user or frappe.session.user,
				"full_resync": int(bool(full)),
				"status": STATUS_RUNNING,
				"started_at": now_datetime(),
				"watermark_before": json.dumps(watermarks, sort_keys=True),
				"retry_of": retry_of,
			}
		).insert(ignore_permissions=True, set_name=name)
		frappe.db.commit()
		frappe.get_doc(SETTING_DOCTYPE, connection).notify_update()
		observer = cls(connection, log.name, watermarks)
		observer.refresh()
		return observer

	def set_total(self, total: int) -> None:
		self.total = total
		self.progress(force=True)

	def line(
		self,
		action: str,
		module: str,
		vtiger_id: str | int,
		message: str | None = None,
		entity: str | None = None,
		target_doctype: str | None = None,
		target_name: str | None = None,
		record: int | None = None,
	) -> None:
		"""Count an outcome; keep a log line unless it is a plain success. ``vtiger_id`` names the document (or
		the record) the line is about, ``record`` the VTiger record that was read (what a retry reads again)."""
		self.counts.add(action)
		if action in ("Created", "Updated") and not message:
			return
		if action == "Skipped" and not message:
			return
		self._pending_lines.append(
			{
				"vtiger_module": module,
				"vtiger_id": str(vtiger_id),
				"vtiger_record": record,
				"entity": entity,
				"target_doctype": target_doctype,
				"target_name": target_name,
				"action": action,
				"message": strip_html(message or "")[:MESSAGE_LENGTH],
			}
		)

	def record_read(self, n: int = 1) -> None:
		self.counts.records_read += n
		self.done += n
		self.progress()

	def record_unchanged(self, n: int = 1) -> None:
		"""A record left unread: its fingerprint did not move."""
		self.counts.unchanged += n
		self.done += n
		self.progress()

	def run_totals(self) -> tuple[int, Counts]:
		"""Records read and document counts of the whole run: a chunk reads what every chunk committed."""
		if not self.chunk:
			return self.done, self.counts
		counts = chunk_totals(self.log.name)
		return counts.records_read + counts.unchanged, counts

	def batch_committed(self, module: str | None, watermark: str | None) -> None:
		"""Called inside the transaction of a group of records, just before it commits."""
		if module and watermark:
			self.watermarks[module] = watermark
		self.flush()

	def committed(self) -> None:
		"""The group's transaction committed: its counts and lines are now what the log says."""
		self._committed = (replace(self.counts), self.done)

	def rollback(self) -> None:
		"""The group's transaction was rolled back (a deadlock): forget what it counted and logged."""
		self.counts, self.done = replace(self._committed[0]), self._committed[1]
		self._pending_lines.clear()

	def lock_retried(self) -> None:
		"""The group met a deadlock or a lock wait and is written again: a chunk counts it on its row with its next
		commit, so a run says how often its writers met a lock (the benchmark prints it)."""
		self.lock_retries += 1

	def flush(self) -> None:
		"""Write the pending log lines in bulk, and the log's counts and watermarks (a chunk: its own row's)."""
		insert_lines(self.log.name, self._pending_lines, self.chunk)
		self._lines += len(self._pending_lines)
		self._pending_lines.clear()
		if not self.chunk:
			frappe.db.set_value(
				LOG_DOCTYPE,
				self.log.name,
				{**self.counts.as_dict(), "watermark_after": json.dumps(self.watermarks, sort_keys=True)},
				update_modified=False,
			)
			return
		# its own row only: the log's totals are summed when read, or under the log's lock (write_log_totals)
		frappe.db.set_value(
			CHUNK_DOCTYPE,
			self.chunk,
			{**self.counts.as_dict(), "lines": self._lines, "lock_retries": self.lock_retries},
		)

	def finish(
		self, end: Callable[[str, str, dict], bool], error: str | None = None, timed_out: bool = False
	) -> str:
		"""Close the log and the connection's state; returns the run's status. ``end`` is the state machine's
		claim Running → final of the log (``syncer/run/state.py``: :func:`end_log`), false when another job
		ended it."""
		status = final_status(self.counts, error, timed_out)
		self.flush()
		ended = now_datetime()
		duration = (ended - self.log.started_at).total_seconds()
		values = {"ended_at": ended, "duration": duration, "error_summary": error, "modified": ended}
		if not end(self.log.name, status, values):  # another job ended it
			frappe.db.rollback()
			return frappe.db.get_value(LOG_DOCTYPE, self.log.name, "status")
		self.log.error_summary = error
		frappe.get_doc(SETTING_DOCTYPE, self.connection).db_set(
			{
				"status": status,
				"last_run_at": ended,
				"last_log": self.log.name,
				"last_counts": json.dumps(self.counts.as_dict()),
				"last_error": error,
			},
			update_modified=False,
			notify=True,
		)
		if status in (STATUS_FAILED, STATUS_PARTIAL, STATUS_TIMED_OUT):
			self.notify_managers(status, error)
		frappe.db.commit()
		self.progress(force=True)
		self.refresh()
		return status

	def notify_managers(self, status: str, error: str | None) -> None:
		"""Once per run, not per record: a Notification Log for each Sync Manager (System Managers when there
		is none), which Frappe also e-mails when the site sends mail."""
		users = managers()
		if not users:
			return
		if error:
			subject = _("VTiger sync of {0} ended {1}: {2}").format(
				self.connection, _(status), headline(error)
			)
		else:
			subject = _("VTiger sync of {0} ended {1}: {2} failed").format(
				self.connection, _(status), self.counts.failed
			)
		enqueue_create_notification(
			users,
			{
				"type": "Alert",
				"document_type": LOG_DOCTYPE,
				"document_name": self.log.name,
				"subject": subject,
				"email_content": strip_html(error or "") or subject,
			},
		)

	def progress(self, force: bool = False) -> None:
		"""The app's own progress event, in the connection's room (the form draws it; Frappe's modal does not
		open); a run with nothing to read shows no progress at all."""
		now = time.monotonic()
		if not self.total or not (force or self.throttle.should_emit(now, self.done, self.total)):
			return
		done, counts = self.run_totals()
		payload = progress_payload(done, self.total, counts, self.throttle.eta_seconds(now, done, self.total))
		frappe.publish_realtime(
			PROGRESS_EVENT,
			{"name": self.connection, "log": self.log.name, **payload},
			doctype=SETTING_DOCTYPE,
			docname=self.connection,
		)

	def refresh(self) -> None:
		frappe.publish_realtime(
			REFRESH_EVENT,
			{"name": self.connection, "log": self.log.name},
			doctype=SETTING_DOCTYPE,
			docname=self.connection,
		)


def new_log_name() -> str:
	"""The name the next log will take: a job claims its lease with it before it creates the log."""
	log = frappe.new_doc(LOG_DOCTYPE)
	log.set_new_name()
	return log.name


def chunk_totals(log: str) -> Counts:
	"""The run's counts: the sum of its chunks' rows (a plain read, no lock)."""
	sums = ", ".join(f"COALESCE(SUM(`{field}`), 0)" for field in COUNT_FIELDS)
	row = frappe.db.sql(f"SELECT {sums} FROM `tab{CHUNK_DOCTYPE}` WHERE log = %s", log)[0]
	return Counts(**{field: int(value) for field, value in zip(COUNT_FIELDS, row, strict=True)})


def write_log_totals(log: str) -> None:
	"""Copy the chunks' sum onto the log; the caller holds the log's row lock (taken first)."""
	frappe.db.set_value(LOG_DOCTYPE, log, chunk_totals(log).as_dict(), update_modified=False)


def managers() -> list[str]:
	"""Enabled users who run the syncs: VTigerCRM Sync Managers, or System Managers when there is none."""
	for role in (MANAGER_ROLE, "System Manager"):
		users = frappe.get_all(
			"Has Role",
			filters={"role": role, "parenttype": "User", "parent": ("not in", ("Administrator", "Guest"))},
			pluck="parent",
			distinct=True,
		)
		enabled = (
			frappe.get_all("User", filters={"name": ("in", users), "enabled": 1}, pluck="name")
			if users
			else []
		)
		if enabled:
			return enabled
	return []
