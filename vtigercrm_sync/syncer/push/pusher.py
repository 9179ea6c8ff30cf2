"""Two-way sync's Frappe side: ERPNext changes captured into the outbox, and the outbox drained into VTiger.

Capture runs in ``doc_events`` (see hooks.py), so an outbox row is written in the same transaction as the document:
a rolled-back save leaves no push behind, and a committed one cannot lose its push. A drain job is queued after the
commit (one per transaction and connection; see ``outbox.py`` for how drains share the outbox) and the scheduler
drains whatever is left, so a VTiger outage only delays.
A push that fails waits longer after each attempt (``outbox.next_attempt``); after ``outbox.MAX_ATTEMPTS`` it is Failed,
and every outcome is a line of a Sync Log with the direction ERPNext → VTiger and a redacted reason.

A document written by the inbound sync (``doc.flags.vtiger_inbound``) never queues an edit: what came from VTiger is
not sent back. It may queue a status write-back, since VTiger does not know yet what its record became.
"""

from __future__ import annotations

import json
import time
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint, now_datetime

from vtigercrm_sync.config.resolution import resolve_mapping, resolve_writeback
from vtigercrm_sync.config.spec import EntitySpec, MappingConfig, MappingError
from vtigercrm_sync.constants import (
	ACTION_CONFLICT,
	ACTION_PUSHED,
	CONNECTION_FIELD,
	KIND_CREATE,
	KIND_EDIT,
	KIND_STATUS,
	LOG_DOCTYPE,
	MODULE_FIELD,
	OUTBOX_DOCTYPE,
	OUTBOX_PENDING,
	OUTBOX_SENDING,
	OUTBOX_SENT,
	PULLED_FIELD,
	REFRESH_EVENT,
	REFUSED_FIELD,
	SETTING_DOCTYPE,
	STATUS_FAILED,
	STATUS_PARTIAL,
	STATUS_RUNNING,
	STATUS_SUCCESS,
	TRIGGER_PUSH,
	VTIGER_ID_FIELD,
	WRITEBACK_MODULES,
)
from vtigercrm_sync.database.engine import get_engine
from vtigercrm_sync.syncer.handler.base import pulled_json
from vtigercrm_sync.syncer.observer.log_lines import insert_lines
from vtigercrm_sync.syncer.plan import VTigerId
from vtigercrm_sync.syncer.push.create import connection_for_new_customers, create_account
from vtigercrm_sync.syncer.push.echo import EchoGuard
from vtigercrm_sync.syncer.push.outbox import (
	claim,
	due_rows,
	enqueue_drain,
	failure_line,
	line_values,
	open_generation,
	queue_drain_job,
	record_failure,
	release_stale_claims,
)
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.run.pending import conflict_message, utc
from vtigercrm_sync.syncer.services.query import ConnectionFailed, read_catalog
from vtigercrm_sync.syncer.services.reverse import (
	CONFLICT_VTIGER,
	SAME,
	Decision,
	FieldChange,
	ReverseError,
	field_changes,
	push_changes,
	read_as_pull,
	writeback_values,
)
from vtigercrm_sync.syncer.services.webservice import (
	VTigerWebService,
	WebServiceError,
	WebServiceUnavailable,
)

DRAIN_SECONDS = 240
"""A drain that still has rows due after this queues a follow-up job and ends (the job timeout is far off)."""
STATUS_FIELDS = ("status", "per_delivered", "per_billed", "docstatus")
EXPECTED_ERRORS = (WebServiceError, ReverseError, MappingError, ConnectionFailed, frappe.DoesNotExistError)
"""Errors with a reason fit for the log line; any other is also kept, with its traceback, in the Error Log."""


# -- capture ---------------------------------------------------------------------------------------------------


