"""The state machine of a run and its chunks: every state, every transition, who may make it, and liveness.

A run is its connection's status, its Sync Log and the log's chunk rows. Each transition below is one atomic claim
(``UPDATE … SET status = %s WHERE name = %s AND status = %s``, rowcount checked): of several processes that try
the same transition, exactly one makes it, and the others leave. Rows are locked in one order: the Sync Log row
first, then chunk rows, then the connection row.

Connection: (final or never run) → Queued [Sync Now, scheduler, CLI] → Running, with ``last_log`` [coordinator,
retry] → final [the job that ends the run's last stage, or the coordinator/retry when it ends; Sync Now and the
scheduler for a dead run]. Queued → Failed [Sync Now, scheduler: the queued job is gone].

Log: Running → Success | Partial Success | Failed | Timed Out, once (:func:`end_log`). Its ``stage`` moves from
"" through each stage (``SalesOrder/Linked`` …) once (:func:`cut_stage`); the claimer cuts that stage's chunks in
the same transaction, so a stage is cut once or not at all.

Chunk: Queued → Running (attempts + 1) [its job, :func:`start_chunk`] → Done | Failed | Timed Out [its job,
:func:`end_chunk_state`]; Queued or Running → Queued (``enqueued`` + 1) [Sync Now, scheduler: its job is dead,
:func:`requeue_chunk`]; Running → Failed [Sync Now, scheduler: its job died :data:`CHUNK_ATTEMPTS` times].

Liveness never depends on what a job has committed. A job is alive while RQ holds it queued (however long it waits
behind other jobs), or while it is started and beating: from its start RQ's own ``last_heartbeat`` (set by the
worker as it starts the job), then a heartbeat a thread of the job keeps in Redis from the job's first line
(:func:`beating`), whatever the job is doing (reading the catalog, counting a window, planning a page). A killed
worker stops both; its job is dead :func:`heartbeat_seconds` later.

One writer per id prefix: every job that writes documents holds a token-checked redis-py ``Lock`` named after the
connection's id prefix whose token is its log, claimed before it creates its log or touches the connection. A run's
coordinator and chunk jobs share it (same token); it is released by the transition that ends the run.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint
from frappe.utils.background_jobs import get_job
from redis.exceptions import LockError
from rq.job import JobStatus

from vtigercrm_sync.constants import (
	CHUNK_DOCTYPE,
	JOB_TIMEOUT,
	LOG_DOCTYPE,
	SETTING_DOCTYPE,
	STATUS_QUEUED,
	STATUS_RUNNING,
	job_id,
)

HEARTBEAT_SECONDS = 60
"""A started job that has not beaten for this long is dead. A site may set ``vtigercrm_sync_heartbeat_seconds``
in its site_config.json."""
PREFIX_LOCK_WAIT_SECONDS = 5
CHUNK_ATTEMPTS = 3
DONE, QUEUED, RUNNING, TIMED_OUT, FAILED = "Done", "Queued", "Running", "Timed Out", "Failed"
ENDED = (DONE, FAILED, TIMED_OUT)
LAST_STAGE = "End"
WAITING = (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED)
RUN_STATE_FIELDS = (
	"status",
	"last_run_at",
	"last_log",
	"last_counts",
	"last_error",
	"watermark_accounts",
	"watermark_contacts",
	"watermark_sales_orders",
	"watermark_feed",
	"last_reconciled_at",
)


class RunRefused(Exception):
	"""Another job is writing the same documents, or a run of the connection is on; the message says which."""


# --- transitions ------------------------------------------------------------------------------------------------


INCREMENT = object()
"""A claim's value that adds one to the column."""


def _claim(doctype: str, name: str, values: dict, where: str, params: dict | None = None) -> bool:
	"""``UPDATE … SET values WHERE name = … AND <where>``; True when this caller changed the row."""
	sets = ", ".join(
		f"`{field}` = `{field}` + 1" if value is INCREMENT else f"`{field}` = %(set_{field})s"
		for field, value in values.items()
	)
	args = {f"set_{field}": value for field, value in values.items() if value is not INCREMENT}
	frappe.db.sql(
		f"UPDATE `tab{doctype}` SET {sets} WHERE name = %(name)s AND {where}",
		{**args, **(params or {}), "name": name},
	)
	return frappe.db._cursor.rowcount == 1


ANY_LAST_RUN = object()
"""What :func:`queue_connection` checks of ``last_run_at`` unless the scheduler says what it judged due on."""


def queue_connection(connection: str, last_run_at: Any = ANY_LAST_RUN) -> bool:
	"""(final or never run) → Queued: Sync Now, the scheduler, the CLI. False when a run is queued or on.

	The scheduler passes the ``last_run_at`` it found due, read before the claim: a run that ended in between
	moved it, so the claim fails instead of queueing a run the schedule no longer asks for."""
	where = "status NOT IN (%(queued)s, %(running)s)"
	params: dict[str, Any] = {"queued": STATUS_QUEUED, "running": STATUS_RUNNING}
	if last_run_at is not ANY_LAST_RUN:
		where += " AND last_run_at <=> %(last_run_at)s"
		params["last_run_at"] = last_run_at
	return _claim(SETTING_DOCTYPE, connection, {"status": STATUS_QUEUED}, where, params)


