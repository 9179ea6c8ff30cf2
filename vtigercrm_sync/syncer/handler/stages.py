"""A run split into stages and chunks, spread over the bench's RQ workers.

A run reads its window (the watermarks, or everything, up to the signpost) once and cuts each stream into chunks of
about :data:`CHUNK_RECORDS` records, in keyset order. Streams run one after another, in dependency order (Accounts,
Contacts, SalesOrder). A stream whose records bring other records along (an order its account, contact and
products) first writes their documents in one job (the ``Linked`` stage: two orders of one customer never race to
create it), then each record's own documents (``Own``). The chunks of one stage run in parallel, one job each, on
the app's queue (``vtigercrm_sync`` when the bench has workers for it, else ``long``), and the last chunk of a stage
to end starts the next stage (a barrier that needs no waiting job, so one worker runs the same code path serially).
A stage of one chunk runs in the job that reached it: no other worker could share it, and a job of its own would
only pay a fresh process's start (Frappe forks a new one per job, and its first document save imports half of
ERPNext again). Each chunk commits in groups like a serial run, records how far it committed, and writes its
counts on its own row of the log: the log's totals are their sum, so several writers never race on a counter. A
stream's watermark moves only to the end of the longest run of finished chunks from its start, so it never passes
an unfinished one. A chunk whose job died is queued again (by the next Sync Now and by the scheduler) and resumes
after what it committed.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint
from frappe.utils.background_jobs import get_job, get_queues_timeout
from rq.job import JobStatus
from rq.timeouts import JobTimeoutException
from sqlalchemy.exc import OperationalError

from vtigercrm_sync.config.spec import STREAM_ORDER, MappingError
from vtigercrm_sync.constants import (
	CHUNK_DOCTYPE,
	JOB_TIMEOUT,
	LOG_DOCTYPE,
	SETTING_DOCTYPE,
	STATUS_FAILED,
	STATUS_RUNNING,
)
from vtigercrm_sync.syncer.handler.base import error_text, rollback_or_reconnect
from vtigercrm_sync.syncer.handler.run import LINKED, OWN, SyncRun
from vtigercrm_sync.syncer.handler.run_state import (
	RunRefused,
	claim_prefix,
	is_beating,
	release_prefix,
	restore_watermarks,
	stop_beating,
)
from vtigercrm_sync.syncer.observer.frappe import FrappeObserver
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.services.query import ConnectionFailed, Watermark, reason

CHUNK_RECORDS = 250
"""Records per chunk; a site may set ``vtigercrm_sync_chunk_records``."""
QUEUE = "vtigercrm_sync"
CHUNK_ATTEMPTS = 3
DONE, QUEUED, RUNNING, TIMED_OUT = "Done", "Queued", "Running", "Timed Out"
ENDED = (DONE, STATUS_FAILED, TIMED_OUT)


def plan_run(run: SyncRun, observer: FrappeObserver, until: Any, since: dict[str, Watermark | None]) -> None:
	"""The coordinator's work: the window and its size on the log, then the first stage."""
	window = {"until": str(until), "since": {m: str(since[m]) if since[m] else None for m in run.streams}}
	total = sum(run.reader.count_changes(m, since[m], until) for m in run.streams)
	frappe.db.set_value(
		LOG_DOCTYPE, observer.log.name, {"run_window": json.dumps(window), "total_records": total}
	)
	observer.set_total(total)
	frappe.db.commit()
	start_next_stage(run, observer.log.name, after=None)


def stages_of(run: SyncRun, streams: list[str]) -> list[tuple[str, str]]:
	"""(module, part) of each stage, in the order they run."""
	return [
		(module, part) for module in streams for part in ((LINKED, OWN) if run.has_linked(module) else (OWN,))
	]


def start_next_stage(run: SyncRun, log: str, after: tuple[str, str] | None) -> None:
	"""Cut the next stage with records into chunks and queue them; when none is left, end the run."""
	window = json.loads(frappe.db.get_value(LOG_DOCTYPE, log, "run_window"))
	stages = stages_of(run, [m for m in STREAM_ORDER if m in window["since"]])
	for module, part in stages[stages.index(after) + 1 if after else 0 :]:
		since = Watermark.parse(window["since"][module])
		until = datetime.fromisoformat(window["until"])
		bounds = chunk_bounds(run, module, since, until, whole=part == LINKED)
		if not bounds:
			continue
		names = [_add_chunk(log, part, module, *bound) for bound in bounds]
		frappe.db.commit()
		if len(names) == 1:
			run_chunk(log, names[0], run)
			return
		for name in names:
			_enqueue(log, name)
		return
	finish_run(log)