def capture(doc: Any, method: str | None = None) -> None:
	"""doc_events handler (on_update, on_submit, on_cancel, on_update_after_submit) of the synced doctypes."""
	if doc.doctype == "Customer" and method == "on_update" and not doc.get(VTIGER_ID_FIELD):
		_capture_new_customer(doc)
		return
	connection = _connection_of(doc)
	if connection is None:
		return
	if connection.push_status and _status_changed(doc, method):
		queue_status(connection.name, doc)
	if connection.push_edits and method == "on_update" and not doc.flags.vtiger_inbound:
		before = doc.get_doc_before_save()
		entity = entity_of(connection, doc)
		if before is not None and entity is not None and entity.pushed:
			changes = judged(entity, before, field_changes(entity, before.as_dict(), doc.as_dict()))
			if changes:
				_queue(connection.name, doc, KIND_EDIT, changes)


def _capture_new_customer(doc: Any) -> None:
	"""A Customer made in ERPNext (not by the inbound sync) becomes a VTiger Account, when a connection opts in."""
	if doc.flags.vtiger_inbound or not doc.flags.in_insert:
		return
	if frappe.flags.in_install or frappe.flags.in_migrate:
		return
	connection = connection_for_new_customers()
	if connection:
		_queue(connection, doc, KIND_CREATE)


def capture_order_progress(doc: Any, method: str | None = None) -> None:
	"""Delivery Note and Sales Invoice submit/cancel move their orders' % delivered, % billed and status, which
	ERPNext writes without saving the order: queue each order's status write-back."""
	orders = {row.get("against_sales_order") or row.get("sales_order") for row in doc.get("items") or []}
	for order in sorted(o for o in orders if o):
		values = frappe.db.get_value(
			"Sales Order", order, [CONNECTION_FIELD, VTIGER_ID_FIELD, MODULE_FIELD], as_dict=True
		)
		if not (values and values.get(CONNECTION_FIELD) and values.get(VTIGER_ID_FIELD)):
			continue
		connection = _connection_settings(values.get(CONNECTION_FIELD))
		if connection and connection.push_status:
			queue_status(connection.name, frappe.get_doc("Sales Order", order))


def judged(entity: EntitySpec, before: Any, changes: list[FieldChange]) -> list[FieldChange]:
	"""Each change with VTiger's value as the last pull read it as its ``old``: a push judges VTiger's current
	value against that, not against the ERPNext value the pull wrote from it (a last name moved to the first name,
	"USA" written as "United States", a refused e-mail left blank), so VTiger still holding it is no conflict.

	A document last pulled before those values were kept has none: a change of a field the sync may reshape
	cannot be judged, so it is not queued (the user is told); the next pull of the record makes it pushable."""
	seen = json.loads(before.get(PULLED_FIELD) or "{}")
	unseen = [c.target for c in changes if c.target not in seen]
	may_reshape = reshaped(entity) if unseen else frozenset()
	refused = before.get(REFUSED_FIELD) or ""
	# a refused value is listed by the guard as "Label (fieldname): value"
	unjudged = {t for t in unseen if t in may_reshape or f"({t}):" in refused}
	if unjudged:
		frappe.msgprint(
			_(
				"Not sent to VTiger: {0}. This document was last synced before VTiger's own values were kept, so "
				"an edit of a field the sync reshapes cannot be told apart from a change in VTiger. The next sync of "
				"the record (a Full Resync does all) makes these fields pushable."
			).format(", ".join(before.meta.get_label(t) for t in sorted(unjudged))),
			indicator="orange",
			alert=True,
		)
	return [
		FieldChange(c.target, seen[c.target], c.new) if c.target in seen else c
		for c in changes
		if c.target not in unjudged
	]


def reshaped(entity: EntitySpec) -> frozenset[str]:
	"""The targets the entity's processor or handler may write otherwise than VTiger holds them."""
	from vtigercrm_sync.config.config import load_handler_config
	from vtigercrm_sync.syncer.handler.document import HANDLERS
	from vtigercrm_sync.syncer.processor.planner import PROCESSORS

	kind = load_handler_config().doctypes[entity.doctype].get("handler", "document")
	return PROCESSORS[entity.processor].reshapes | HANDLERS[kind].reshapes