def run_connection(connection: str, log: str, queued: bool) -> bool:
	"""Queued → Running (the coordinator of a queued run), or final → Running (a retry, a run started in this
	process), with the log as ``last_log``."""
	where = "status = %(queued)s" if queued else "status NOT IN (%(queued)s, %(running)s)"
	return _claim(
		SETTING_DOCTYPE,
		connection,
		{"status": STATUS_RUNNING, "last_log": log},
		where,
		{"queued": STATUS_QUEUED, "running": STATUS_RUNNING},
	)


def claim_run(connection: str, log: str, queued: bool) -> None:
	""":func:`run_connection`, or :class:`RunRefused` when another run is on: before a job creates its log."""
	if not run_connection(connection, log, queued):
		raise RunRefused(
			_("A sync of {0} is already queued or running; this one wrote nothing").format(connection)
		)


def end_log(log: str, status: str, values: dict) -> bool:
	"""Running → final, once."""
	return _claim(
		LOG_DOCTYPE, log, {"status": status, **values}, "status = %(running)s", {"running": RUNNING}
	)


def cut_stage(log: str, after: str, stage: str) -> bool:
	"""The log's stage ``after`` → ``stage``, once: the claimer cuts that stage's chunks in the same transaction."""
	return _claim(
		LOG_DOCTYPE,
		log,
		{"stage": stage},
		"status = %(running)s AND IFNULL(stage, '') = %(after)s",
		{"running": RUNNING, "after": after},
	)


def start_chunk(chunk: str) -> bool:
	"""Queued → Running, by the chunk's job (or the job that cut a one-chunk stage)."""
	return _claim(
		CHUNK_DOCTYPE, chunk, {"status": RUNNING, "attempts": INCREMENT}, "status = %(q)s", {"q": QUEUED}
	)


def end_chunk_state(chunk: str, status: str, error: str | None) -> bool:
	"""Running → Done, Failed or Timed Out, by the job running it."""
	return _claim(CHUNK_DOCTYPE, chunk, {"status": status, "error": error}, "status = %(r)s", {"r": RUNNING})


def requeue_chunk(chunk: str, status: str, enqueued: int) -> bool:
	"""Queued or Running (its job dead) → Queued, by Sync Now or the scheduler; ``enqueued`` tells apart two who
	saw the same dead job."""
	return _claim(
		CHUNK_DOCTYPE,
		chunk,
		{"status": QUEUED, "enqueued": INCREMENT},
		"status = %(s)s AND IFNULL(enqueued, 0) = %(e)s",
		{"s": status, "e": enqueued},
	)


def fail_dead_chunk(chunk: str, status: str, enqueued: int, error: str) -> bool:
	"""Queued or Running → Failed: its job died :data:`CHUNK_ATTEMPTS` times."""
	return _claim(
		CHUNK_DOCTYPE,
		chunk,
		{"status": FAILED, "error": error},
		"status = %(s)s AND IFNULL(enqueued, 0) = %(e)s",
		{"s": status, "e": enqueued},
	)


def lock_log(log: str) -> str | None:
	"""Take the log's row lock as the first statement of a fresh transaction (the lock order's first), so what
	is read after it includes every commit made under it (also under ``innodb_snapshot_isolation``)."""
	frappe.db.commit()
	return frappe.db.sql(f"SELECT status FROM `tab{LOG_DOCTYPE}` WHERE name = %s FOR UPDATE", log)[0][0]


# --- liveness ---------------------------------------------------------------------------------------------------


def heartbeat_seconds() -> int:
	return cint(frappe.conf.get("vtigercrm_sync_heartbeat_seconds")) or HEARTBEAT_SECONDS


def _key(name: str) -> str:
	return frappe.cache.make_key(f"vtigercrm_sync:heartbeat:{name}")


def beat(name: str, log: str) -> None:
	"""Beat once for a connection's run (``name`` the connection) or one chunk (``name`` the chunk)."""
	frappe.cache.set(_key(name), log, ex=heartbeat_seconds())


def stop_beating(name: str) -> None:
	frappe.cache.delete(_key(name))


def is_beating(name: str) -> bool:
	return bool(frappe.cache.get(_key(name)))


class Beater:
	"""A thread that beats for a job from its first line to its last, whatever the job is busy with."""

	def __init__(self, log: str, names: list[str]):
		self.log, self.names, self.stop = log, list(names), threading.Event()
		self.cache, self.ttl = frappe.cache, heartbeat_seconds()
		self.keys = [_key(name) for name in self.names]
		self.thread = threading.Thread(target=self._loop, daemon=True)

	def add(self, name: str) -> None:
		"""Beat for one more chunk too (a one-chunk stage run in this job)."""
		self.keys.append(_key(name))
		self.cache.set(self.keys[-1], self.log, ex=self.ttl)

	def beat_once(self) -> None:
		for key in list(self.keys):
			self.cache.set(key, self.log, ex=self.ttl)

	def _loop(self) -> None:
		while not self.stop.wait(max(self.ttl / 4, 0.2)):
			try:
				self.beat_once()
			except Exception:
				continue  # Redis away for a moment: the next beat tries again


