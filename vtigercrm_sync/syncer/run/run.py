"""One run of one connection: the reader, planner and handlers it needs, and how VTiger's changes are written.

Changes are written in keyset order and committed in groups bounded by time (:data:`COMMIT_SECONDS`), each group
with its log lines and the watermark of its last change: locks are held for about a second, and a killed worker
resumes after the last committed group. Each document of a record is written inside its own savepoint: one that
fails is rolled back alone and logged, and the record's other documents still land (an order whose contact ERPNext
refuses lands without the contact); a document fails with the one it needs (a required link). A deadlock or a lock
wait time-out undoes the whole uncommitted group: the group is written again and committed, and the record that met
the lock is retried a few times before it alone fails. So does a document another job created at the same time
(create-or-find on the unique ``vtiger_id``): written again, the group finds it.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import replace

import frappe
from frappe import _
from rq.timeouts import JobTimeoutException

from vtigercrm_sync.config.config import load_handler_config
from vtigercrm_sync.config.spec import STREAM_ORDER, STREAM_SOURCES
from vtigercrm_sync.constants import ACTION_CONFLICT, CHUNK_DOCTYPE, SETTING_DOCTYPE
from vtigercrm_sync.syncer.handler.base import (
	CreatedConcurrently,
	Outcome,
	Resolver,
	error_text,
	rollback_or_reconnect,
)
from vtigercrm_sync.syncer.handler.deletion import documents_of, remove_document
from vtigercrm_sync.syncer.handler.factory import build_handlers
from vtigercrm_sync.syncer.handler.settings import hash_key, sync_settings
from vtigercrm_sync.syncer.observer.frappe import FrappeObserver
from vtigercrm_sync.syncer.plan import BundleResult, DocumentPlan, Message, RecordRef, VTigerId
from vtigercrm_sync.syncer.processor.base import PlanContext
from vtigercrm_sync.syncer.processor.pending import PendingEdits
from vtigercrm_sync.syncer.processor.planner import BundlePlanner
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.run.fingerprint import Fingerprints
from vtigercrm_sync.syncer.run.pending import settle, waiting_edits
from vtigercrm_sync.syncer.run.waiting import Failure, noted, plan_failure, write_failure
from vtigercrm_sync.syncer.services.query import Bundle, Change, VTigerReader, Watermark
from vtigercrm_sync.syncer.services.reverse import VTIGER_WINS

COMMIT_SECONDS = 1.5
LOCK_ERRORS = (frappe.QueryDeadlockError, frappe.QueryTimeoutError, CreatedConcurrently)
LOCK_RETRIES = 4
LOCK_WAIT_SECONDS = 3
"""The run's own wait for a row lock (InnoDB's default is 50 s): short, then retried with back-off, so neither the
run nor the desk users whose rows it needs wait long."""
LINKED, OWN = "Linked", "Own"
"""The two parts of a record a chunked run writes in separate stages: the documents other records may share, written
first by one job, then each record's own documents, by many."""
ABORTS = (JobTimeoutException,)
"""Exceptions that end the run, never one record."""