def queue_status(connection: str, doc: Any) -> None:
	"""One pending status write-back per document is enough: it sends the values the document has then."""
	if doc.doctype not in WRITEBACK_MODULES or doc.get(MODULE_FIELD) != WRITEBACK_MODULES[doc.doctype]:
		return
	pending = frappe.db.exists(
		OUTBOX_DOCTYPE,
		{
			"connection": connection,
			"reference_doctype": doc.doctype,
			"reference_name": doc.name,
			"kind": KIND_STATUS,
			"status": OUTBOX_PENDING,
		},
	)
	if not pending:
		_queue(connection, doc, KIND_STATUS)


def _status_changed(doc: Any, method: str | None) -> bool:
	if doc.doctype not in WRITEBACK_MODULES:
		return False
	if method in ("on_submit", "on_cancel", "on_update_after_submit"):
		return True
	if doc.flags.in_insert:
		return True  # it just landed (or was made): VTiger learns its name
	before = doc.get_doc_before_save()
	return (
		before is not None
		and doc.doctype == "Sales Order"
		and any(before.get(f) != doc.get(f) for f in STATUS_FIELDS)
	)


def _queue(connection: str, doc: Any, kind: str, changes: list[FieldChange] | None = None) -> None:
	_insert(connection, doc.doctype, doc.name, doc.get(VTIGER_ID_FIELD), kind, changes)
	enqueue_drain(connection)


def _insert(
	connection: str,
	doctype: str,
	name: str,
	vtiger_id: str | None,
	kind: str,
	changes: list[FieldChange] | None = None,
) -> None:
	frappe.get_doc(
		{
			"doctype": OUTBOX_DOCTYPE,
			"connection": connection,
			"status": OUTBOX_PENDING,
			"kind": kind,
			"reference_doctype": doctype,
			"reference_name": name,
			"vtiger_id": vtiger_id,
			"changed_at": now_datetime(),
			"changes": json.dumps([[c.target, c.old, c.new] for c in changes or []], default=str),
		}
	).db_insert()


def queue_landed_writebacks(connection: str) -> int:
	"""*Write Back ERPNext Names and Status* was just ticked: the Customers and Sales Orders that landed before
	learn their VTiger fields now rather than at their next change. Job body; returns how many were queued."""
	queued = 0
	for doctype, module in WRITEBACK_MODULES.items():
		waiting = set(
			frappe.get_all(
				OUTBOX_DOCTYPE,
				filters={
					"connection": connection,
					"reference_doctype": doctype,
					"kind": KIND_STATUS,
					"status": OUTBOX_PENDING,
				},
				pluck="reference_name",
			)
		)
		landed = frappe.get_all(
			doctype,
			filters={CONNECTION_FIELD: connection, MODULE_FIELD: module, VTIGER_ID_FIELD: ("is", "set")},
			fields=["name", VTIGER_ID_FIELD],
			order_by="creation asc",
		)
		for row in landed:
			if row.name not in waiting:
				_insert(connection, doctype, row.name, row.get(VTIGER_ID_FIELD), KIND_STATUS)
				queued += 1
	if queued:
		enqueue_drain(connection)
	return queued


def _connection_of(doc: Any) -> Any:
	name, vtiger_id = doc.get(CONNECTION_FIELD), doc.get(VTIGER_ID_FIELD)
	if not (name and vtiger_id) or frappe.flags.in_install or frappe.flags.in_migrate:
		return None
	return _connection_settings(name)


def _connection_settings(name: str) -> Any:
	values = frappe.db.get_value(
		SETTING_DOCTYPE,
		name,
		["name", "enabled", "push_status", "push_edits", "push_new_customers"],
		as_dict=True,
	)
	return values if values and values.enabled else None