def chunk_bounds(
	run: SyncRun, module: str, since: Watermark | None, until: Any, whole: bool = False
) -> list[tuple[str, str, int]]:
	"""(after, up to, records) of each chunk of a stream's window, in keyset order."""
	size = cint(frappe.conf.get("vtigercrm_sync_chunk_records")) or CHUNK_RECORDS
	bounds, start, count, last = [], since, 0, None
	for key in run.reader.iter_keys(module, since, until):
		count, last = count + 1, key
		if count == size and not whole:
			bounds.append((str(start) if start else "", str(key), count))
			start, count = key, 0
	if count:
		bounds.append((str(start) if start else "", str(last), count))
	return bounds


def run_chunk(log: str, chunk: str, run: SyncRun | None = None) -> None:
	"""Job body of one chunk: write its records, then end it (and maybe its stage, and the run). ``run`` is the
	calling job's own, when the chunk runs in the job that cut it."""
	row = frappe.db.get_value(CHUNK_DOCTYPE, chunk, ["*"], as_dict=True)
	if not row or row.status in ENDED:
		return
	frappe.db.set_value(CHUNK_DOCTYPE, chunk, {"status": RUNNING, "attempts": row.attempts + 1})
	frappe.db.commit()
	connection = frappe.db.get_value(LOG_DOCTYPE, log, "connection")
	observer = FrappeObserver.resume(connection, log, chunk)
	status, error = DONE, None
	try:
		run = run or SyncRun(connection, log)
		claim_prefix(run.doc.id_prefix or "", log)
		_write_chunk(run, observer, row)
	except JobTimeoutException:
		rollback_or_reconnect()
		status, error = TIMED_OUT, _("The chunk hit its time limit after committing up to its last group")
	except (ConnectionFailed, MappingError, RunRefused) as exc:
		rollback_or_reconnect()
		status, error = STATUS_FAILED, redact(str(exc))
	except OperationalError as exc:
		rollback_or_reconnect()
		status, error = STATUS_FAILED, _("Lost the connection to VTiger: {0}").format(redact(reason(exc)))
	except BaseException as exc:
		rollback_or_reconnect()
		frappe.log_error(
			title=_("VTigerCRM Sync {0} failed").format(log), message=redact(frappe.get_traceback())
		)
		status, error = STATUS_FAILED, redact(error_text(exc))
		if not isinstance(exc, Exception):
			end_chunk(chunk, status, error)
			raise  # the worker is being stopped: let it stop, with the chunk ended
	observer.flush()
	end_chunk(chunk, status, error, run if status == DONE else None)


def _write_chunk(run: SyncRun, observer: FrappeObserver, row: Any) -> None:
	upto = Watermark.parse(row.until_key)
	since = Watermark.parse(row.done_key or row.since_key or None)
	window = json.loads(frappe.db.get_value(LOG_DOCTYPE, row.parent, "run_window"))
	until = datetime.fromisoformat(window["until"])
	linked = row.stage == LINKED
	for batch in run.reader.iter_changes(row.module, since, until):
		run.beat()
		changes = [change for change in batch.changes if change.key <= upto]
		if linked:
			changes = [change for change in changes if change.bundle is not None]
		run.write(changes, observer, part=row.stage if run.has_linked(row.module) else None, chunk=row.name)
		if batch.last >= upto:
			return


def end_chunk(chunk: str, status: str, error: str | None, run: SyncRun | None = None) -> None:
	"""End a chunk; the last of its stage starts the next stage (with ``run``, the chunk's own, when it is whole).
	The log's row lock lets one chunk only see its stage complete, and serialises the watermark's moves."""
	log = frappe.db.get_value(CHUNK_DOCTYPE, chunk, "parent")
	frappe.db.sql(f"SELECT name FROM `tab{LOG_DOCTYPE}` WHERE name = %s FOR UPDATE", log)
	frappe.db.set_value(CHUNK_DOCTYPE, chunk, {"status": status, "error": error})
	row = frappe.db.get_value(CHUNK_DOCTYPE, chunk, ["stage", "module"], as_dict=True)
	chunks = frappe.get_all(
		CHUNK_DOCTYPE,
		filters={"parent": log, "parenttype": LOG_DOCTYPE, "stage": row.stage, "module": row.module},
		fields=["name", "status", "until_key", "done_key"],
		order_by="idx asc",
	)
	if row.stage != LINKED:
		_advance_watermark(log, row.module, chunks)
	frappe.db.commit()
	if all(c.status in ENDED for c in chunks):
		if any(c.status != DONE for c in chunks):
			finish_run(log)  # a stage that did not complete ends the run; the next run resumes after it
		else:
			connection = frappe.db.get_value(LOG_DOCTYPE, log, "connection")
			start_next_stage(run or SyncRun(connection, log), log, after=(row.module, row.stage))


