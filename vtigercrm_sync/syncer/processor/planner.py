"""Plan every document of one VTiger record, in write order, with links resolved and a content hash.

Entities are planned in handler order, so a link always points at a plan made earlier for the same record; a
required link whose target could not be planned fails the record with a reason instead of writing half of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from vtigercrm_sync.config.graph import stream_entities, write_order
from vtigercrm_sync.config.spec import STREAM_SOURCES, EntitySpec, HandlerConfig, LinkSpec, MappingConfig
from vtigercrm_sync.syncer.plan import BundleResult, DocumentPlan, Link, Message, RecordIssue, content_hash
from vtigercrm_sync.syncer.processor.address import AddressProcessor
from vtigercrm_sync.syncer.processor.bank_card import BankAccountProcessor, BankCardProcessor
from vtigercrm_sync.syncer.processor.base import (
	Draft,
	DraftCache,
	EntityProcessor,
	PlanContext,
	vtiger_id_for,
)
from vtigercrm_sync.syncer.processor.contact import ContactProcessor
from vtigercrm_sync.syncer.processor.customer import CustomerProcessor
from vtigercrm_sync.syncer.processor.sales_order import ItemProcessor, SalesOrderProcessor
from vtigercrm_sync.syncer.services.query import Bundle, reference

SHARED_CACHE_SIZE = 1024
FAILED_LINK = "links"
"""The field of an issue that fails a document because a document it needs could not be planned."""


@dataclass(frozen=True)
class Unplanned:
	"""A link target this record planned and could not: why, for the warning or error of the linking draft."""

	reason: str


PROCESSORS: dict[str, type[EntityProcessor]] = {
	"customer": CustomerProcessor,
	"contact": ContactProcessor,
	"address": AddressProcessor,
	"item": ItemProcessor,
	"sales_order": SalesOrderProcessor,
	"bank_card": BankCardProcessor,
	"bank_account": BankAccountProcessor,
}


class BundlePlanner:
	def __init__(
		self, mapping: MappingConfig, context: PlanContext, handler_config: HandlerConfig | None = None
	):
		self.mapping = mapping
		self.context = context
		self._doctypes = {spec.name: spec.doctype for spec in mapping.entities}
		self._named = {name: mapping.entities_named(name) for name in self._doctypes}
		self._cache = DraftCache()
		self._shared = DraftCache(SHARED_CACHE_SIZE)
		"""Snapshots apart: unique ones (every order its own address) must not push accounts out of the cache."""
		order = write_order(mapping, handler_config)
		specs = sorted(mapping.entities, key=lambda spec: (order.index(spec.name), spec.instance or 0))
		self._processors = {
			module: [PROCESSORS[spec.processor](spec, context) for spec in specs if spec.name in names]
			for module, names in stream_entities(mapping).items()
		}

	def plan(self, bundle: Bundle, without: str | None = None) -> BundleResult:
		"""The record's plans; ``without`` (a source, the stream's own) leaves out the entities of that source
		that no other entity links to: the Linked stage plans an order's customer, contact and items, not the
		order and its lines."""
		result = BundleResult(bundle.source)
		module = bundle.source.module
		reason = self._filtered(module, bundle)
		if reason:
			result.filtered = reason
			return result
		processors = self._processors_of(module, without)
		drafts: dict[str, list[Draft]] = {}
		failed: dict[tuple[str, int], str] = {}
		planned: set[tuple[str, str]] = set()
		for processor in processors:
			cache = self._shared if processor.shares_content else self._cache
			made = processor.draft(bundle, result.issues, cache, failed)
			drafts.setdefault(processor.spec.name, []).extend(made)
		for processor in processors:
			for draft in [d for d in drafts[processor.spec.name] if d.spec is processor.spec]:
				if (draft.spec.doctype, draft.vtiger_id) in planned:
					continue  # the same product on two lines: one Item
				planned.add((draft.spec.doctype, draft.vtiger_id))
				plan, issue, warnings = self._finish(draft, drafts, failed, bundle)
				result.issues.extend(replace(warning, source=bundle.source) for warning in warnings)
				if issue is not None:
					result.issues.append(replace(issue, source=bundle.source))
					failed[(draft.spec.key, draft.crmid)] = issue.reason
					drafts[processor.spec.name].remove(draft)
					continue
				result.plans.append(plan)
		return result

	def _processors_of(self, module: str, without: str | None) -> list[EntityProcessor]:
		processors = self._processors[module]
		if without is None:
			return processors
		kept = {p.spec.name for p in processors if p.spec.source != without}
		todo = list(kept)
		while todo:  # and every entity they link to, whatever its source
			for spec in self._named[todo.pop()]:
				for link in spec.links:
					if link.entity not in kept:
						kept.add(link.entity)
						todo.append(link.entity)
		return [p for p in processors if p.spec.name in kept]

	def _finish(
		self, draft: Draft, drafts: dict[str, list[Draft]], failed: dict[tuple[str, int], str], bundle: Bundle
	) -> tuple[DocumentPlan | None, RecordIssue | None, list[RecordIssue]]:
		"""Resolve links and build the plan once; a cached draft keeps both for the next record it serves,
		unless they depended on another entity of this record that could not be planned."""
		if draft.plan is not None or draft.link_issue is not None:
			return draft.plan, draft.link_issue, draft.link_warnings
		issues: list[RecordIssue] = []
		warnings: list[RecordIssue] = []
		links = self._links(draft, drafts, failed, bundle, issues, warnings)
		child_links = (
			self._child_links(draft, failed, bundle, issues, warnings) if links is not None else None
		)
		plan = None
		if child_links is not None and links is not None:
			plan = self._to_plan(draft, links, child_links)
		issue = issues[0] if issues else None
		if not warnings and not any(i.field == FAILED_LINK for i in issues):
			draft.plan, draft.link_issue = plan, issue
		return plan, issue, warnings

	def plan_all(self, bundles: Iterable[Bundle]) -> list[BundleResult]:
		return [self.plan(bundle) for bundle in bundles]

	def _filtered(self, module: str, bundle: Bundle) -> str | None:
		flt = self.mapping.streams.get(module)
		if not flt:
			return None
		row = bundle.parts.get(STREAM_SOURCES[module][0]) or {}
		value = str(row.get(flt.column) or "").strip()
		if value.casefold() in {v.casefold() for v in flt.values}:
			return None
		return Message(
			"{column} is {value}, not one of the synced values", column=flt.column, value=repr(value)
		)

	def _links(
		self,
		draft: Draft,
		drafts: dict[str, list[Draft]],
		failed: dict[tuple[str, int], str],
		bundle: Bundle,
		issues: list[RecordIssue],
		warnings: list[RecordIssue],
	) -> tuple[Link, ...] | None:
		"""The draft's links; None (with the reason in ``issues``) when a required target is missing."""
		links = []
		for spec in draft.spec.links:
			target = self._target(draft, spec, drafts, failed, bundle)
			if isinstance(target, Unplanned):
				if not self._missing(draft, spec, bundle, target.reason, issues, warnings):
					return None
				continue
			if target is None:
				if spec.required:
					issues.append(
						RecordIssue(
							bundle.source,
							draft.spec.key,
							spec.fieldname,
							Message(
								"needs {entity}, which VTiger does not have (or has deleted) for this record",
								entity=repr(spec.entity),
							),
						)
					)
					return None
				continue
			links.append(
				Link(
					spec.kind, spec.entity, self._doctypes[spec.entity], target, spec.fieldname, spec.required
				)
			)
		return tuple(links)

	def _child_links(
		self,
		draft: Draft,
		failed: dict[tuple[str, int], str],
		bundle: Bundle,
		issues: list[RecordIssue],
		warnings: list[RecordIssue],
	) -> dict[str, list[tuple[Link, ...]]] | None:
		"""Each child row's links (an order line's Item), read from the row's own key column."""
		result: dict[str, list[tuple[Link, ...]]] = {}
		for child in draft.spec.children:
			if not child.links:
				continue
			rows = bundle.lines if child.source == "line" else [bundle.parts.get(child.source) or {}]
			table_links = []
			for row in rows:
				row_links = []
				for spec in child.links:
					target_spec = self._named[spec.entity][0]
					crmid = reference(row.get(spec.key))
					reason = failed.get((target_spec.key, crmid)) if crmid is not None else None
					if reason is not None:
						if not self._missing(draft, spec, bundle, reason, issues, warnings):
							return None
						continue
					if crmid is None:
						continue
					target = vtiger_id_for(target_spec, crmid, self.context.id_prefix)
					row_links.append(
						Link("field", spec.entity, target_spec.doctype, target, spec.fieldname, spec.required)
					)
				table_links.append(tuple(row_links))
			result[child.table] = table_links
		return result

	def _missing(
		self,
		draft: Draft,
		spec: LinkSpec,
		bundle: Bundle,
		reason: str,
		issues: list[RecordIssue],
		warnings: list[RecordIssue],
	) -> bool:
		"""A link whose target could not be planned: a required one fails the draft (False), any other is left
		empty with a warning that says why (True)."""
		message = Message("{entity} could not be written ({reason})", entity=repr(spec.entity), reason=reason)
		if spec.required:
			issues.append(
				RecordIssue(bundle.source, draft.spec.key, FAILED_LINK, Message("needs {what}", what=message))
			)
			return False
		where = spec.fieldname or Message("its link")
		warnings.append(
			RecordIssue(
				bundle.source,
				draft.spec.key,
				spec.fieldname,
				Message("{field} left empty: {reason}", field=where, reason=message),
				"warning",
			)
		)
		return True

	def _target(
		self,
		draft: Draft,
		spec: LinkSpec,
		drafts: dict[str, list[Draft]],
		failed: dict[tuple[str, int], str],
		bundle: Bundle,
	) -> str | Unplanned | None:
		"""The VTiger id of the linked document: planned in this bundle, or (keyed links) synced on its own;
		:class:`Unplanned` when this record planned it and could not.

		A keyed reference the reader could not load (0, deleted, missing) leaves the bundle's part empty and
		means "no link"; a live reference to another record than the bundle's (a contact of another account
		than the order's) links to that record's document, which its own stream syncs. Only the stream's own row
		loaded the parts: an empty part says nothing about another row's reference (the account of an order's
		contact), and a cached draft must not keep a link decision that depended on the bundle it was first met in.
		"""
		targets = drafts.get(spec.entity, [])
		target_specs = self._named[spec.entity]
		if draft.spec.instance is not None and any(t.instance is not None for t in target_specs):
			targets = [t for t in targets if t.spec.instance == draft.spec.instance]
			target_specs = [t for t in target_specs if t.instance == draft.spec.instance]
		if not spec.key:
			if targets:
				return targets[0].vtiger_id
			reason = next((r for (key, _), r in failed.items() if key in {t.key for t in target_specs}), None)
			return Unplanned(reason) if reason is not None else None
		crmid = reference(draft.row.get(spec.key))
		if crmid is None:
			return None
		planned = [t for t in targets if t.crmid == crmid]
		if planned:
			return planned[0].vtiger_id
		reason = next((failed[(t.key, crmid)] for t in target_specs if (t.key, crmid) in failed), None)
		if reason is not None:
			return Unplanned(reason)
		target_spec = target_specs[0]
		loaded_by_this_row = draft.spec.source == STREAM_SOURCES[bundle.source.module][0]
		if loaded_by_this_row and bundle.parts.get(target_spec.source) is None:
			return None
		return vtiger_id_for(target_spec, crmid, self.context.id_prefix)

	def _to_plan(
		self, draft: Draft, links: tuple[Link, ...], child_links: dict[str, list[tuple[Link, ...]]]
	) -> DocumentPlan:
		spec: EntitySpec = draft.spec
		body: dict[str, Any] = {
			"values": draft.values,
			"children": draft.children,
			"links": [(link.kind, link.doctype, link.vtiger_id, link.fieldname) for link in links],
			"child_links": {
				table: [[(link.vtiger_id, link.fieldname) for link in row] for row in rows]
				for table, rows in child_links.items()
			},
			"meta": draft.meta,
		}
		if (
			draft.pulled
		):  # VTiger reshaping a value ERPNext holds the same (USA to United States) moves it too
			body["pulled"] = draft.pulled
		return DocumentPlan(
			entity=spec.key,
			doctype=spec.doctype,
			vtiger_id=draft.vtiger_id,
			values=draft.values,
			match=draft.match,
			children=draft.children,
			child_links=child_links,
			links=links,
			meta=draft.meta,
			secrets=draft.secrets,
			pending=draft.pending,
			pulled=draft.pulled,
			content_hash=content_hash(body, draft.secrets, self.context.hash_key),
			module=draft.row.get("item_type") or "" if spec.source == "line" else spec.module,
		)