def entity_of(connection: Any, doc: Any, mapping: MappingConfig | None = None) -> EntitySpec | None:
	"""The mapping entity a synced document was written from: its doctype, its VTiger module (an account's
	billing address and an order's share a role) and the role in its VTiger id."""
	mapping = mapping or _mapping_of(connection.name)
	role = VTigerId.parse(doc.get(VTIGER_ID_FIELD)).role
	module = doc.get(MODULE_FIELD)
	return next(
		(
			e
			for e in mapping.entities
			if e.doctype == doc.doctype and e.role_id == role and (not module or e.module == module)
		),
		None,
	)


def _mapping_of(connection: str) -> MappingConfig:
	return frappe.get_cached_doc(SETTING_DOCTYPE, connection).mapping_config()


# -- drain -----------------------------------------------------------------------------------------------------


def drain_all() -> list[str]:
	"""Scheduler: release the claims of drains that died, then drain every connection that has pushes due (a
	VTiger that was down gets them now)."""
	release_stale_claims()
	pending = frappe.get_all(OUTBOX_DOCTYPE, filters={"status": OUTBOX_PENDING}, pluck="connection")
	due = [connection for connection in sorted(set(pending)) if due_rows(connection, limit=1)]
	for connection in due:
		queue_drain_job(connection)
	return due


def drain(connection: str) -> str | None:
	"""Job body: send the connection's due pushes, reading the outbox again after each batch until nothing is
	due, VTiger cannot be reached, or :func:`drain_seconds` ran out (then a follow-up job takes the rest).
	Returns the Push log, None when this drain sent nothing."""
	open_generation(connection)
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	if not doc.writes_to_vtiger():
		return None
	release_stale_claims(connection)
	deadline = time.monotonic() + drain_seconds()
	pusher, outcome = None, NOTHING_DUE
	try:
		while rows := due_rows(connection):
			pusher = pusher or Pusher(doc)
			outcome = pusher.send_batch(rows, deadline)
			if outcome != MORE:
				break
	finally:
		log = pusher.finish() if pusher else None
	if outcome == OUT_OF_TIME:
		queue_drain_job(connection)
	return log


def drain_seconds() -> int:
	return cint(frappe.conf.get("vtigercrm_sync_push_seconds")) or DRAIN_SECONDS


MORE, NOTHING_DUE, OUT_OF_TIME, UNREACHABLE = "more", "nothing due", "out of time", "unreachable"
"""How a batch ended: read the outbox again, or stop (VTiger unreachable: the rest wait for their next attempt)."""


