"""A connection's run state kept true to what runs really did: alive, dead, or competing for the same documents.

- A running job beats a heartbeat in Redis on every record and every commit. A connection left Queued or Running
  whose job is gone, or whose heartbeat stopped (its worker and work horse were killed), is closed as Failed with
  the reason, by the next start and by the scheduler; its RQ job, if RQ still shows it started, is removed, so
  Sync Now works again at once.
- Every job that writes documents (a run and its chunks, a retry, a scheduled or CLI run) holds the lease of the
  connection's id prefix for its log: two connections that share a prefix, or a retry and a scheduled run, never
  write the same documents at once. The lease is a Redis key that lapses with the run's heartbeat, so a killed
  worker's lease goes with it.
- Watermarks and status live on the connection document, written with ``db_set`` and never by a form save (the
  controller re-reads them under a row lock before saving).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager

import frappe
from frappe import _
from frappe.utils import cint, now_datetime
from frappe.utils.background_jobs import get_job
from rq.job import JobStatus

from vtigercrm_sync.constants import (
	LOG_DOCTYPE,
	SETTING_DOCTYPE,
	STATUS_FAILED,
	STATUS_QUEUED,
	STATUS_RUNNING,
	job_id,
)

HEARTBEAT_SECONDS = 60
"""A run that has not beaten for this long is dead: longer than any one record, or one page of VTiger, takes.
A site may set ``vtigercrm_sync_heartbeat_seconds`` in its site_config.json."""
PREFIX_LOCK_WAIT_SECONDS = 5
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
	"""Another job is writing the same documents; the message says which."""


def beat(connection: str, log: str) -> None:
	frappe.cache.set_value(_heartbeat_key(connection), log, expires_in_sec=_heartbeat_seconds())


def stop_beating(connection: str) -> None:
	frappe.cache.delete_value(_heartbeat_key(connection))


def is_beating(connection: str) -> bool:
	return bool(frappe.cache.get_value(_heartbeat_key(connection), expires=True))  # never the local copy


def is_alive(connection: str) -> bool:
	"""Whether the connection's run is waiting in the queue or beating; a run that is neither is stale, and the
	next Sync Now or the scheduler closes or resumes it."""
	job = get_job(job_id(connection))
	return is_beating(connection) or bool(job and job.get_status() == JobStatus.QUEUED)


def close_stale_run(connection: str) -> str | None:
	"""Close the run a dead worker left open (or, once its chunks exist, queue the dead ones again); returns
	the log it closed, if any."""
	from vtigercrm_sync.syncer.handler.stages import has_chunks, resume_run

	state = frappe.db.get_value(SETTING_DOCTYPE, connection, ["status", "last_log"], as_dict=True)
	if not state or state.status not in (STATUS_QUEUED, STATUS_RUNNING):
		return None
	job = get_job(job_id(connection))
	status = job.get_status() if job else None
	if state.status == STATUS_RUNNING and state.last_log and has_chunks(state.last_log):
		if job and status == JobStatus.STARTED and not is_beating(connection):
			job.delete()  # the run's first job died while it wrote a chunk of its own (see stages.py)
		resume_run(state.last_log)
		return None
	if status == JobStatus.QUEUED or (status == JobStatus.STARTED and is_beating(connection)):
		return None
	if state.status == STATUS_RUNNING and is_beating(connection):
		return None
	if job and status == JobStatus.STARTED:
		job.delete()  # its worker is gone: RQ would keep it "started", and Sync Now refused, until it expires
	reason = _(
		"The worker running this sync stopped without ending it (killed, or its server lost); the next run "
		"resumes after the last committed group of records"
	)
	log = state.last_log if state.status == STATUS_RUNNING else None
	if log and frappe.db.get_value(LOG_DOCTYPE, log, "status") == STATUS_RUNNING:
		started = frappe.db.get_value(LOG_DOCTYPE, log, "started_at")
		ended = now_datetime()
		frappe.db.set_value(
			LOG_DOCTYPE,
			log,
			{
				"status": STATUS_FAILED,
				"ended_at": ended,
				"duration": (ended - started).total_seconds() if started else 0,
				"error_summary": reason,
			},
			update_modified=False,
		)
	frappe.get_doc(SETTING_DOCTYPE, connection).db_set(
		{"status": STATUS_FAILED, "last_error": reason}, update_modified=False, notify=True
	)
	stop_beating(connection)
	frappe.db.commit()
	return log


@contextmanager
def prefix_lock(prefix: str, log: str) -> Iterator[None]:
	"""Hold the lease of the documents with this id prefix for the block, or raise :class:`RunRefused`."""
	claim_prefix(prefix, log)
	try:
		yield
	finally:
		release_prefix(prefix, log)


def claim_prefix(prefix: str, log: str) -> None:
	"""Take (or keep) the lease of the documents with this id prefix for ``log``: its jobs (a run's coordinator
	and its chunks) share it, any other job waits :data:`PREFIX_LOCK_WAIT_SECONDS` and is refused. The lease
	lives in Redis and lapses with the run's heartbeat, so a dead run's lease goes with it."""
	key = _lease_key(prefix)
	deadline = time.monotonic() + PREFIX_LOCK_WAIT_SECONDS
	while True:
		if frappe.cache.set(key, log, nx=True, ex=_heartbeat_seconds()) or _renew(key, log):
			return
		if time.monotonic() >= deadline:
			holder = (frappe.cache.get(key) or b"").decode() or _("another job")
			raise RunRefused(
				_(
					"{0} is writing the documents of VTiger ID prefix {1}; this run waited {2} seconds and wrote "
					"nothing. Start it again when {0} has ended."
				).format(holder, prefix or _("(none)"), PREFIX_LOCK_WAIT_SECONDS)
			)
		time.sleep(0.25)


def release_prefix(prefix: str, log: str) -> None:
	key = _lease_key(prefix)
	if (frappe.cache.get(key) or b"").decode() == log:
		frappe.cache.delete(key)


def renew_prefix(prefix: str, log: str) -> None:
	_renew(_lease_key(prefix), log)


def _renew(key: str, log: str) -> bool:
	if (frappe.cache.get(key) or b"").decode() != log:
		return False
	frappe.cache.expire(key, _heartbeat_seconds())
	return True


def _lease_key(prefix: str) -> str:
	return frappe.cache.make_key("vtigercrm_sync:prefix:" + hashlib.sha1(prefix.encode()).hexdigest())


def _heartbeat_seconds() -> int:
	return cint(frappe.conf.get("vtigercrm_sync_heartbeat_seconds")) or HEARTBEAT_SECONDS


def restore_watermarks(connection: str, watermarks: dict[str, str | None]) -> None:
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	for module, value in watermarks.items():
		doc.set_watermark(module, value)
	frappe.db.commit()


def _heartbeat_key(connection: str) -> str:
	return f"vtigercrm_sync:heartbeat:{connection}"
