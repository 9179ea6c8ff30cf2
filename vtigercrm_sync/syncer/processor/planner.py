"""Plan every document of one VTiger record, in write order, with links resolved and a content hash.

Entities are planned in handler order, so a link always points at a plan made earlier for the same record; a
required link whose target could not be planned fails the record with a reason instead of writing half of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from vtigercrm_sync.config.config import (
	STREAM_SOURCES,
	EntitySpec,
	HandlerConfig,
	LinkSpec,
	MappingConfig,
	write_order,
)
from vtigercrm_sync.syncer.plan import BundleResult, DocumentPlan, Link, RecordIssue, content_hash
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

PROCESSORS: dict[str, type[EntityProcessor]] = {
	"customer": CustomerProcessor,
	"contact": ContactProcessor,
	"address": AddressProcessor,
	"item": ItemProcessor,
	"sales_order": SalesOrderProcessor,
	"bank_card": BankCardProcessor,
	"bank_account": BankAccountProcessor,
}


def stream_entities(mapping: MappingConfig) -> dict[str, set[str]]:
	"""The entities one record of each stream plans: its own, and those they link to or depend on.

	An order plans its customer, contact and items so it never links to a document that was not synced yet, but
	not the contact's own address, which the Contacts stream owns.
	"""
	needs = {
		e.name: set(e.depends_on) | {link.entity for link in e.links if link.kind != "primary"}
		for e in mapping.entities
	}
	result = {}
	for module in mapping.streams:
		primary = STREAM_SOURCES[module][0]
		names = {e.name for e in mapping.entities if e.source == primary}
		pending = list(names)
		while pending:
			for dep in needs.get(pending.pop(), ()):
				if dep not in names:
					names.add(dep)
					pending.append(dep)
		result[module] = names
	return result


class BundlePlanner:
	def __init__(
		self, mapping: MappingConfig, context: PlanContext, handler_config: HandlerConfig | None = None
	):
		self.mapping = mapping
		self.context = context
		self._doctypes = {spec.name: spec.doctype for spec in mapping.entities}
		self._cache = DraftCache()
		order = write_order(mapping, handler_config)
		specs = sorted(mapping.entities, key=lambda spec: (order.index(spec.name), spec.instance or 0))
		self._processors = {
			module: [PROCESSORS[spec.processor](spec, context) for spec in specs if spec.name in names]
			for module, names in stream_entities(mapping).items()
		}

	def plan(self, bundle: Bundle) -> BundleResult:
		result = BundleResult(bundle.source)
		module = bundle.source.module
		reason = self._filtered(module, bundle)
		if reason:
			result.filtered = reason
			return result
		drafts: dict[str, list[Draft]] = {}
		planned: set[tuple[str, str]] = set()
		for processor in self._processors[module]:
			made = processor.draft(bundle, result.issues, self._cache)
			drafts.setdefault(processor.spec.name, []).extend(made)
		for processor in self._processors[module]:
			for draft in [d for d in drafts[processor.spec.name] if d.spec is processor.spec]:
				if (draft.spec.doctype, draft.vtiger_id) in planned:
					continue  # the same product on two lines: one Item
				planned.add((draft.spec.doctype, draft.vtiger_id))
				if draft.plan is None and draft.link_issue is None:
					self._finish(draft, drafts, bundle)
				if draft.link_issue is not None:
					result.issues.append(replace(draft.link_issue, source=bundle.source))
					drafts[processor.spec.name].remove(draft)
					continue
				result.plans.append(draft.plan)
		return result

	def _finish(self, draft: Draft, drafts: dict[str, list[Draft]], bundle: Bundle) -> None:
		"""Resolve links and build the plan once; a cached draft keeps both for the next record it serves."""
		issues: list[RecordIssue] = []
		links = self._links(draft, drafts, bundle, issues)
		if links is None:
			draft.link_issue = issues[0]
		else:
			draft.plan = self._to_plan(draft, links, bundle)

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
		return f"{flt.column} is {value!r}, not one of the synced values"

	def _links(
		self, draft: Draft, drafts: dict[str, list[Draft]], bundle: Bundle, issues: list[RecordIssue]
	) -> tuple[Link, ...] | None:
		links = []
		for spec in draft.spec.links:
			target = self._target(draft, spec, drafts, bundle)
			if target is None:
				if spec.required:
					issues.append(
						RecordIssue(
							bundle.source,
							draft.spec.key,
							spec.fieldname,
							f"needs {spec.entity!r}, which VTiger does not have (or has deleted) for this record",
						)
					)
					return None
				continue
			links.append(Link(spec.kind, spec.entity, self._doctypes[spec.entity], target, spec.fieldname))
		return tuple(links)

	def _target(
		self, draft: Draft, spec: LinkSpec, drafts: dict[str, list[Draft]], bundle: Bundle
	) -> str | None:
		"""The VTiger id of the linked document: planned in this bundle, or (keyed links) synced on its own.

		A keyed reference the reader could not load (0, deleted, missing) leaves the bundle's part empty and
		means "no link"; a live reference to another record than the bundle's (a contact of another account
		than the order's) links to that record's document, which its own stream syncs. Only the stream's own row
		loaded the parts: an empty part says nothing about another row's reference (the account of an order's
		contact), and a cached draft must not keep a link decision that depended on the bundle it was first met in.
		"""
		targets = drafts.get(spec.entity, [])
		if draft.spec.instance is not None and any(t.spec.instance is not None for t in targets):
			targets = [t for t in targets if t.spec.instance == draft.spec.instance]
		if not spec.key:
			return targets[0].vtiger_id if targets else None
		crmid = reference(draft.row.get(spec.key))
		if crmid is None:
			return None
		planned = [t for t in targets if t.crmid == crmid]
		if planned:
			return planned[0].vtiger_id
		target_spec = self.mapping.entities_named(spec.entity)[0]
		loaded_by_this_row = draft.spec.source == STREAM_SOURCES[bundle.source.module][0]
		if loaded_by_this_row and bundle.parts.get(target_spec.source) is None:
			return None
		return vtiger_id_for(target_spec, crmid, self.context.id_prefix)

	def _to_plan(self, draft: Draft, links: tuple[Link, ...], bundle: Bundle) -> DocumentPlan:
		spec: EntitySpec = draft.spec
		body: dict[str, Any] = {
			"values": draft.values,
			"children": draft.children,
			"links": [(link.kind, link.doctype, link.vtiger_id, link.fieldname) for link in links],
			"meta": draft.meta,
		}
		return DocumentPlan(
			entity=spec.key,
			doctype=spec.doctype,
			vtiger_id=draft.vtiger_id,
			values=draft.values,
			match=draft.match,
			children=draft.children,
			links=links,
			meta=draft.meta,
			secrets=draft.secrets,
			content_hash=content_hash(body, draft.secrets, self.context.hash_key),
		)
