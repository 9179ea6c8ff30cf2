"""A run's fingerprints: which records of a page are unchanged (not read, not planned), and what each record it
wrote leaves behind for the next run.

Every record a run writes whole (its own documents: the ``Own`` stage, or a run or retry that is not split)
leaves its fingerprint (``syncer/services/fingerprint.py``) in the group's transaction, so it is never ahead of
what committed. A record that failed for a reason in its data or the settings leaves it too, and waits
(``waiting.py``); one that failed otherwise (a lock, a lost connection) leaves none, so the next run reads it again.
What else shapes a stream's plans is one digest per stream (:func:`stream_shaping`): the settings its handlers
apply, the mapping, the code's :data:`FINGERPRINT_VERSION`; changing one re-reads that stream's records only, and
the content hash still decides which documents are written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import frappe
from frappe.utils import now_datetime
from sqlalchemy.orm import Session

from vtigercrm_sync.config.config import read_json
from vtigercrm_sync.config.spec import HANDLER_CONFIG, PRESETS
from vtigercrm_sync.constants import CANCELLED_FIELD, CHANGED_FIELD, FINGERPRINT_DOCTYPE, VTIGER_ID_FIELD
from vtigercrm_sync.syncer.handler.base import stable
from vtigercrm_sync.syncer.plan import RecordRef, VTigerId
from vtigercrm_sync.syncer.run.waiting import Failure, clear_waiting, row_name, store_waiting
from vtigercrm_sync.syncer.services.fingerprint import (
	bundle_sources,
	deleted_fingerprint,
	digest,
	fingerprint,
	source_list,
	unchanged_records,
)
from vtigercrm_sync.syncer.services.query import Bundle

FINGERPRINT_VERSION = 1
"""Raised when a release plans or writes records differently: the next run reads every record again once."""
META = ("creation", "modified", "modified_by", "owner", "docstatus", "idx")


class Fingerprints:
	"""The fingerprints of one run: compared per page, noted per record written, stored with each group."""

	def __init__(self, run: Any):
		"""``run``: the :class:`~vtigercrm_sync.syncer.run.run.SyncRun` whose handlers, settings and reader
		shape its streams."""
		self.connection = run.doc.name
		self.prefix = run.doc.id_prefix or ""
		self.shaping = {module: stream_shaping(run, module) for module in run.streams}
		self.deleted_shaping = digest(FINGERPRINT_VERSION, run.settings.deleted_record_action)
		self._noted: dict[int, tuple[str, str, str, list[Failure]] | None] = {}

	def unchanged(self, module: str) -> Callable[[Session, list[Any]], set[int]]:
		"""For :meth:`VTigerReader.iter_changes`: the page's records whose fingerprint did not move, from one
		query of the stored fingerprints and one of their sources' times (in the page's VTiger session)."""

		def compare(session: Session, keys: list[Any]) -> set[int]:
			names = {self.row_name(row.crmid): row.crmid for row in keys}
			rows = frappe.get_all(
				FINGERPRINT_DOCTYPE,
				filters={"name": ("in", list(names))},
				fields=["name", "fingerprint", "sources"],
			)
			stored = {names[row.name]: (row.fingerprint, row.sources) for row in rows}
			deleted = {row.crmid: row.modifiedtime for row in keys if row.deleted and row.crmid in stored}
			live = {crmid: value for crmid, value in stored.items() if crmid not in deleted}
			return {
				crmid
				for crmid, modifiedtime in deleted.items()
				if stored[crmid][0] == deleted_fingerprint(modifiedtime, self.deleted_shaping)
			} | (unchanged_records(session, live, self.shaping[module]) if live else set())

		return compare

	def note(self, bundle: Bundle, failures: list[Failure]) -> None:
		"""A record was written (or failed): what its commit stores."""
		module = bundle.source.module
		sources = bundle_sources(bundle)
		self._noted[bundle.source.crmid] = (
			module,
			fingerprint(sources, self.shaping[module]),
			source_list(sources),
			failures,
		)

	def note_deleted(self, ref: RecordRef, modifiedtime: datetime, failures: list[Failure]) -> None:
		"""A record deleted in VTiger waits for nothing; once the policy reached its documents it is left
		alone until it is deleted again or the policy changes."""
		if failures:
			self._noted[ref.crmid] = None
			return
		fingerprint_ = deleted_fingerprint(modifiedtime, self.deleted_shaping)
		self._noted[ref.crmid] = (ref.module, fingerprint_, "", [])

	def discard(self) -> None:
		"""The group was rolled back: it is written, and noted, again."""
		self._noted.clear()

	def flush(self, log: str | None) -> None:
		"""Store what the group's records leave, inside the group's transaction: a fingerprint for each record
		written, waiting or deleted, none for a record that failed for a reason not in its data (nor its waiting
		row)."""
		keep, waiting, forget, landed = [], [], [], []
		for crmid, noted in self._noted.items():
			if noted is None:
				forget.append(crmid)
				continue
			module, fingerprint_, sources, failures = noted
			if any(failure.kind is None for failure in failures):
				forget.append(crmid)
				continue
			keep.append((crmid, module, fingerprint_, sources))
			if failures:
				waiting.append((module, crmid, fingerprint_, failures))
			else:
				landed.append(crmid)
		self._upsert(keep)
		if forget:
			frappe.db.delete(FINGERPRINT_DOCTYPE, {"name": ("in", [self.row_name(c) for c in forget])})
		clear_waiting(self.connection, [*forget, *landed])
		store_waiting(self.connection, log, waiting)
		self._noted.clear()

	def _upsert(self, rows: list[tuple[int, str, str, str]]) -> None:
		if not rows:
			return
		now, user = now_datetime(), frappe.session.user
		columns = ("name", *META, "connection", "module", "crmid", "record", "fingerprint", "sources")
		values = [
			(
				self.row_name(crmid),
				*(now, now, user, user, 0, 0),
				self.connection,
				module,
				crmid,
				str(VTigerId(self.prefix, crmid)),
				fingerprint_,
				sources,
			)
			for crmid, module, fingerprint_, sources in rows
		]
		placeholders = ", ".join(["(" + ", ".join(["%s"] * len(columns)) + ")"] * len(values))
		frappe.db.sql(
			f"""INSERT INTO `tab{FINGERPRINT_DOCTYPE}` ({", ".join(f"`{c}`" for c in columns)})
			VALUES {placeholders}
			ON DUPLICATE KEY UPDATE fingerprint = VALUES(fingerprint), sources = VALUES(sources),
			module = VALUES(module), modified = VALUES(modified)""",
			[value for row in values for value in row],
		)

	def row_name(self, crmid: int) -> str:
		return row_name(self.connection, crmid)


def stream_shaping(run: Any, module: str) -> str:
	"""What shapes the plans of a stream's records besides the records themselves: the settings each of its
	handlers applies (whole, also those a document takes a part of), the mapping and the handlers' config, the
	defaults and catalog the planner uses, and the code's versions."""
	doc = run.doc
	names = {entity.name.split("#")[0] for entity in run.reader.mapping.for_stream(module)}
	handlers = sorted(
		(
			name,
			handler.__class__.__name__,
			handler.version,
			tuple(
				(field, stable(getattr(run.settings, field)))
				for field in (*handler.settings_fields, *handler.plan_settings)
			),
		)
		for name, handler in run.handlers.items()
		if name in names
	)
	if doc.mapping_preset == "custom":
		mapping = json.loads(doc.custom_mapping or "{}")
	else:
		mapping = read_json(PRESETS[doc.mapping_preset])
	return digest(
		FINGERPRINT_VERSION,
		module,
		handlers,
		json.dumps([mapping, read_json(HANDLER_CONFIG)], sort_keys=True, default=str),
		bool(doc.store_full_card_number),
		run.settings.default_country,
		run.settings.id_prefix,
		repr(run.reader.catalog.taxes),
		hashlib.sha256(run.planner.context.hash_key).hexdigest(),
		(bool(doc.push_edits), doc.conflict_rule, doc.vtiger_time_zone),
	)


