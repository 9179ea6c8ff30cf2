"""Apply a document plan to Frappe, idempotently.

A document is found by its ``vtiger_id`` first, then by the plan's match key (so an existing ERPNext record is
adopted rather than duplicated); it is written only when the plan's content hash differs from the one stored on
it, and created when absent. Links are resolved through a :class:`Resolver` that knows what this run wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import strip_html

from vtigercrm_sync.constants import VTIGER_HASH_FIELD, VTIGER_ID_FIELD
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


@dataclass(frozen=True)
class Outcome:
	action: str
	name: str | None
	message: str | None = None
	repeat: bool = False
	"""The same document was already handled earlier in this run (an order's customer, say): not counted again."""


class LinkNotFound(frappe.ValidationError):
	pass


class Resolver:
	"""(doctype, vtiger_id) -> document name, for this run; staged per record so a rolled-back record leaves
	nothing behind."""

	def __init__(self) -> None:
		self._committed: dict[tuple[str, str], tuple[str, str]] = {}
		self._staged: dict[tuple[str, str], tuple[str, str]] = {}

	def get(self, doctype: str, vtiger_id: str) -> tuple[str, str] | None:
		key = (doctype, vtiger_id)
		return self._staged.get(key) or self._committed.get(key)

	def remember(self, doctype: str, vtiger_id: str, name: str, content_hash: str) -> None:
		self._staged[(doctype, vtiger_id)] = (name, content_hash)

	def name_of(self, link: Link) -> str:
		known = self.get(link.doctype, link.vtiger_id)
		if known:
			return known[0]
		name = frappe.db.get_value(link.doctype, {VTIGER_ID_FIELD: link.vtiger_id}, "name")
		if not name:
			raise LinkNotFound(
				_("{0} with VTiger ID {1} was not synced, so {2} cannot link to it").format(
					_(link.doctype), link.vtiger_id, link.fieldname or _("this document")
				)
			)
		return name

	def accept(self) -> None:
		self._committed.update(self._staged)
		self._staged.clear()

	def discard(self) -> None:
		self._staged.clear()


class DocumentHandler:
	"""Writes one doctype. Subclasses adjust values in :meth:`prepare` and may act in :meth:`after_save`."""

	def __init__(self, doctype: str, settings: SyncSettings):
		self.doctype = doctype
		self.settings = settings
		self.meta = frappe.get_meta(doctype)

	def apply(self, plan: DocumentPlan, resolver: Resolver) -> Outcome:
		known = resolver.get(plan.doctype, plan.vtiger_id)
		if known and known[1] == plan.content_hash:
			return Outcome("Skipped", known[0], repeat=True)
		name, stored_hash = self.find(plan)
		if name and stored_hash == plan.content_hash:
			resolver.remember(plan.doctype, plan.vtiger_id, name, plan.content_hash)
			return Outcome("Skipped", name)
		doc = frappe.get_doc(self.doctype, name) if name else frappe.new_doc(self.doctype)
		if doc.docstatus != 0:
			resolver.remember(plan.doctype, plan.vtiger_id, doc.name, plan.content_hash)
			return Outcome("Skipped", doc.name, _("submitted in ERPNext; VTiger changes were not applied"))
		self.fill(doc, plan, resolver)
		doc.set(VTIGER_ID_FIELD, doc.get(VTIGER_ID_FIELD) or plan.vtiger_id)
		doc.set(VTIGER_HASH_FIELD, plan.content_hash)
		doc.flags.ignore_permissions = True
		doc.flags.ignore_mandatory = False
		is_new = doc.is_new()
		doc.save()
		message = self.after_save(doc, plan, resolver)
		self.apply_primary_links(doc, plan, resolver)
		resolver.remember(plan.doctype, plan.vtiger_id, doc.name, plan.content_hash)
		return Outcome("Created" if is_new else "Updated", doc.name, message)

	def find(self, plan: DocumentPlan) -> tuple[str | None, str | None]:
		"""By VTiger id, else by the match key; an adopted document keeps its own name."""
		found = frappe.db.get_value(
			self.doctype, {VTIGER_ID_FIELD: plan.vtiger_id}, ["name", VTIGER_HASH_FIELD], as_dict=True
		)
		if found:
			return found.name, found.get(VTIGER_HASH_FIELD)
		if plan.match:
			filters = {**plan.match, VTIGER_ID_FIELD: ["is", "not set"]}
			name = frappe.db.get_value(self.doctype, filters, "name")
			if name:
				return name, None
		return None, None

	def fill(self, doc: Document, plan: DocumentPlan, resolver: Resolver) -> None:
		values = self.prepare(dict(plan.values), plan, resolver)
		for link in plan.links:
			if link.kind == "field":
				values[link.fieldname] = resolver.name_of(link)
		doc.update(values)
		for table, rows in plan.children.items():
			doc.set(table, [])
			for row in self.prepare_rows(table, rows, values):
				doc.append(table, row)
		for fieldname, secret in plan.secrets.items():
			doc.set(fieldname, secret)
		self.set_dynamic_links(doc, plan, resolver)

	def prepare(self, values: dict[str, Any], plan: DocumentPlan, resolver: Resolver) -> dict[str, Any]:
		return {key: _plain(value) for key, value in values.items()}

	def prepare_rows(
		self, table: str, rows: list[dict[str, Any]], values: dict[str, Any]
	) -> list[dict[str, Any]]:
		"""Child rows of ``table``; ``values`` are the parent's prepared values."""
		return [{key: _plain(value) for key, value in row.items()} for row in rows]

	def set_dynamic_links(self, doc: Document, plan: DocumentPlan, resolver: Resolver) -> None:
		existing = {(row.link_doctype, row.link_name) for row in doc.get("links") or []}
		for link in plan.links:
			if link.kind != "dynamic":
				continue
			target = (link.doctype, resolver.name_of(link))
			if target not in existing:
				doc.append("links", {"link_doctype": target[0], "link_name": target[1]})
				existing.add(target)

	def apply_primary_links(self, doc: Document, plan: DocumentPlan, resolver: Resolver) -> None:
		"""Point the target (the Customer) at this document when the mapping says it is the primary one."""
		for link in plan.links:
			if link.kind != "primary":
				continue
			target = frappe.get_doc(link.doctype, resolver.name_of(link))
			if target.get(link.fieldname) != doc.name:
				target.set(link.fieldname, doc.name)
				target.flags.ignore_permissions = True
				target.save()

	def after_save(self, doc: Document, plan: DocumentPlan, resolver: Resolver) -> str | None:
		"""Work that needs the saved document; may return a note for the log line."""
		return None


def _plain(value: Any) -> Any:
	"""Decimals become floats for Frappe's numeric fields; everything else passes through."""
	return float(value) if isinstance(value, Decimal) else value


def error_text(exc: BaseException) -> str:
	"""The message a user can act on: Frappe's own text when it has one, without markup."""
	message = str(exc) or exc.__class__.__name__
	return strip_html(message).strip()