def _advance_watermark(log: str, module: str, chunks: list[Any]) -> None:
	"""To the end of the longest run of finished chunks from the stream's start, and on to what the next chunk
	committed: everything before is written, nothing after is assumed."""
	finished = None
	for chunk in chunks:
		if chunk.status != DONE:
			finished = chunk.done_key or finished
			break
		finished = chunk.until_key
	if not finished:
		return
	connection = frappe.get_doc(SETTING_DOCTYPE, frappe.db.get_value(LOG_DOCTYPE, log, "connection"))
	current = Watermark.parse(connection.watermark(module))
	if current is None or Watermark.parse(finished) > current:
		connection.set_watermark(module, finished)
		watermarks = json.loads(frappe.db.get_value(LOG_DOCTYPE, log, "watermark_after") or "{}")
		watermarks[module] = finished
		frappe.db.set_value(
			LOG_DOCTYPE, log, "watermark_after", json.dumps(watermarks, sort_keys=True), update_modified=False
		)


def finish_run(log: str) -> str:
	"""End the run once: its status from the chunks' counts and errors, the connection's state, the managers
	told when it failed."""
	if frappe.db.get_value(LOG_DOCTYPE, log, "status") != STATUS_RUNNING:
		return frappe.db.get_value(LOG_DOCTYPE, log, "status")
	connection = frappe.db.get_value(LOG_DOCTYPE, log, "connection")
	chunks = frappe.get_all(
		CHUNK_DOCTYPE, filters={"parent": log, "parenttype": LOG_DOCTYPE}, fields=["status", "error"]
	)
	error = next((c.error for c in chunks if c.status != DONE and c.error), None)
	timed_out = any(c.status == TIMED_OUT for c in chunks)
	observer = FrappeObserver.resume(connection, log, None)
	release_prefix(frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix") or "", log)
	stop_beating(connection)
	status = observer.finish(error, timed_out=timed_out)
	if status == STATUS_FAILED and not error:  # every record failed: the next run tries them again
		restore_watermarks(connection, json.loads(frappe.db.get_value(LOG_DOCTYPE, log, "watermark_before")))
	return status


def requeue_dead_chunks(log: str) -> int:
	"""Queue again the chunks of a run whose jobs died (their RQ job is gone or no longer started); a chunk that
	died :data:`CHUNK_ATTEMPTS` times fails. Returns how many were queued again."""
	queued = 0
	for chunk in frappe.get_all(
		CHUNK_DOCTYPE,
		filters={"parent": log, "parenttype": LOG_DOCTYPE, "status": ("in", (QUEUED, RUNNING))},
		fields=["name", "status", "attempts"],
	):
		job = get_job(_job_id(chunk.name))
		status = job.get_status() if job else None
		if status in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED):
			continue
		if chunk.status == RUNNING and is_beating(chunk.name):
			continue
		if job:
			job.delete()
		if chunk.attempts >= CHUNK_ATTEMPTS:
			end_chunk(chunk.name, STATUS_FAILED, _("Its job died {0} times").format(chunk.attempts))
			continue
		frappe.db.set_value(CHUNK_DOCTYPE, chunk.name, "status", QUEUED)
		frappe.db.commit()
		_enqueue(log, chunk.name)
		queued += 1
	return queued


def resume_run(log: str) -> None:
	"""A run whose jobs died: its dead chunks are queued again, and a stage whose chunks all ended (the job that
	was to start the next stage died) goes on."""
	if frappe.db.get_value(LOG_DOCTYPE, log, "status") != STATUS_RUNNING:
		return
	requeue_dead_chunks(log)
	last = frappe.get_all(
		CHUNK_DOCTYPE,
		filters={"parent": log, "parenttype": LOG_DOCTYPE},
		fields=["name", "status"],
		order_by="idx desc",
		limit=1,
	)
	if last and last[0].status in ENDED:
		end_chunk(last[0].name, last[0].status, None)


def has_chunks(log: str) -> bool:
	return bool(frappe.db.exists(CHUNK_DOCTYPE, {"parent": log, "parenttype": LOG_DOCTYPE}))


def _add_chunk(log: str, stage: str, module: str, since: str, until: str, records: int) -> str:
	row = frappe.get_doc(
		{
			"doctype": CHUNK_DOCTYPE,
			"parent": log,
			"parenttype": LOG_DOCTYPE,
			"parentfield": "chunks",
			"idx": frappe.db.count(CHUNK_DOCTYPE, {"parent": log, "parenttype": LOG_DOCTYPE}) + 1,
			"stage": stage,
			"module": module,
			"since_key": since,
			"until_key": until,
			"records": records,
			"status": QUEUED,
		}
	)
	row.db_insert()
	return row.name


def _enqueue(log: str, chunk: str) -> None:
	frappe.enqueue(
		"vtigercrm_sync.syncer.handler.stages.run_chunk",
		queue=chunk_queue(),
		timeout=JOB_TIMEOUT,
		job_id=_job_id(chunk),
		deduplicate=True,
		now=frappe.flags.in_test,
		log=log,
		chunk=chunk,
	)


def chunk_queue() -> str:
	"""The app's own queue when the bench runs workers for it (common_site_config.json ``workers``)."""
	return QUEUE if QUEUE in get_queues_timeout() else "long"


def _job_id(chunk: str) -> str:
	return f"vtigercrm_sync_chunk::{chunk}"
