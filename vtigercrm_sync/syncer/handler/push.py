"""Two-way sync's Frappe side: ERPNext changes captured into the outbox, and the outbox drained into VTiger.

Capture runs in ``doc_events`` (see hooks.py), so an outbox row is written in the same transaction as the document:
a rolled-back save leaves no push behind, and a committed one cannot lose its push. A drain job is queued after the
commit (one per connection, deduplicated) and the scheduler drains whatever is left, so a VTiger outage only delays.
A push that fails waits longer after each attempt (:func:`next_attempt`); after :data:`MAX_ATTEMPTS` it is Failed,
and every outcome is a line of a Sync Log with the direction ERPNext → VTiger and a redacted reason.

A document written by the inbound sync (``doc.flags.vtiger_inbound``) never queues an edit: what came from VTiger is
not sent back. It may queue a status write-back, since VTiger does not know yet what its record became.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import frappe
from frappe import _
from frappe.utils import add_to_date, now_datetime

from vtigercrm_sync.config.resolution import resolve_mapping, resolve_writeback
from vtigercrm_sync.config.spec import EntitySpec, MappingConfig, MappingError
from vtigercrm_sync.constants import (
	ACTION_CONFLICT,
	ACTION_FAILED,
	ACTION_PUSHED,
	ACTION_RETRYING,
	CONNECTION_FIELD,
	DIRECTION_PUSH,
	KIND_CREATE,
	KIND_EDIT,
	KIND_STATUS,
	LOG_DOCTYPE,
	MODULE_FIELD,
	OUTBOX_DOCTYPE,
	OUTBOX_FAILED,
	OUTBOX_PENDING,
	OUTBOX_SENT,
	REFRESH_EVENT,
	SETTING_DOCTYPE,
	STATUS_FAILED,
	STATUS_PARTIAL,
	STATUS_SUCCESS,
	TRIGGER_PUSH,
	VTIGER_ID_FIELD,
	push_job_id,
)
from vtigercrm_sync.database.engine import get_engine
from vtigercrm_sync.syncer.handler.create import connection_for_new_customers, create_account
from vtigercrm_sync.syncer.handler.echo import EchoGuard
from vtigercrm_sync.syncer.handler.pending import conflict_message, utc
from vtigercrm_sync.syncer.plan import VTigerId
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.services.query import ConnectionFailed, read_catalog
from vtigercrm_sync.syncer.services.reverse import (
	FieldChange,
	ReverseError,
	field_changes,
	push_changes,
	writeback_values,
)
from vtigercrm_sync.syncer.services.webservice import (
	VTigerWebService,
	WebServiceError,
	WebServiceUnavailable,
)

MAX_ATTEMPTS = 8
DRAIN_BATCH = 200
PUSH_TIMEOUT = 1800
WRITEBACK_MODULES = {"Customer": "Accounts", "Sales Order": "SalesOrder"}
"""The documents whose name (and an order's status) VTiger learns, and the VTiger module of each."""
STATUS_FIELDS = ("status", "per_delivered", "per_billed", "docstatus")
MESSAGE_LENGTH = 1000


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
			changes = field_changes(entity, before.as_dict(), doc.as_dict())
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


def enqueue_drain(connection: str) -> None:
	"""Drain after the commit, in the background. Tests drain by calling :func:`drain` themselves, at the moment
	they choose (VTiger down, then back), unless one sets ``frappe.flags.vtigercrm_sync_drain_in_background`` to
	see this path run in a worker."""
	if frappe.flags.in_test and not frappe.flags.vtigercrm_sync_drain_in_background:
		return
	frappe.enqueue(
		"vtigercrm_sync.syncer.handler.push.drain",
		queue="short",
		timeout=PUSH_TIMEOUT,
		job_id=push_job_id(connection),
		deduplicate=True,
		enqueue_after_commit=True,
		connection=connection,
	)


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
	"""Scheduler: drain every connection that has pushes due (a VTiger that was down gets them now)."""
	pending = frappe.get_all(OUTBOX_DOCTYPE, filters={"status": OUTBOX_PENDING}, pluck="connection")
	due = [connection for connection in sorted(set(pending)) if _due_rows(connection, limit=1)]
	for connection in due:
		enqueue_drain(connection)
	return due


def drain(connection: str) -> str | None:
	"""Job body: send the connection's due pushes in order, each committed with its outcome; returns the log."""
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	rows = _due_rows(connection)
	if not rows or not doc.writes_to_vtiger():
		return None
	pusher = Pusher(doc)
	for row in rows:
		if not pusher.send(row):
			break  # VTiger is unreachable: the rest wait for the next attempt, in order
	return pusher.finish()


def _due_rows(connection: str, limit: int = DRAIN_BATCH) -> list[Any]:
	"""Pending rows whose next attempt is due, oldest first."""
	return frappe.get_all(
		OUTBOX_DOCTYPE,
		filters={"connection": connection, "status": OUTBOX_PENDING},
		or_filters=[
			[OUTBOX_DOCTYPE, "next_attempt_at", "is", "not set"],
			[OUTBOX_DOCTYPE, "next_attempt_at", "<=", now_datetime()],
		],
		fields=["*"],
		order_by="creation asc, name asc",
		limit=limit,
	)


def next_attempt(attempts: int, now: datetime) -> datetime:
	"""1, 2, 4, 8 ... minutes after the last attempt, at most an hour."""
	return add_to_date(now, minutes=min(2 ** max(attempts - 1, 0), 60))


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
				"status": "Running",
				"started_at": now_datetime(),
			}
		).insert(ignore_permissions=True)
		frappe.db.commit()
		self.counts = {"sent": 0, "failed": 0, "conflicts": 0}
		self._writeback: dict[str, dict[str, str]] | None = None
		self._mapping: MappingConfig | None = None
		self._catalog = None
		self.echo = EchoGuard(connection.name)

	def send(self, row: Any) -> bool:
		"""Push one row and commit its outcome; False when VTiger could not be reached."""
		try:
			lines = self._push(row)
		except WebServiceUnavailable as exc:
			frappe.db.rollback()
			self._retry(row, exc)
			return False
		except (
			WebServiceError,
			ReverseError,
			MappingError,
			ConnectionFailed,
			frappe.DoesNotExistError,
		) as exc:
			frappe.db.rollback()
			self._retry(row, exc)
			return True
		frappe.db.set_value(
			OUTBOX_DOCTYPE,
			row.name,
			{"status": OUTBOX_SENT, "sent_at": now_datetime(), "log": self.log.name, "last_error": None},
			update_modified=True,
		)
		for line in lines:
			self._line(row, *line)
		self.counts["sent"] += 1
		frappe.db.commit()
		return True

	def _push(self, row: Any) -> list[tuple[str, str]]:
		doc = frappe.get_doc(row.reference_doctype, row.reference_name)
		if row.kind == KIND_CREATE:
			return create_account(self, doc)
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
		result = push_changes(
			self.client,
			entity,
			self.client.ws_id(entity.module, vtiger_id.crmid),
			changes,
			self.connection.conflict_rule or "VTiger wins",
			utc(row.changed_at),
			self.connection.vtiger_time_zone or None,
		)
		lines = []
		written = result.written
		if written:
			fields = ", ".join(d.target for d in written)
			lines.append((ACTION_PUSHED, _("Written to VTiger: {0}").format(fields)))
			self.echo.record(doc, entity.module)
		elif not result.conflicts:
			lines.append((ACTION_PUSHED, _("VTiger already had ERPNext's values")))
		for decision in result.conflicts:
			self.counts["conflicts"] += 1
			lines.append((ACTION_CONFLICT, conflict_message(decision, self.connection.conflict_rule)))
		return lines

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
			self._catalog = read_catalog(get_engine(self.connection.connection_settings()))
		return self._catalog

	def _retry(self, row: Any, exc: Exception) -> None:
		attempts = (row.attempts or 0) + 1
		reason = redact(str(exc) or type(exc).__name__)
		if isinstance(exc, MappingError) and not exc.problems:
			reason = _("The mapping no longer writes this document to VTiger")
		gave_up = attempts >= MAX_ATTEMPTS
		frappe.db.set_value(
			OUTBOX_DOCTYPE,
			row.name,
			{
				"attempts": attempts,
				"status": OUTBOX_FAILED if gave_up else OUTBOX_PENDING,
				"next_attempt_at": None if gave_up else next_attempt(attempts, now_datetime()),
				"last_error": reason[:MESSAGE_LENGTH],
				"log": self.log.name,
			},
		)
		if gave_up:
			message = _("Not written to VTiger after {0} attempts: {1}").format(attempts, reason)
		else:
			message = _("Not written to VTiger yet (attempt {0}, tried again later): {1}").format(
				attempts, reason
			)
		self._line(row, ACTION_FAILED if gave_up else ACTION_RETRYING, message)
		self.counts["failed"] += 1
		frappe.db.commit()

	def _line(self, row: Any, action: str, message: str) -> None:
		self.log.append(
			"lines",
			{
				"direction": DIRECTION_PUSH,
				"vtiger_id": row.vtiger_id,
				"vtiger_module": WRITEBACK_MODULES.get(row.reference_doctype) or "",
				"entity": row.kind,
				"target_doctype": row.reference_doctype,
				"target_name": row.reference_name,
				"action": action,
				"message": redact(message)[:MESSAGE_LENGTH],
			},
		)
		self.log.save(ignore_permissions=True)

	def finish(self) -> str:
		sent, failed = self.counts["sent"], self.counts["failed"]
		status = STATUS_SUCCESS if not failed else (STATUS_PARTIAL if sent else STATUS_FAILED)
		ended = now_datetime()
		self.log.reload()
		self.log.update(
			{
				"status": status,
				"ended_at": ended,
				"duration": (ended - self.log.started_at).total_seconds(),
				"updated": sent,
				"failed": failed,
				"records_read": sent + failed,
			}
		)
		self.log.save(ignore_permissions=True)
		frappe.db.commit()
		frappe.publish_realtime(
			REFRESH_EVENT, {"log": self.log.name}, doctype=SETTING_DOCTYPE, docname=self.connection.name
		)
		return self.log.name


def pending_count(connection: str) -> int:
	return frappe.db.count(OUTBOX_DOCTYPE, {"connection": connection, "status": OUTBOX_PENDING})
