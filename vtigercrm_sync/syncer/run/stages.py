"""A run split into stages and chunks, spread over the bench's RQ workers; its states and transitions are those of
``state.py``.

A run reads its window (the watermarks, or everything, up to the signpost) once and cuts each stream into chunks of
about :data:`CHUNK_RECORDS` records whose fingerprint moved, in keyset order (``syncer/services/chunks.py``); long
stretches of unchanged records are *settled* where the stage is cut (Done, counted unchanged, no job), so an
unchanged stage costs one scan of its keys and fingerprints. Streams run one after another, in dependency order
(Accounts, Contacts, SalesOrder). A stream whose records bring other records along (an order its account, contact and
products) first writes their documents in one job (the ``Linked`` stage: two orders of one customer never race to
create it), then each record's own documents (``Own``). The chunks of one stage run in parallel, one job each, on
the app's queue (``vtigercrm_sync`` when the bench has workers for it, else ``long``), and the chunk that ends its
stage last goes on to the next one (a barrier that needs no waiting job, so one worker runs the same code path
serially); the log's stage claim lets exactly one job cut each stage. A stage of one chunk runs in the job that
reached it: no other worker could share it, and a job of its own would only pay a fresh process's start. Each
chunk commits in groups like a serial run, records how far it committed, and writes its counts on its own row of
the log only: the log's totals are their sum, written under the log's lock when a chunk ends. A stream's watermark
moves only to the end of the longest run of finished chunks from its start, so it never passes an unfinished one.
A run whose jobs all died is resumed by the next Sync Now or scheduler tick, which only enqueues.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint
from frappe.utils.background_jobs import get_job, get_queue, get_queues_timeout, get_workers
from rq.timeouts import JobTimeoutException
from sqlalchemy.exc import OperationalError

from vtigercrm_sync.config.spec import STREAM_ORDER, MappingError
from vtigercrm_sync.constants import (
	CHUNK_DOCTYPE,
	JOB_TIMEOUT,
	LOG_DOCTYPE,
	SETTING_DOCTYPE,
	STATUS_FAILED,
	STATUS_QUEUED,
	STATUS_RUNNING,
	job_id,
)
from vtigercrm_sync.syncer.handler.base import error_text, rollback_or_reconnect
from vtigercrm_sync.syncer.observer.frappe import FrappeObserver, chunk_totals, write_log_totals
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.run.run import LINKED, OWN, SyncRun
from vtigercrm_sync.syncer.run.state import (
	CHUNK_ATTEMPTS,
	DONE,
	ENDED,
	LAST_STAGE,
	QUEUED,
	RUNNING,
	TIMED_OUT,
	RunRefused,
	advance_job_id,
	beat,
	beating,
	chunk_job_id,
	claim_prefix,
	cut_stage,
	end_chunk_state,
	end_log,
	fail_dead_chunk,
	job_alive,
	lock_log,
	release_prefix,
	requeue_chunk,
	restore_watermarks,
	run_alive,
	start_chunk,
	stop_beating,
)
from vtigercrm_sync.syncer.services.chunks import Range, cut
from vtigercrm_sync.syncer.services.query import ConnectionFailed, Watermark, reason

CHUNK_RECORDS = 250
"""Records per chunk; a site may set ``vtigercrm_sync_chunk_records``."""
MIN_SPLIT_RECORDS = 100
"""The fewest records a stage is cut into chunks of to keep every worker busy: a smaller chunk is not worth a
job of its own (a fresh process, 1-2 s), so an incremental run of a few records stays one chunk, run in place."""
QUEUE = "vtigercrm_sync"
LOCK_RETRIES = 5
DEAD_RUN = _(
	"The worker running this sync stopped without ending it (killed, or its server lost); the next run "
	"resumes after the last committed group of records"
)


def plan_run(run: SyncRun, observer: FrappeObserver, until: Any, since: dict[str, Watermark | None]) -> None:
	"""The coordinator's work: the window and its size on the log, then the first stage."""
	window = {"until": str(until), "since": {m: str(since[m]) if since[m] else None for m in run.streams}}
	total = sum(run.reader.count_changes(m, since[m], until) for m in run.streams)
	frappe.db.set_value(
		LOG_DOCTYPE, observer.log.name, {"run_window": json.dumps(window), "total_records": total}
	)
	observer.set_total(total)
	frappe.db.commit()
	advance(observer.log.name, run)