class SyncRun:
	"""One run of one connection: the reader, planner and handlers it needs, built once."""

	def __init__(self, connection: str, log: str | None = None):
		self.doc = frappe.get_doc(SETTING_DOCTYPE, connection)
		handler_config = load_handler_config()
		self.reader = VTigerReader.connect(
			self.doc.connection_settings(), self.doc.mapping_config(), batch_size=self.doc.batch_size or 500
		)
		self.settings = sync_settings(self.doc, self.reader.catalog, log)
		self.pending = (
			PendingEdits(self.doc.conflict_rule or VTIGER_WINS, self.doc.vtiger_time_zone or None)
			if self.doc.push_edits
			else None
		)
		context = PlanContext(
			hash_key=hash_key(),
			defaults={"country": self.settings.default_country},
			id_prefix=self.doc.id_prefix or "",
			taxes=self.reader.catalog.taxes,
			pending=self.pending,
		)
		self.planner = BundlePlanner(self.reader.mapping, context, handler_config)
		self.handlers = build_handlers(self.reader.mapping, handler_config, self.settings)
		self.resolver = Resolver()
		self._savepoints = itertools.count()
		self.log = log
		self.fingerprints = Fingerprints(self)
		self._failures: list[Failure] = []
		"""Why the record being written failed, document by document (nothing when it landed)."""
		self._commit_soon = False
		"""A document of the group locked rows that other workers' records need (:attr:`Outcome.commit_soon`)."""
		frappe.db.sql("SET SESSION innodb_lock_wait_timeout = %s", LOCK_WAIT_SECONDS)

	def write(
		self,
		changes: Iterable[Change],
		observer: FrappeObserver,
		*,
		chunk: str | None = None,
		part: str | None = None,
		shared: bool = False,
	) -> None:
		"""Apply changes in order, committing every :data:`COMMIT_SECONDS`; with ``chunk``, each commit records
		how far the chunk got (its watermark moves the stream's only once the chunks before it ended). With a
		``part`` (:data:`LINKED` or :data:`OWN`), just the documents of that part are written. The changes are
		planned first, so the documents they touch are looked up in one query per doctype. ``shared``: other
		workers write the stage's records meanwhile, so a record that locked rows their records need too (a
		submitted order's stock reservation) commits at once rather than holding them for the rest of its
		group."""
		changes = list(changes)
		if self.pending is not None:
			self.pending.load(waiting_edits(self.doc.name))
		plans = {
			change.key: self._planned_or_error(change.bundle, part)
			for change in changes
			if change.bundle is not None
		}
		self.resolver.prefetch(documents_touched(p for p in plans.values() if isinstance(p, BundleResult)))
		todo = deque(changes)
		group: list[Change] = []
		attempts: dict[Watermark, int] = {}
		retrying: Watermark | None = None
		started = time.monotonic()
		while todo or group:
			change = todo.popleft() if todo else None
			try:
				if change is not None:
					self._failures = []
					if change.unchanged:
						observer.record_unchanged()
					elif attempts.get(change.key, 0) > LOCK_RETRIES:
						self._fail_locked(change, observer)
					else:
						self._apply_change(change, plans.get(change.key), observer)
					group.append(change)
					if part != LINKED and not change.unchanged:
						self._note(change)
						observer.record_read()
				soon = shared and self._commit_soon
				if (
					change is None
					or retrying is not None
					or soon
					or time.monotonic() - started >= COMMIT_SECONDS
				):
					self.commit(group, observer, chunk)  # inside the retry: a lock met here redoes the group
					started = time.monotonic()
					if change is None or change.key == retrying:
						retrying = None
			except LOCK_ERRORS:
				self._rollback_group(observer)
				observer.lock_retried()
				redo = group if change is None or (group and group[-1] is change) else [*group, change]
				retrying = (change or redo[-1]).key
				attempts[retrying] = attempts.get(retrying, 0) + 1
				todo.extendleft(reversed(list(redo)))
				group.clear()
				time.sleep(0.5 * 2 ** min(attempts[retrying] - 1, 3))

	def _planned_or_error(self, bundle: Bundle, part: str | None) -> BundleResult | Exception:
		"""The record's plans, or the unexpected error its planning raised: that record alone fails."""
		try:
			return self._planned(bundle, part)
		except ABORTS:
			raise
		except Exception as exc:
			return BundleResult(bundle.source) if part == LINKED else exc  # its Own stage says why

	def _planned(self, bundle: Bundle, part: str | None) -> BundleResult:
		own = STREAM_SOURCES[bundle.source.module][0]
		result = self.planner.plan(bundle, without=own if part == LINKED else None)
		if part is None:
			return result
		plans = [
			p
			for p in result.plans
			if (self.reader.mapping.entity(p.entity).source != own) == (part == LINKED)
		]
		if part == LINKED:  # the record's own stage logs its issues and filter
			return BundleResult(result.source, plans)
		return replace(result, plans=plans)

	def _note(self, change: Change) -> None:
		"""What the record leaves for the next run once its group commits (its fingerprint, its waiting)."""
		if change.bundle is not None:
			self.fingerprints.note(change.bundle, self._failures)
		elif change.deleted is not None:
			self.fingerprints.note_deleted(change.deleted, change.key.modifiedtime, self._failures)

	def has_linked(self, module: str) -> bool:
		"""Whether records of the stream bring records along (an order its account, contact and products) whose
		documents other records of the stream may share."""
		return any(
			entity.source != STREAM_SOURCES[module][0] for entity in self.reader.mapping.for_stream(module)
		)

	def commit(self, group: list[Change], observer: FrappeObserver, chunk: str | None) -> None:
		"""Commit the group with its log lines and counts, and (a chunk's) how far it got."""
		if not group:
			return
		if chunk:
			frappe.db.set_value(CHUNK_DOCTYPE, chunk, "done_key", str(group[-1].key))
		self.fingerprints.flush(self.log)
		observer.batch_committed(None, None)
		frappe.db.commit()
		self.resolver.commit()
		observer.committed()
		group.clear()
		self._commit_soon = False

	def _rollback_group(self, observer: FrappeObserver) -> None:
		rollback_or_reconnect()
		frappe.db.sql("SET SESSION innodb_lock_wait_timeout = %s", LOCK_WAIT_SECONDS)
		self.resolver.rollback()
		self.fingerprints.discard()
		observer.rollback()

	def _apply_change(
		self, change: Change, result: BundleResult | Exception | None, observer: FrappeObserver
	) -> None:
		if isinstance(result, Exception):
			self._fail_unplanned(change.bundle.source, result, observer)
		elif result is not None:
			self.apply(result, observer)
		elif change.deleted is not None:
			self.delete(change.deleted, observer)

	def _fail_unplanned(self, source: RecordRef, exc: Exception, observer: FrappeObserver) -> None:
		message = _("Could not be planned: {0}").format(redact(f"{type(exc).__name__}: {error_text(exc)}"))
		failure = plan_failure((), message)
		self._failures.append(failure)
		record_id = f"{self.doc.id_prefix or ''}{source.crmid}"
		observer.line("Failed", source.module, record_id, noted(message, failure), record=source.crmid)

	def _fail_locked(self, change: Change, observer: FrappeObserver) -> None:
		ref = change.deleted or change.bundle.source
		message = _(
			"Another transaction kept a lock on a document this record needs ({0} attempts); Retry failed "
			"records writes it once the lock is gone"
		).format(LOCK_RETRIES + 1)
		self._failures.append(Failure(None, message))
		observer.line(
			"Failed", ref.module, f"{self.doc.id_prefix or ''}{ref.crmid}", message, record=ref.crmid
		)

	@property
	def streams(self) -> list[str]:
		return [module for module in STREAM_ORDER if module in self.reader.mapping.streams]

	def apply(self, result: BundleResult, observer: FrappeObserver) -> None:
		"""Write one record's plans, each in a savepoint of its own, and log what did not simply succeed."""
		module, crmid = result.source.module, result.source.crmid
		record_id = str(VTigerId(self.doc.id_prefix or "", crmid))
		secrets = [value for plan in result.plans for value in plan.secrets.values()]
		for issue in result.issues:
			if issue.severity == "warning":
				message = redact(issue.translated(_), secrets)
				observer.line("Warning", module, record_id, message, issue.entity, record=crmid)
		if result.errors:  # one line for the record: what it could not plan, and what failed with it
			message = redact("; ".join(issue.translated(_) for issue in result.errors), secrets)
			failure = plan_failure([str(issue.reason) for issue in result.errors], message)
			self._failures.append(failure)
			message = noted(message, failure)
			observer.line("Failed", module, record_id, message, result.errors[0].entity, record=crmid)
		if result.filtered:
			observer.line("Filtered", module, record_id, translate(result.filtered), record=crmid)
			return
		for plan in result.plans:
			outcome = self._apply_plan(plan, module, crmid, secrets, observer)
			if outcome is None:
				continue
			self._commit_soon = self._commit_soon or outcome.commit_soon
			for warning in outcome.warnings:
				observer.line(
					"Warning",
					module,
					plan.vtiger_id,
					redact(warning, secrets),
					plan.entity,
					plan.doctype,
					outcome.name,
					record=crmid,
				)
			if not outcome.repeat:
				observer.line(
					outcome.action,
					module,
					plan.vtiger_id,
					outcome.message,
					plan.entity,
					plan.doctype,
					outcome.name,
					record=crmid,
				)
		self.resolver.accept()

	def _apply_plan(
		self, plan: DocumentPlan, module: str, crmid: int, secrets: list[str], observer: FrappeObserver
	) -> Outcome | None:
		"""One document in its own savepoint; None (and a Failed line) when it could not be written."""
		savepoint = f"vtiger_{next(self._savepoints)}"
		frappe.db.savepoint(savepoint)
		try:
			outcome = self.handlers[plan.entity.split("#")[0]].apply(plan, self.resolver)
			# a repeat was settled, and its conflicts told, when the run first wrote it
			settles = plan.pending and not outcome.repeat
			conflicts = settle(self.doc.name, plan, self.pending.rule, self.log) if settles else []
		except (*LOCK_ERRORS, *ABORTS):
			raise
		except Exception as exc:
			frappe.db.rollback(save_point=savepoint)
			frappe.clear_messages()
			reason = redact(f"{plan.entity} ({_(plan.doctype)}): {error_text(exc)}", secrets)
			failure = write_failure(exc, reason)
			self._failures.append(failure)
			reason = noted(reason, failure)
			observer.line("Failed", module, plan.vtiger_id, reason, plan.entity, plan.doctype, record=crmid)
			return None
		frappe.db.release_savepoint(savepoint)
		for message in conflicts:
			observer.line(
				ACTION_CONFLICT,
				module,
				plan.vtiger_id,
				message,
				plan.entity,
				plan.doctype,
				outcome.name,
				record=crmid,
			)
		return outcome

	def delete(self, ref: RecordRef, observer: FrappeObserver) -> None:
		"""Follow the connection's policy for a record deleted in VTiger."""
		action = self.settings.deleted_record_action
		record_id = VTigerId(self.doc.id_prefix or "", ref.crmid)
		documents = documents_of(record_id)
		if not documents:
			return
		if action == "Ignore":
			observer.line(
				"Skipped",
				ref.module,
				record_id,
				_("Deleted in VTiger; kept (policy: Ignore)"),
				record=ref.crmid,
			)
			return
		savepoint = f"vtiger_del_{ref.crmid}"
		frappe.db.savepoint(savepoint)
		try:
			for doctype, name in documents:
				outcome, message = remove_document(doctype, name, action)
				if outcome is None:
					continue  # already as the policy wants it (the overlap re-reads recent deletions)
				observer.line(
					outcome,
					ref.module,
					record_id,
					message,
					target_doctype=doctype,
					target_name=name,
					record=ref.crmid,
				)
		except (*LOCK_ERRORS, *ABORTS):
			raise
		except Exception as exc:
			frappe.db.rollback(save_point=savepoint)
			frappe.clear_messages()
			message = redact(error_text(exc))
			self._failures.append(Failure(None, message))
			observer.line("Failed", ref.module, record_id, message, record=ref.crmid)


def documents_touched(results: Iterable[BundleResult]) -> dict[str, set[str]]:
	"""doctype -> the VTiger ids of every document the records write or link to."""
	wanted: dict[str, set[str]] = {}
	for result in results:
		for plan in result.plans:
			wanted.setdefault(plan.doctype, set()).add(plan.vtiger_id)
			links = [
				*plan.links,
				*(link for rows in plan.child_links.values() for row in rows for link in row),
			]
			for link in links:
				wanted.setdefault(link.doctype, set()).add(link.vtiger_id)
	return wanted


def translate(text: str) -> str:
	"""An engine message in the user's language."""
	return text.translated(_) if isinstance(text, Message) else _(text)