_beater = threading.local()


@contextmanager
def beating(log: str, *names: str) -> Iterator[Beater]:
	"""Beat for ``names`` (the connection, a chunk) for the block, and stop at its end (the beats go with it);
	nested, the outer beater takes the new names."""
	outer = getattr(_beater, "current", None)
	if outer is not None:
		for name in names:
			outer.add(name)
		yield outer
		return
	beater = Beater(log, list(names))
	beater.beat_once()
	beater.thread.start()
	_beater.current = beater
	try:
		yield beater
	finally:
		_beater.current = None
		beater.stop.set()
		beater.thread.join(5)
		frappe.cache.delete(*beater.keys)  # this job is over: it no longer keeps anything alive


def job_alive(rq_job_id: str, beat_name: str) -> bool:
	"""Queued in RQ (however long), or started and beating: RQ's start heartbeat first, the job's own after."""
	job = get_job(rq_job_id)
	status = job.get_status() if job else None
	if status in WAITING:
		return True
	if status == JobStatus.STARTED and job.last_heartbeat:
		if datetime.utcnow() - job.last_heartbeat.replace(tzinfo=None) < timedelta(
			seconds=heartbeat_seconds()
		):
			return True
	return is_beating(beat_name)


def run_alive(connection: str, log: str | None) -> bool:
	"""Whether any job of the connection's run is queued or beating: its coordinator, a chunk, the job that goes
	on to the next stage."""
	if job_alive(job_id(connection), connection):
		return True
	if not log:
		return False
	if job_alive(advance_job_id(log), advance_job_id(log)):
		return True
	for chunk in frappe.get_all(
		CHUNK_DOCTYPE,
		filters={"log": log, "status": ("in", (QUEUED, RUNNING))},
		pluck="name",
	):
		if job_alive(chunk_job_id(chunk), chunk):
			return True
	return False


def is_alive(connection: str) -> bool:
	"""What the form asks: is the connection's run queued or going (then Sync Now is disabled)?"""
	state = frappe.db.get_value(SETTING_DOCTYPE, connection, ["status", "last_log"], as_dict=True)
	if not state or state.status not in (STATUS_QUEUED, STATUS_RUNNING):
		return False
	return run_alive(connection, state.last_log if state.status == STATUS_RUNNING else None)


def chunk_job_id(chunk: str) -> str:
	return f"vtigercrm_sync_chunk::{chunk}"


def advance_job_id(log: str) -> str:
	return f"vtigercrm_sync_advance::{log}"


# --- the lease of an id prefix ----------------------------------------------------------------------------------


def _lease(prefix: str, log: str):
	lock = frappe.cache.lock(
		frappe.cache.make_key("vtigercrm_sync:prefix:" + hashlib.sha1(prefix.encode()).hexdigest()),
		timeout=JOB_TIMEOUT,
		thread_local=False,
	)
	lock.local.token = log.encode()
	return lock


def claim_prefix(prefix: str, log: str) -> None:
	"""Take (or keep, for a job of the same run) the lease of the documents with this id prefix for ``log``;
	another holder makes this wait :data:`PREFIX_LOCK_WAIT_SECONDS`, then :class:`RunRefused`."""
	lock = _lease(prefix, log)
	deadline = time.monotonic() + PREFIX_LOCK_WAIT_SECONDS
	while True:
		if lock.acquire(blocking=False, token=log):
			return
		try:
			lock.local.token = log.encode()
			lock.reacquire()  # token-checked: ours already (a run's coordinator and chunks share it)
			return
		except LockError:
			pass
		if time.monotonic() >= deadline:
			holder = (frappe.cache.get(lock.name) or b"").decode() or _("another job")
			raise RunRefused(
				_(
					"{0} is writing the documents of VTiger ID prefix {1}; this run waited {2} seconds and wrote "
					"nothing. Start it again when {0} has ended."
				).format(holder, prefix or _("(none)"), PREFIX_LOCK_WAIT_SECONDS)
			)
		time.sleep(0.25)


def release_prefix(prefix: str, log: str) -> None:
	"""Release the lease if ``log`` holds it (token-checked, atomic)."""
	try:
		_lease(prefix, log).release()
	except LockError:
		pass


def prefix_holder(prefix: str) -> str | None:
	return (frappe.cache.get(_lease(prefix, "").name) or b"").decode() or None


@contextmanager
def prefix_lock(prefix: str, log: str) -> Iterator[None]:
	"""Hold the lease of the documents with this id prefix for the block, or raise :class:`RunRefused`."""
	claim_prefix(prefix, log)
	try:
		yield
	finally:
		release_prefix(prefix, log)


def restore_watermarks(connection: str, watermarks: dict[str, str | None]) -> None:
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	for module, value in watermarks.items():
		doc.set_watermark(module, value)
	frappe.db.commit()