def stages_of(run: SyncRun, streams: list[str]) -> list[tuple[str, str]]:
	"""(module, part) of each stage, in the order they run."""
	return [
		(module, part) for module in streams for part in ((LINKED, OWN) if run.has_linked(module) else (OWN,))
	]


def advance(log: str, run: SyncRun | None = None) -> None:
	"""Go on from the log's stage once its chunks have all ended: cut the next stage with records (a claim on the
	log's stage, in the transaction that adds its chunks), or end the run. Called by the chunk that ends a stage
	last, by the coordinator, and as a job of its own queued by :func:`resume_run`; any number of callers cut
	each stage once."""
	if lock_log(log) != RUNNING:
		frappe.db.rollback()
		return
	stage = frappe.db.get_value(LOG_DOCTYPE, log, "stage") or ""
	chunks = _stage_chunks(log, stage)
	if any(c.status not in ENDED for c in chunks):
		frappe.db.rollback()  # not yet: the stage's last chunk goes on
		return
	if any(c.status != DONE for c in chunks) or stage == LAST_STAGE:
		frappe.db.rollback()
		finish_run(log)  # a stage that did not complete ends the run; the next run resumes after it
		return
	run = run or SyncRun(frappe.db.get_value(LOG_DOCTYPE, log, "connection"), log)
	following, bounds = _next_stage(run, log, stage)
	if not cut_stage(log, stage, following):
		frappe.db.rollback()  # another job cut it
		return
	if following == LAST_STAGE:
		frappe.db.commit()
		finish_run(log)
		return
	module, part = following.split("/")
	names = [add_chunk(log, part, module, *_keys(bound), bound.records, bound.settled) for bound in bounds]
	if any(bound.settled for bound in bounds):
		_advance_watermark(log, module, _stage_chunks(log, following))
		write_log_totals(log)
	names = [name for name, bound in zip(names, bounds, strict=True) if not bound.settled]
	if len(names) == 1:
		start_chunk(names[0])  # a stage of one chunk: this job runs it, claimed before anyone can see it
		beat(names[0], log)
	frappe.db.commit()
	if not names:
		advance(log, run)  # every record of the stage is unchanged: no job, on to the next stage
		return
	if len(names) == 1:
		_run_claimed(log, names[0], run)
		return
	for name in names:
		_enqueue(log, name)


def _keys(bound: Range) -> tuple[str, str]:
	return (str(bound.after) if bound.after else "", str(bound.upto))


def _next_stage(run: SyncRun, log: str, stage: str) -> tuple[str, list[Range]]:
	"""The first stage after ``stage`` with records to read or count, and its chunks' bounds;
	:data:`LAST_STAGE` when none."""
	window = json.loads(frappe.db.get_value(LOG_DOCTYPE, log, "run_window"))
	stages = stages_of(run, [m for m in STREAM_ORDER if m in window["since"]])
	names = [f"{module}/{part}" for module, part in stages]
	until = datetime.fromisoformat(window["until"])
	keys: dict[str, list[tuple[Watermark, bool]]] = {}  # a Linked stage with nothing to write wrote nothing
	for module, part in stages[names.index(stage) + 1 if stage else 0 :]:
		since = Watermark.parse(window["since"][module])
		if module not in keys:
			keys[module] = list(
				run.reader.iter_keys(module, since, until, run.fingerprints.unchanged(module))
			)
		bounds = chunk_bounds(keys[module], since, whole=part == LINKED)
		if bounds:
			return f"{module}/{part}", bounds
	return LAST_STAGE, []