class Pusher:
	"""One drain: one web service session, one Sync Log with a line per push."""

	def __init__(self, connection: Any):
		self.connection = connection
		self.client = VTigerWebService(connection.webservice_settings())
		self.log = frappe.get_doc(
			{
				"doctype": LOG_DOCTYPE,
				"connection": connection.name,
				"trigger": TRIGGER_PUSH,
				"user": frappe.session.user,
				"status": STATUS_RUNNING,
				"started_at": now_datetime(),
			}
		).insert(ignore_permissions=True)
		frappe.db.commit()
		self.counts = {"sent": 0, "failed": 0, "conflicts": 0}
		self._writeback: dict[str, dict[str, str]] | None = None
		self._mapping: MappingConfig | None = None
		self._catalog = None
		self.echo = EchoGuard(connection.name)

	def send_batch(self, rows: list[Any], deadline: float) -> str:
		"""Claim and send each row in turn. A row another drain took also holds back its document's later rows
		(that drain sends them after it, in order)."""
		busy = set()
		for row in rows:
			document = (row.reference_doctype, row.reference_name)
			if document in busy:
				continue
			if not claim(row, self.log.name):
				busy.add(document)
				continue
			if not self.send(row):
				return UNREACHABLE
			if time.monotonic() >= deadline:
				return OUT_OF_TIME
		return MORE

	def send(self, row: Any) -> bool:
		"""Push one claimed row and commit its outcome with its log lines; any error fails this row alone.
		False when VTiger could not be reached."""
		try:
			lines = self._push(row)
		except WebServiceUnavailable as exc:
			frappe.db.rollback()
			self._retry(row, exc)
			return False
		except Exception as exc:
			frappe.db.rollback()
			if not isinstance(exc, EXPECTED_ERRORS):
				frappe.log_error(
					title=f"VTigerCRM Sync: push of {row.reference_doctype} {row.reference_name} failed",
					message=redact(frappe.get_traceback()),
					reference_doctype=OUTBOX_DOCTYPE,
					reference_name=row.name,
				)
			self._retry(row, exc)
			return True
		now = now_datetime()
		frappe.db.sql(
			f"""UPDATE `tab{OUTBOX_DOCTYPE}` SET status = %(sent)s, sent_at = %(now)s, log = %(log)s,
			last_error = NULL, claimed_at = NULL, read_again = %(again)s, modified = %(now)s
			WHERE name = %(name)s AND status IN %(open)s""",
			# Pending too: a claim released meanwhile (a drain slower than the claim timeout) was sent all the same
			{
				"again": cint(row.get("read_again")),
				"sent": OUTBOX_SENT,
				"now": now,
				"log": self.log.name,
				"name": row.name,
				"open": (OUTBOX_PENDING, OUTBOX_SENDING),
			},
		)
		self._write_lines([line_values(row, *line) for line in lines])
		self.counts["sent"] += 1
		frappe.db.commit()
		return True

	def _push(self, row: Any) -> list[tuple[str, str]]:
		doc = frappe.get_doc(row.reference_doctype, row.reference_name)
		if row.kind == KIND_CREATE:
			return create_account(self, row, doc)
		vtiger_id = VTigerId.parse(row.vtiger_id or doc.get(VTIGER_ID_FIELD))
		if row.kind == KIND_STATUS:
			return self._push_status(doc, vtiger_id)
		return self._push_edit(row, doc, vtiger_id)

	def _push_status(self, doc: Any, vtiger_id: VTigerId) -> list[tuple[str, str]]:
		module = WRITEBACK_MODULES[doc.doctype]
		targets = self.writeback().get(module)
		if not targets:
			return [(ACTION_PUSHED, _("The mapping names no {0} fields to write back").format(module))]
		values = {key: doc.get(key) for key in ("name", "status", "per_delivered", "per_billed")}
		element = writeback_values(targets, values)
		self.client.revise({"id": self.client.ws_id(module, vtiger_id.crmid), **element})
		shown = ", ".join(f"{key}: {values[key]}" for key in targets)
		return [(ACTION_PUSHED, _("ERPNext's {0} written to VTiger").format(shown))]

	def _push_edit(self, row: Any, doc: Any, vtiger_id: VTigerId) -> list[tuple[str, str]]:
		entity = entity_of(self.connection, doc, self.mapping())
		if entity is None:
			raise MappingError([])  # the mapping no longer writes this document
		changes = [FieldChange(*change) for change in json.loads(row.changes or "[]")]
		pushed = {spec.target for spec in entity.pushed}
		dropped = sorted({change.target for change in changes} - pushed)
		if dropped:
			raise ReverseError(
				_(
					"The mapping no longer pushes {0}: change the mapping back, or delete this outbox row"
				).format(", ".join(dropped))
			)
		result = push_changes(
			self.client,
			entity,
			self.client.ws_id(entity.module, vtiger_id.crmid),
			changes,
			self.connection.conflict_rule or "VTiger wins",
			utc(row.changed_at),
			self.connection.vtiger_time_zone or None,
		)
		self._remember_pushed(doc, entity, result.decisions)
		lines = []
		written = result.written
		if written:
			fields = ", ".join(d.target for d in written)
			lines.append((ACTION_PUSHED, _("Written to VTiger: {0}").format(fields)))
			self.echo.record(doc, entity.module)
		elif not result.conflicts:  # an earlier attempt wrote them (its drain died), or a VTiger user did
			lines.append((ACTION_PUSHED, _("VTiger already had ERPNext's values")))
			self.echo.record(doc, entity.module)
		for decision in result.conflicts:
			if decision.outcome == CONFLICT_VTIGER:  # a pull that met the edit may have kept ERPNext's value
				row.read_again = 1
			self.counts["conflicts"] += 1
			lines.append((ACTION_CONFLICT, conflict_message(decision, self.connection.conflict_rule)))
		return lines

	def _remember_pushed(self, doc: Any, entity: EntitySpec, decisions: list[Decision]) -> None:
		"""VTiger now holds ERPNext's value of each field written (or already had it): the next edit of the field
		is judged against that."""
		specs = {spec.target: spec for spec in entity.pushed}
		pulled = json.loads(doc.get(PULLED_FIELD) or "{}")
		for decision in decisions:
			if decision.writes:
				pulled[decision.target] = read_as_pull(specs[decision.target], decision.value)
			elif decision.outcome == SAME:
				pulled[decision.target] = decision.vtiger_value
		if pulled and doc.meta.has_field(PULLED_FIELD):
			frappe.db.set_value(
				doc.doctype, doc.name, PULLED_FIELD, pulled_json(pulled), update_modified=False
			)

	def writeback(self) -> dict[str, dict[str, str]]:
		if self._writeback is None:
			self._writeback = resolve_writeback(self.connection.mapping_config(), self.catalog())
		return self._writeback

	def mapping(self) -> MappingConfig:
		"""The mapping with VTiger's labels resolved to columns: the web service names fields by column."""
		if self._mapping is None:
			self._mapping = resolve_mapping(self.connection.mapping_config(), self.catalog())
		return self._mapping

	def catalog(self) -> Any:
		if self._catalog is None:
			self._catalog = read_catalog(self.engine())
		return self._catalog

	def engine(self) -> Any:
		"""The connection's SQL reader of VTiger."""
		return get_engine(self.connection.connection_settings())

	def _retry(self, row: Any, exc: Exception) -> None:
		reason = redact(str(exc) or type(exc).__name__)
		if isinstance(exc, MappingError) and not exc.problems:
			reason = _("The mapping no longer writes this document to VTiger")
		action = record_failure(row, reason, self.log.name)
		if action:  # else its claim was released meanwhile (this drain outlived the claim timeout)
			self._write_lines([failure_line(row, action, reason)])
			self.counts["failed"] += 1
		frappe.db.commit()

	def _write_lines(self, lines: list[dict[str, Any]]) -> None:
		insert_lines(self.log.name, lines)

	def finish(self) -> str | None:
		"""End the log whatever happened (the drain calls this in ``finally``); a drain that sent nothing (every
		row it read was taken by another) leaves no log."""
		frappe.db.rollback()
		sent, failed = self.counts["sent"], self.counts["failed"]
		if not (sent or failed):
			frappe.db.delete(LOG_DOCTYPE, {"name": self.log.name})
			frappe.db.commit()
			return None
		status = STATUS_SUCCESS if not failed else (STATUS_PARTIAL if sent else STATUS_FAILED)
		ended = now_datetime()
		frappe.db.set_value(
			LOG_DOCTYPE,
			self.log.name,
			{
				"status": status,
				"error_summary": None,  # a release that took this drain for a dead one (between two rows) said so
				"ended_at": ended,
				"duration": (ended - self.log.started_at).total_seconds(),
				"updated": sent,
				"failed": failed,
				"records_read": sent + failed,
			},
		)
		frappe.db.commit()
		frappe.publish_realtime(
			REFRESH_EVENT, {"log": self.log.name}, doctype=SETTING_DOCTYPE, docname=self.connection.name
		)
		return self.log.name


def pending_count(connection: str) -> int:
	"""Pushes waiting to be written to VTiger, or being written now."""
	return frappe.db.count(
		OUTBOX_DOCTYPE, {"connection": connection, "status": ("in", (OUTBOX_PENDING, OUTBOX_SENDING))}
	)