def forget(connection: str, crmids: Iterable[int]) -> None:
	"""Records the next run reads whatever their fingerprint (the reconciliation cleared their hashes)."""
	names = [row_name(connection, crmid) for crmid in crmids]
	if names:
		frappe.db.delete(FINGERPRINT_DOCTYPE, {"name": ("in", names)})


def forget_all(connection: str) -> None:
	"""Rebuild all: every record of the connection is read and planned again."""
	frappe.db.delete(FINGERPRINT_DOCTYPE, {"connection": connection})


def forget_document(doc, method=None) -> None:
	"""``on_trash`` of a synced doctype: a document deleted in ERPNext is made again by the next Full Resync, so
	its record's fingerprint goes with it."""
	vtiger_id = doc.get(VTIGER_ID_FIELD)
	if not vtiger_id:
		return
	try:
		record = str(VTigerId.parse(vtiger_id).record)
	except ValueError:
		return
	frappe.db.delete(FINGERPRINT_DOCTYPE, {"record": record})


def forget_offered_order(doc, method=None) -> None:
	"""``on_cancel`` of a Sales Order marked changed or cancelled in VTiger after submit: ERPNext moved, not its
	sources, so the next run reads the record again and settles the offer (a cancel on both sides is
	acknowledged, never amended)."""
	if doc.get(CHANGED_FIELD) or doc.get(CANCELLED_FIELD):
		forget_document(doc)