def _stage_chunks(log: str, stage: str) -> list[Any]:
	if not stage or stage == LAST_STAGE:
		return []
	module, part = stage.split("/")
	return frappe.get_all(
		CHUNK_DOCTYPE,
		filters={"log": log, "stage": part, "module": module},
		fields=["name", "status", "until_key", "done_key"],
		order_by="idx asc",
	)


def chunk_bounds(
	keys: list[tuple[Watermark, bool]], since: Watermark | None, whole: bool = False
) -> list[Range]:
	"""The ranges of a stream's window from its keys (each with whether its fingerprint moved; ``chunks.cut``):
	a job's of at most :data:`CHUNK_RECORDS` moved records, settled ones for long stretches of unchanged records.
	A stage of fewer moved records than :data:`CHUNK_RECORDS` per worker is cut into one chunk per worker (of at
	least :data:`MIN_SPLIT_RECORDS`): 200 accounts on two workers are two chunks, not one that leaves a worker
	idle."""
	size = cint(frappe.conf.get("vtigercrm_sync_chunk_records")) or CHUNK_RECORDS
	workers = 1 if whole else chunk_workers()
	if workers > 1:
		moved = sum(changed for _key, changed in keys)
		size = min(size, max(MIN_SPLIT_RECORDS, -(-moved // workers)))
	return cut(keys, since, size, whole)


def run_chunk(log: str, chunk: str) -> None:
	"""Job body of one chunk: claim it (Queued → Running; a chunk another job holds, or that ended, is left),
	write its records, then end it (and maybe its stage, and the run)."""
	connection = frappe.db.get_value(LOG_DOCTYPE, log, "connection")
	with beating(log, connection, chunk):
		claimed = start_chunk(chunk)
		frappe.db.commit()
		if claimed:
			_run_claimed(log, chunk, None)


def _run_claimed(log: str, chunk: str, run: SyncRun | None) -> None:
	"""Write a chunk this job claimed, end it, and go on to the next stage if it was its stage's last (``run``
	given: the chunk runs in the job that cut it)."""
	connection = frappe.db.get_value(LOG_DOCTYPE, log, "connection")
	with beating(log, connection, chunk):
		row = frappe.db.get_value(CHUNK_DOCTYPE, chunk, ["*"], as_dict=True)
		observer = FrappeObserver.resume(connection, log, chunk)
		status, error = DONE, None
		try:
			run = run or SyncRun(connection, log)
			claim_prefix(run.doc.id_prefix or "", log)
			_write_chunk(run, observer, row)
		except JobTimeoutException:
			rollback_or_reconnect(timed_out=True)
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
		frappe.db.commit()
		if not end_chunk(chunk, status, error):
			return  # no longer Running: nothing of this job's to go on with
	advance(log, run if status == DONE else None)


def _write_chunk(run: SyncRun, observer: FrappeObserver, row: Any) -> None:
	upto = Watermark.parse(row.until_key)
	since = Watermark.parse(row.done_key or row.since_key or None)
	window = json.loads(frappe.db.get_value(LOG_DOCTYPE, row.log, "run_window"))
	until = datetime.fromisoformat(window["until"])
	linked = row.stage == LINKED
	unchanged = run.fingerprints.unchanged(row.module)
	shared = chunk_workers() > 1
	part = row.stage if run.has_linked(row.module) else None
	for batch in run.reader.iter_changes(row.module, since, until, unchanged, upto=upto):
		changes = batch.changes
		if linked:
			changes = [change for change in changes if change.bundle is not None]
		run.write(changes, observer, part=part, chunk=row.name, shared=shared)
		if batch.last >= upto:
			return


def end_chunk(chunk: str, status: str, error: str | None) -> bool:
	"""Running → ``status``, under the log's lock taken first: the stream's watermark moves on, the log's totals
	become the sum of its chunks. False when the chunk was not Running (nothing changed)."""
	log = frappe.db.get_value(CHUNK_DOCTYPE, chunk, "log")

	def transition() -> bool:
		lock_log(log)
		if not end_chunk_state(chunk, status, error):
			frappe.db.rollback()
			return False
		row = frappe.db.get_value(CHUNK_DOCTYPE, chunk, ["stage", "module"], as_dict=True)
		if row.stage != LINKED:
			_advance_watermark(log, row.module, _stage_chunks(log, f"{row.module}/{row.stage}"))
		write_log_totals(log)
		frappe.db.commit()
		return True

	return with_lock_retry(transition)


def with_lock_retry(transition: Callable[[], Any]) -> Any:
	"""Run a transaction again after a deadlock, a lock wait time-out or a row changed since this transaction's
	snapshot (MariaDB 11.6+ ``innodb_snapshot_isolation``), a few times with back-off."""
	for attempt in range(LOCK_RETRIES + 1):
		try:
			return transition()
		except Exception as exc:
			retry = isinstance(exc, frappe.QueryDeadlockError | frappe.QueryTimeoutError) or (
				exc.args and exc.args[0] == 1020
			)
			if not retry or attempt == LOCK_RETRIES:
				raise
			rollback_or_reconnect()
			time.sleep(0.2 * 2**attempt)


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


def finish_run(log: str, error: str | None = None) -> str:
	"""End the run once (the log's lock first, then the claim Running → final): its status from the chunks'
	counts and errors, the connection's state, the lease released, the managers told when it failed."""
	connection = frappe.db.get_value(LOG_DOCTYPE, log, "connection")

	def transition() -> tuple[str, str | None] | None:
		if lock_log(log) != RUNNING:
			frappe.db.rollback()
			return None  # another job ended it
		chunks = frappe.get_all(CHUNK_DOCTYPE, filters={"log": log}, fields=["status", "error"])
		cause = error or next((c.error for c in chunks if c.status != DONE and c.error), None)
		timed_out = any(c.status == TIMED_OUT for c in chunks)
		return FrappeObserver.resume(connection, log, None).finish(end_log, cause, timed_out=timed_out), cause

	ended = with_lock_retry(transition)
	if ended is None:
		return frappe.db.get_value(LOG_DOCTYPE, log, "status")
	status, error = ended
	release_prefix(frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix") or "", log)
	stop_beating(connection)
	if status == STATUS_FAILED and not error:  # every record failed: the next run tries them again
		restore_watermarks(connection, json.loads(frappe.db.get_value(LOG_DOCTYPE, log, "watermark_before")))
	return status


def recover(connection: str) -> dict | None:
	"""Sync Now's and the scheduler's part: a connection left Queued or Running whose jobs are all dead (none
	queued in RQ, none beating) is resumed when its run has stages (its dead chunks queued again, or the job that
	goes on to the next stage), else closed as Failed. Only enqueues; returns what it did."""
	state = frappe.db.get_value(SETTING_DOCTYPE, connection, ["status", "last_log"], as_dict=True)
	if not state or state.status not in (STATUS_QUEUED, STATUS_RUNNING):
		return None
	log = state.last_log if state.status == STATUS_RUNNING else None
	if run_alive(connection, log):
		return None
	job = get_job(job_id(connection))
	if job:
		job.delete()  # a dead coordinator: RQ would keep it "started", and Sync Now refused, until it expires
	row = frappe.db.get_value(LOG_DOCTYPE, log, ["status", "stage"], as_dict=True) if log else None
	if row and row.status == RUNNING and row.stage:
		return {"resumed": log, "stage": row.stage, "left": resume_run(log)}
	if row and row.status != RUNNING:  # ended, and the connection was left behind: it follows its log
		frappe.db.set_value(SETTING_DOCTYPE, connection, "status", row.status, update_modified=False)
		frappe.db.commit()
		return {"closed": log}
	if log:
		finish_run(log, DEAD_RUN)
	else:
		frappe.db.sql(
			f"UPDATE `tab{SETTING_DOCTYPE}` SET status = %s, last_error = %s WHERE name = %s AND status = %s",
			(STATUS_FAILED, DEAD_RUN, connection, STATUS_QUEUED),
		)
		frappe.db.commit()
		frappe.get_doc(SETTING_DOCTYPE, connection).notify_update()
	return {"closed": log}


def resume_run(log: str) -> int:
	"""Queue again the chunks whose jobs died (a chunk that died :data:`CHUNK_ATTEMPTS` times fails), and the job
	that goes on to the next stage when the stage's chunks have all ended; returns the records it had left."""
	done = chunk_totals(log)
	left = max(
		cint(frappe.db.get_value(LOG_DOCTYPE, log, "total_records")) - done.records_read - done.unchanged, 0
	)
	chunks = frappe.get_all(
		CHUNK_DOCTYPE,
		filters={"log": log, "status": ("in", (QUEUED, RUNNING))},
		fields=["name", "status", "attempts", "enqueued"],
	)
	for chunk in chunks:
		if job_alive(chunk_job_id(chunk.name), chunk.name):
			continue
		job = get_job(chunk_job_id(chunk.name))
		if job:
			job.delete()
		if chunk.status == RUNNING and chunk.attempts >= CHUNK_ATTEMPTS:
			error = _("Its job died {0} times").format(chunk.attempts)
			if fail_dead_chunk(chunk.name, chunk.status, chunk.enqueued or 0, error):
				frappe.db.commit()
				_enqueue(log, None)
		elif requeue_chunk(chunk.name, chunk.status, chunk.enqueued or 0):
			frappe.db.commit()
			_enqueue(log, chunk.name)
	if not chunks:
		_enqueue(log, None)  # the job that was to cut the next stage (or end the run) died
	return left


def add_chunk(
	log: str, stage: str, module: str, since: str, until: str, records: int, settled: bool = False
) -> str:
	"""A chunk of the log, Queued for its job; ``settled`` (every record unchanged) Done already, its records
	counted as unchanged and never read."""
	row = frappe.get_doc(
		{
			"doctype": CHUNK_DOCTYPE,
			"log": log,
			"idx": frappe.db.count(CHUNK_DOCTYPE, {"log": log}) + 1,
			"stage": stage,
			"module": module,
			"since_key": since,
			"until_key": until,
			"records": records,
			"status": DONE if settled else QUEUED,
			**({"done_key": until, "unchanged": records} if settled else {}),
		}
	)
	row.db_insert()
	return row.name


def _enqueue(log: str, chunk: str | None) -> None:
	"""Queue a chunk's job, or (``chunk`` None) the job that goes on from a stage whose chunks all ended."""
	frappe.enqueue(
		"vtigercrm_sync.syncer.run.stages." + ("run_chunk" if chunk else "advance_job"),
		queue=chunk_queue(),
		timeout=JOB_TIMEOUT,
		job_id=chunk_job_id(chunk) if chunk else advance_job_id(log),
		deduplicate=True,
		now=frappe.flags.in_test,
		log=log,
		**({"chunk": chunk} if chunk else {}),
	)


def advance_job(log: str) -> None:
	"""Job body: go on from a stage whose chunks all ended when the job that was to do it died."""
	with beating(log, frappe.db.get_value(LOG_DOCTYPE, log, "connection"), advance_job_id(log)):
		advance(log)


def chunk_workers() -> int:
	"""How many workers serve the chunks' queue (one under tests, which run chunks in this process)."""
	return 1 if frappe.flags.in_test else len(get_workers(get_queue(chunk_queue())))


def chunk_queue() -> str:
	"""The app's own queue when the bench runs workers for it (common_site_config.json ``workers``)."""
	return QUEUE if QUEUE in get_queues_timeout() else "long"
