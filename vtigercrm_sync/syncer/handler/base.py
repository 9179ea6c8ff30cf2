"""Apply a document plan to Frappe, idempotently.

A document is found by its ``vtiger_id`` first, then by the plan's match key (so an existing ERPNext record is
adopted rather than duplicated); it is written only when the plan's content hash differs from the one stored on
it, and created when absent. Links are resolved through a :class:`Resolver` that knows what this run wrote.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import strip_html

from vtigercrm_sync.constants import (
	CONNECTION_FIELD,
	ERASED_HASH,
	LOG_DOCTYPE,
	MODULE_FIELD,
	PULLED_FIELD,
	REFUSED_FIELD,
	VTIGER_HASH_FIELD,
	VTIGER_ID_FIELD,
)
from vtigercrm_sync.syncer.handler.guard import FieldGuard, Refusal
from vtigercrm_sync.syncer.plan import DocumentPlan, Link


@dataclass(frozen=True)
class SyncSettings:
	"""The ERPNext defaults of one VTigerCRM Sync connection that handlers need."""

	company: str
	customer_group: str | None = None
	territory: str | None = None
	selling_price_list: str | None = None
	default_currency: str | None = None
	item_group: str | None = None
	default_country: str | None = None
	delivery_rule: str = "Due date, else order date + days"
	delivery_days: int = 7
	submit_statuses: frozenset[str] = frozenset()
	tax_accounts: dict[str, tuple[str, str | None]] = field(default_factory=dict)
	deleted_record_action: str = "Ignore"
	units: dict[str, str] = field(default_factory=dict)
	"""VTiger usage unit -> ERPNext UOM."""
	vtiger_base_currency: str | None = None
	connection: str | None = None
	log: str | None = None
	id_prefix: str = ""
	"""The run's Sync Log: a document's timeline credits the sync, and links to it, for what the run wrote."""


@dataclass(frozen=True)
class Outcome:
	action: str
	name: str | None
	message: str | None = None
	repeat: bool = False
	"""The same document was already handled earlier in this run (an order's customer, say): not counted again."""
	warnings: tuple[str, ...] = ()
	"""What the document lacks that VTiger has: a refused value, a link left empty."""
	commit_soon: bool = False
	"""The save locked rows that records of other workers need too (a submitted order's stock reservation in
	``tabBin``): the run commits right after the record when workers share the stage."""


MADE_BY_THE_SAVE = frozenset({"Bin"})
"""Documents ERPNext's save creates when first needed and, when another transaction inserted the same one first,
reads back (``erpnext.stock.utils._create_bin``: a submitted order's reserved quantity per item and warehouse).
Under REPEATABLE READ the read cannot see a row committed after this transaction's snapshot, and the save fails
with DoesNotExistError: the group is written again, as after a lock, and the new transaction sees it."""


class LinkNotFound(frappe.ValidationError):
	pass


class SettingMissing(frappe.ValidationError):
	"""A document that cannot be written until something is set up (a tax mapped, an exchange rate added), which
	``setting`` names: its record waits for that (``syncer/run/waiting.py``) instead of failing every run."""

	kind = ""

	def __init__(self, setting: str, message: str):
		super().__init__(message)
		self.setting = setting


class TaxNotMapped(SettingMissing):
	kind = "Tax not mapped"


class NoExchangeRate(SettingMissing):
	kind = "No exchange rate"


class CreatedConcurrently(frappe.ValidationError):
	"""Another job committed the document (its VTiger id or its name) while this one was creating it. The run
	writes its uncommitted group again, as after a deadlock, and then finds the document and updates it."""


class Resolver:
	"""(doctype, vtiger_id) -> document name, for this run. Entries follow the database: staged while a record is
	written, kept once it is, and trusted across records only once its transaction commits, so a rollback (a
	failed record, a deadlock) leaves no name behind that the database no longer has."""

	def __init__(self) -> None:
		self._committed: dict[tuple[str, str], tuple[str, str]] = {}
		self._uncommitted: dict[tuple[str, str], tuple[str, str]] = {}
		self._staged: dict[tuple[str, str], tuple[str, str]] = {}
		self._stored: dict[tuple[str, str], tuple[str, str | None] | None] = {}
		self._memos: dict[tuple, Any] = {}

	def memo(self, key: tuple, compute: Callable[[], Any]) -> Any:
		"""A lookup done once per group of records rather than once per document (an order's address snapshot
		against its customer's addresses); forgotten, like the prefetch, when the group is written again, and by
		:meth:`forget` when the run itself changes what it read."""
		if key not in self._memos:
			self._memos[key] = compute()
		return self._memos[key]

	def forget(self) -> None:
		self._memos.clear()

	def prefetch(self, wanted: dict[str, set[str]]) -> None:
		"""Read name and stored hash of every document a group of records may touch, one query per doctype,
		instead of one to three queries per document; a VTiger id without a document is remembered as such."""
		self._stored.clear()
		self._memos.clear()
		for doctype, vtiger_ids in wanted.items():
			for chunk in _chunks(sorted(vtiger_ids), 1000):
				rows = frappe.get_all(
					doctype,
					filters={VTIGER_ID_FIELD: ("in", chunk)},
					fields=["name", VTIGER_ID_FIELD, VTIGER_HASH_FIELD],
				)
				self._stored.update(dict.fromkeys(((doctype, vtiger_id) for vtiger_id in chunk), None))
				self._stored.update(
					((doctype, row[VTIGER_ID_FIELD]), (row.name, row.get(VTIGER_HASH_FIELD))) for row in rows
				)

	def stored(self, doctype: str, vtiger_id: str) -> tuple[str, str | None] | bool | None:
		"""The prefetched (name, hash) of the document with this VTiger id, None when there is none, False
		when it was not prefetched."""
		return self._stored.get((doctype, vtiger_id), False)

	def get(self, doctype: str, vtiger_id: str) -> tuple[str, str] | None:
		key = (doctype, vtiger_id)
		return self._staged.get(key) or self._uncommitted.get(key) or self._committed.get(key)

	def remember(self, doctype: str, vtiger_id: str, name: str, content_hash: str) -> None:
		self._staged[(doctype, vtiger_id)] = (name, content_hash)

	def name_of(self, link: Link) -> str:
		known = self.get(link.doctype, link.vtiger_id)
		if known:
			return known[0]
		stored = self.stored(link.doctype, link.vtiger_id)
		if stored is False:
			name = frappe.db.get_value(link.doctype, {VTIGER_ID_FIELD: link.vtiger_id}, "name")
		else:
			name = stored and stored[0]
		if not name:
			raise LinkNotFound(
				_("{0} with VTiger ID {1} was not synced, so {2} cannot link to it").format(
					_(link.doctype), link.vtiger_id, link.fieldname or _("this document")
				)
			)
		return name

	def accept(self) -> None:
		"""The record's documents are written (not yet committed)."""
		self._uncommitted.update(self._staged)
		self._staged.clear()

	def commit(self) -> None:
		self._committed.update(self._uncommitted)
		self._uncommitted.clear()

	def rollback(self) -> None:
		"""Forget what the rolled-back group wrote, and what was prefetched: another job may have created one of
		the documents since (which is why the group is written again)."""
		self._staged.clear()
		self._uncommitted.clear()
		self._stored.clear()
		self._memos.clear()


class DocumentHandler:
	"""Writes one doctype. Subclasses adjust values in :meth:`prepare` and may act in :meth:`after_save`."""

	settings_fields: tuple[str, ...] = ()
	"""The connection settings this handler applies: the stored hash covers them, so changing one of them makes
	the next Full Resync rewrite exactly the documents it shapes."""
	version = 1
	"""Raised when the handler writes its documents differently, for the same reason."""
	plan_settings: tuple[str, ...] = ()
	"""Settings of which :meth:`shaping` takes the part a document uses (the tax accounts of its taxes): a run's
	fingerprints of unchanged records cover them whole (``syncer/run/fingerprint.py``)."""
	reshapes: frozenset[str] = frozenset()
	"""Fields :meth:`prepare` may write otherwise than VTiger holds them (a country's name), besides any value the
	guard refuses: an ERPNext edit of one can only be judged against ``DocumentPlan.pulled``."""

	cleared_fields: frozenset[str] = frozenset()
	"""Optional link fields emptied when the plan names no target (``factory.mirrored_links``)."""
	mirrored_doctypes: frozenset[str] = frozenset()
	"""Doctypes of the dynamic links kept equal to VTiger's (``factory.mirrored_links``)."""

	def __init__(self, doctype: str, settings: SyncSettings):
		self.doctype = doctype
		self.settings = settings
		self.meta = frappe.get_meta(doctype)
		self.guard = FieldGuard(doctype)
		self._memo: dict[tuple, Any] = {}
		self._resolved: set[tuple[str, str]] = set()
		"""(doctype, name) of the links the document being filled resolved through the run."""

	def once(self, key: tuple, compute: Callable[[], Any]) -> Any:
		"""A value that does not change during a run (a default from ERPNext's settings, a country), looked up
		once per run instead of once per document."""
		if key not in self._memo:
			self._memo[key] = compute()
		return self._memo[key]

	def shaping(self, plan: DocumentPlan) -> dict[str, Any]:
		"""The settings that shape the document written from ``plan``."""
		return {name: getattr(self.settings, name) for name in self.settings_fields}

	def stored_hash(self, plan: DocumentPlan) -> str:
		"""What a document written from ``plan`` with these settings carries in ``vtiger_hash``."""
		shaping = sorted((name, stable(value)) for name, value in self.shaping(plan).items())
		fingerprint = repr((self.__class__.__name__, self.version, shaping))
		return hashlib.sha256(f"{plan.content_hash}|{fingerprint}".encode()).hexdigest()

	def apply(self, plan: DocumentPlan, resolver: Resolver) -> Outcome:
		content_hash = self.stored_hash(plan)
		known = resolver.get(plan.doctype, plan.vtiger_id)
		if known and known[1] == content_hash:
			return Outcome("Skipped", known[0], repeat=True)
		name, stored_hash = self.find(plan, resolver)
		if name and stored_hash == content_hash:
			resolver.remember(plan.doctype, plan.vtiger_id, name, content_hash)
			return Outcome("Skipped", name)
		if name and stored_hash == ERASED_HASH:
			resolver.remember(plan.doctype, plan.vtiger_id, name, content_hash)
			return Outcome(
				"Skipped",
				name,
				_(
					"its personal data was erased on request; VTiger's values are not applied (erase it in VTiger)"
				),
			)
		doc = frappe.get_doc(self.doctype, name) if name else frappe.new_doc(self.doctype)
		if doc.docstatus != 0:
			resolver.remember(plan.doctype, plan.vtiger_id, doc.name, content_hash)
			doc = self.submitted(doc, plan, resolver, content_hash)
			if isinstance(doc, Outcome):
				return doc
		warnings: list[str] = []
		self.fill(doc, plan, resolver, warnings)
		doc.set(VTIGER_ID_FIELD, doc.get(VTIGER_ID_FIELD) or plan.vtiger_id)
		doc.set(VTIGER_HASH_FIELD, content_hash)
		if plan.pulled and self.meta.has_field(PULLED_FIELD):
			doc.set(PULLED_FIELD, pulled_json(plan.pulled))
		for fieldname, value in ((CONNECTION_FIELD, self.settings.connection), (MODULE_FIELD, plan.module)):
			if self.meta.has_field(fieldname):
				doc.set(fieldname, value)
		if self.settings.log:
			doc.flags.updater_reference = {
				"doctype": LOG_DOCTYPE,
				"docname": self.settings.log,
				"label": _("via VTiger sync {0}").format(self.settings.log),
			}
		doc.flags.ignore_permissions = True
		doc.flags.ignore_mandatory = False
		doc.flags.vtiger_inbound = True  # what came from VTiger is never pushed back (syncer/push/pusher.py)
		is_new = doc.is_new()
		try:
			name = is_new and self.new_name(doc)
			if name:
				doc.insert(set_name=name)
			else:
				doc.save(ignore_version=False)  # the timeline credits the sync, tests included
		except (frappe.UniqueValidationError, frappe.DuplicateEntryError) as exc:
			if is_new and self.created_concurrently(doc, plan):
				raise CreatedConcurrently(
					_("{0} {1} was created by another job at the same time").format(_(self.doctype), doc.name)
				) from exc
			raise
		except frappe.DoesNotExistError as exc:
			if getattr(exc, "doctype", None) in MADE_BY_THE_SAVE:
				raise CreatedConcurrently(
					_("{0} {1} needed a {2} another job created at the same time").format(
						_(self.doctype), doc.name, _(exc.doctype)
					)
				) from exc
			raise
		message = self.after_save(doc, plan, resolver)
		self.apply_primary_links(doc, plan, resolver)
		resolver.remember(plan.doctype, plan.vtiger_id, doc.name, content_hash)
		return Outcome(
			"Created" if is_new else "Updated",
			doc.name,
			message,
			warnings=tuple(warnings),
			commit_soon=self.locks_shared_rows(doc),
		)

	def submitted(
		self, doc: Document, plan: DocumentPlan, resolver: Resolver, content_hash: str
	) -> Outcome | Document:
		"""What VTiger's change does to a submitted or cancelled document: nothing (said), or the document to
		write instead (an amendment)."""
		return Outcome("Skipped", doc.name, _("submitted in ERPNext; VTiger changes were not applied"))

	def created_concurrently(self, doc: Document, plan: DocumentPlan) -> bool:
		"""Whether the row that collided was committed after this transaction's snapshot: a locking read sees
		it, the snapshot does not (a document that was always there is a real conflict, and fails)."""
		query = f"SELECT name FROM `tab{self.doctype}` WHERE {VTIGER_ID_FIELD} = %s OR name = %s"
		values = (plan.vtiger_id, doc.name)
		return bool(frappe.db.sql(f"{query} LOCK IN SHARE MODE", values)) and not frappe.db.sql(query, values)

	def find(self, plan: DocumentPlan, resolver: Resolver) -> tuple[str | None, str | None]:
		"""By VTiger id, else by the match key; an adopted document keeps its own name."""
		stored = resolver.stored(self.doctype, plan.vtiger_id)
		if stored is False:
			found = frappe.db.get_value(
				self.doctype, {VTIGER_ID_FIELD: plan.vtiger_id}, ["name", VTIGER_HASH_FIELD], as_dict=True
			)
			stored = (found.name, found.get(VTIGER_HASH_FIELD)) if found else None
		if stored:
			return stored
		if plan.match:
			filters = {**plan.match, VTIGER_ID_FIELD: ["is", "not set"]}
			name = frappe.db.get_value(self.doctype, filters, "name")
			if name:
				return name, None
		return None, None

	def fill(self, doc: Document, plan: DocumentPlan, resolver: Resolver, warnings: list[str]) -> None:
		"""Set the plan's values, rows and links on ``doc``; what ERPNext would refuse is set aside, and said."""
		refusals: list[Refusal] = []
		self._resolved = set()
		values = self.prepare(dict(plan.values), plan, resolver, refusals)
		for link in plan.links:
			if link.kind == "field":
				values[link.fieldname] = self.link_name(link, resolver, warnings)
		named = {link.fieldname for link in plan.links if link.kind == "field"}
		for fieldname in self.cleared_fields - named:
			if self.meta.has_field(fieldname):
				values[fieldname] = None  # VTiger's reference is empty now (0, deleted or purged)
		children = {
			table: self.prepare_rows(table, self._linked_rows(table, rows, plan, resolver, warnings), values)
			for table, rows in plan.children.items()
		}
		refusals += self.guard.check(values, children, frozenset(self._resolved))
		doc.update(values)
		for table, rows in children.items():
			doc.set(table, [])
			for row in rows:
				doc.append(table, row)
		for fieldname, secret in plan.secrets.items():
			doc.set(fieldname, secret)
		self.set_dynamic_links(doc, plan, resolver, warnings)
		if self.meta.has_field(REFUSED_FIELD):
			doc.set(REFUSED_FIELD, "\n".join(f"{r} ({r.reason})" for r in refusals) or None)
		warnings.extend(refusal_warning(refusal) for refusal in refusals)

	def _linked_rows(
		self,
		table: str,
		rows: list[dict[str, Any]],
		plan: DocumentPlan,
		resolver: Resolver,
		warnings: list[str],
	) -> list[dict[str, Any]]:
		"""Plain copies of a table's rows with each row's links (an order line's Item) resolved to names."""
		row_links = plan.child_links.get(table) or [() for _ in rows]
		linked = []
		for row, links in zip(rows, row_links, strict=True):
			row = {key: _plain(value) for key, value in row.items()}
			for link in links:
				row[link.fieldname] = self.link_name(link, resolver, warnings)
			linked.append(row)
		return linked

	def link_name(self, link: Link, resolver: Resolver, warnings: list[str]) -> str | None:
		"""The linked document's name; a missing one fails a required link and leaves any other empty. What
		it finds exists: the guard does not look it up again."""
		try:
			name = resolver.name_of(link)
			self._resolved.add((link.doctype, name))
			return name
		except LinkNotFound as exc:
			if link.required:
				raise
			warnings.append(_("{0} left empty: {1}").format(link.fieldname or _(link.doctype), exc))
			return None

	def prepare(
		self, values: dict[str, Any], plan: DocumentPlan, resolver: Resolver, refusals: list[Refusal]
	) -> dict[str, Any]:
		return {key: _plain(value) for key, value in values.items()}

	def prepare_rows(
		self, table: str, rows: list[dict[str, Any]], values: dict[str, Any]
	) -> list[dict[str, Any]]:
		"""Child rows of ``table``; ``values`` are the parent's prepared values."""
		return rows

	def set_dynamic_links(
		self, doc: Document, plan: DocumentPlan, resolver: Resolver, warnings: list[str]
	) -> None:
		existing = {(row.link_doctype, row.link_name) for row in doc.get("links") or []}
		wanted = set()
		for link in plan.links:
			if link.kind != "dynamic":
				continue
			name = self.link_name(link, resolver, warnings)
			wanted.add((link.doctype, name))
			if name and (link.doctype, name) not in existing:
				doc.append("links", {"link_doctype": link.doctype, "link_name": name})
				existing.add((link.doctype, name))
		for row in list(doc.get("links") or []):
			if (row.link_doctype, row.link_name) not in wanted and self.stale_link(doc, row):
				doc.remove(row)

	def stale_link(self, doc: Document, row: Any) -> bool:
		"""Whether a dynamic link names a document this connection synced that VTiger no longer links: links
		added in ERPNext, or to another connection's documents, stay; so does the link an order of that customer
		naming this contact needs (``link_contact_to_customer``)."""
		if row.link_doctype not in self.mirrored_doctypes:
			return False
		target = frappe.db.get_value(row.link_doctype, row.link_name, VTIGER_ID_FIELD)
		if not target or not target.startswith(self.settings.id_prefix):
			return False
		return not (
			doc.doctype == "Contact"
			and frappe.db.exists(
				"Sales Order", {"customer": row.link_name, "contact_person": doc.name, "docstatus": ("<", 2)}
			)
		)

	def apply_primary_links(self, doc: Document, plan: DocumentPlan, resolver: Resolver) -> None:
		"""Point the target (the Customer) at this document when the mapping says it is the primary one, with
		the values the target fetches from it (a customer's e-mail and mobile from its primary contact). Set
		in place, as ERPNext's own ``Customer.create_primary_contact`` and ``create_primary_address`` set them:
		a whole save of the target for one pointer ran every check of the customer again, twice per account."""
		for link in plan.links:
			if link.kind != "primary":
				continue
			name = resolver.name_of(link)
			fetched = frappe.get_meta(link.doctype).get_fields_to_fetch(link.fieldname)
			fields = [link.fieldname, *(df.fieldname for df in fetched)]
			current = frappe.db.get_value(link.doctype, name, fields, as_dict=True)
			values = {link.fieldname: doc.name}
			for df in fetched:  # as Frappe's save fetches them (``BaseDocument.get_invalid_links``)
				if not (df.fetch_if_empty and current.get(df.fieldname)):
					values[df.fieldname] = doc.get(df.fetch_from.split(".")[-1])
			if any((current.get(field) or None) != (value or None) for field, value in values.items()):
				frappe.db.set_value(link.doctype, name, values)

	def after_save(self, doc: Document, plan: DocumentPlan, resolver: Resolver) -> str | None:
		"""Work that needs the saved document; may return a note for the log line."""
		return None

	def new_name(self, doc: Document) -> str | None:
		"""The name of a new document, when the handler names it rather than Frappe's naming."""
		return None

	def locks_shared_rows(self, doc: Document) -> bool:
		"""Whether the save locked rows that other records' saves need too (:attr:`Outcome.commit_soon`)."""
		return False


def pulled_json(pulled: dict[str, Any]) -> str:
	"""``DocumentPlan.pulled`` as stored on the document (dates and numbers as their text, which is how pushes
	compare them)."""
	return json.dumps(pulled, sort_keys=True, default=str, ensure_ascii=False)


def refusal_warning(refusal: Refusal) -> str:
	return _("{0}: {1} refused by ERPNext ({2}); kept in {3}").format(
		refusal.label, refusal.value, refusal.reason, _("VTiger Values ERPNext Refused")
	)


def _chunks(values: list[str], size: int) -> list[list[str]]:
	return [values[start : start + size] for start in range(0, len(values), size)]


def stable(value: Any) -> Any:
	"""A setting in a form whose repr does not depend on the order its rows were entered in."""
	if isinstance(value, dict):
		return tuple(sorted(value.items()))
	if isinstance(value, frozenset | set):
		return tuple(sorted(value))
	return value


def _plain(value: Any) -> Any:
	"""Decimals become floats for Frappe's numeric fields; everything else passes through."""
	return float(value) if isinstance(value, Decimal) else value


def error_text(exc: BaseException) -> str:
	"""The message a user can act on: Frappe's own text when it has one, without markup."""
	message = str(exc) or exc.__class__.__name__
	return strip_html(message).strip()


def rollback_or_reconnect(timed_out: bool = False) -> None:
	"""Roll back the transaction. A time-out that struck in the middle of a query (RQ's SIGALRM) leaves the
	connection unusable, and its transaction gone with it: then open a new one, so the run can still close its log.
	After a time-out (``timed_out``) the connection is always replaced: a query cut off mid-result leaves its
	rows unread, and a ROLLBACK sent then would read them as its answer and every later query another's."""
	try:
		if timed_out:
			raise ConnectionAbortedError
		frappe.db.rollback()
	except Exception:
		try:
			frappe.db.close()
		except Exception:
			frappe.db._conn = None  # already closed by the driver
		frappe.db.connect()
	frappe.clear_messages()
