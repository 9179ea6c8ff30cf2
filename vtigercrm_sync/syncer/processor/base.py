"""Turn one VTiger bundle into document plans: the mapping-driven core every processor shares.

A processor is pure: rows in, plans out. The base class evaluates the entity's field specs (sources, join or
coalesce, transforms, defaults, required, sensitive), then hands the values to :meth:`EntityProcessor.adjust`, the
one hook a business object overrides. Problems become :class:`RecordIssue` objects naming the record, entity and
field; a sensitive value is never quoted.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vtigercrm_sync.config.spec import ChildSpec, EntitySpec, FieldSpec, split_source
from vtigercrm_sync.config.transforms import TRANSFORMS, TransformError, compile_map, is_empty, lookup_map
from vtigercrm_sync.syncer.plan import Message, RecordIssue, VTigerId
from vtigercrm_sync.syncer.processor.pending import PendingEdits
from vtigercrm_sync.syncer.services.catalog import DEFAULT_TAXES, TaxDefinition
from vtigercrm_sync.syncer.services.query import Bundle
from vtigercrm_sync.syncer.services.reverse import Decision


@dataclass(frozen=True)
class PlanContext:
	"""What processors need from the outside: the key of content hashes, connection defaults, and the prefix that
	keeps the VTiger ids of two connections (two VTiger databases whose crmids overlap) apart."""

	hash_key: bytes
	defaults: Mapping[str, Any] = field(default_factory=dict)
	id_prefix: str = ""
	taxes: tuple[TaxDefinition, ...] = DEFAULT_TAXES
	"""The taxes the VTiger install defines (names, labels, which are on shipping)."""
	pending: PendingEdits | None = None
	"""ERPNext edits still waiting to be pushed, which a pull must not undo unseen (two-way connections)."""


REQUIRED = "is required but VTiger has no value"


class FieldError(Exception):
	def __init__(self, target: str, reason: str):
		self.target = target
		self.reason = reason
		super().__init__(f"{target}: {reason}")


@dataclass
class Draft:
	"""A plan being built for one entity instance; turned into a DocumentPlan once links are known."""

	spec: EntitySpec
	row: Mapping[str, Any]
	crmid: int
	values: dict[str, Any]
	secrets: dict[str, str] = field(default_factory=dict)
	children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
	meta: dict[str, Any] = field(default_factory=dict)
	match: dict[str, Any] = field(default_factory=dict)
	"""Values that find an existing ERPNext document, taken before :meth:`EntityProcessor.adjust` moves fields."""
	plan: Any = None
	"""The finished plan, kept so a cached draft seen again in another record is not planned twice."""
	link_issue: RecordIssue | None = None
	link_warnings: list[RecordIssue] = field(default_factory=list)
	vtiger_id: str = ""
	pending: tuple[Decision, ...] = ()
	"""How the document's fields with ERPNext edits waiting to be pushed were decided."""
	pulled: dict[str, Any] = field(default_factory=dict)
	"""The pushed fields' VTiger values before any processor or handler reshapes them (``DocumentPlan.pulled``)."""


def vtiger_id_for(spec: EntitySpec, crmid: int, prefix: str = "") -> str:
	"""``crmid``, ``crmid:role`` or ``crmid:role-N`` after the connection's prefix: one id per ERPNext document
	a VTiger record becomes."""
	role = spec.role if spec.instance is None else f"{spec.role}-{spec.instance}"
	return str(VTigerId(prefix, crmid, role))


def _transform_problem(name: str, value: Any, spec: FieldSpec, exc: TransformError) -> Message:
	"""Which transform refused which value; a sensitive value is never quoted."""
	text = "" if spec.sensitive else str(value)
	if not text:
		return Message("{transform}: the value " + str(exc), transform=name)
	return Message("{transform}: value {value} " + str(exc), transform=name, value=repr(text[:40]))


def _compile_step(name: str, arg: Any) -> tuple[Any, Any, str]:
	"""A transform ready to run; a value map is lower-cased once here instead of on every value."""
	if name == "map":
		return lookup_map, compile_map(arg), name
	return TRANSFORMS[name][0], arg, name


class FieldEvaluator:
	"""One compiled field spec: reads its VTiger value(s) from a bundle and applies the transforms.

	Runs for every field of every record, so the common case (one column of the entity's own row) takes a
	short path.
	"""

	def __init__(self, spec: FieldSpec, source: str):
		self.spec = spec
		self.reads = [split_source(name, source) for name in spec.sources]
		self.steps = [_compile_step(name, arg) for name, arg in spec.transforms]
		self._own_column = (
			self.reads[0][1]
			if len(self.reads) == 1 and self.reads[0][0] == source and not spec.coalesce and spec.join is None
			else None
		)

	def evaluate(self, row: Mapping[str, Any], parts: Mapping[str, Any], own_source: str) -> Any:
		spec = self.spec
		if self._own_column is not None:
			value = row.get(self._own_column)
		elif not self.reads:
			return spec.value
		else:
			value = self._combine(row, parts, own_source)
		if value is None or (value.__class__ is str and not value.strip()):
			value = None
		elif self.steps:
			value = self._transform(value)
		if value is None:
			value = spec.default
			if spec.required and is_empty(value):
				raise FieldError(spec.target, Message(REQUIRED))
		return value

	def _combine(self, row: Mapping[str, Any], parts: Mapping[str, Any], own_source: str) -> Any:
		spec = self.spec
		raw = [
			(row if part == own_source else (parts.get(part) or {})).get(column)
			for part, column in self.reads
		]
		if spec.coalesce:
			return next((v for v in raw if not is_empty(v)), None)
		if spec.join is not None:
			return spec.join.join(str(v).strip() for v in raw if not is_empty(v)) or None
		return raw[0]

	def _transform(self, value: Any) -> Any:
		for func, arg, name in self.steps:
			try:
				value = func(value, arg)
			except TransformError as exc:
				raise FieldError(self.spec.target, _transform_problem(name, value, self.spec, exc)) from None
			if is_empty(value):
				return None
		return value


class EntityProcessor:
	"""Plans one mapping entity. Subclasses override :meth:`adjust` for their business object."""

	reshapes: frozenset[str] = frozenset()
	"""Mapped targets :meth:`adjust` may write otherwise than VTiger holds them (a last name moved to the first
	name): an ERPNext edit of one can only be judged against ``DocumentPlan.pulled``."""
	consumed_fields: frozenset[str] = frozenset()
	"""Mapped targets that :meth:`adjust` turns into other fields, so they need not exist on the doctype."""
	row_columns: frozenset[str] = frozenset()
	"""Columns of its row that :meth:`adjust` reads besides the mapped ones (they join the cache key)."""
	cacheable = True
	"""A draft depends only on the columns it reads, so an account shared by many orders is planned once.
	Processors that read the whole bundle (the order itself) turn this off."""
	shares_content = False
	"""Drafts of different records are the same document but for their id (an order's address snapshot, which
	repeats its account's address): keyed without the crmid, so a repeat reuses the plan under its own id."""

	def __init__(self, spec: EntitySpec, context: PlanContext):
		self.spec = spec
		self.context = context
		self.fields = [FieldEvaluator(f, spec.source) for f in spec.fields]
		self.children = [
			(child, [FieldEvaluator(f, child.source) for f in child.fields]) for child in spec.children
		]
		reads = {(part, column) for evaluator in self.fields for part, column in evaluator.reads}
		reads |= {(spec.source, link.key) for link in spec.links if link.key}
		reads |= {(spec.source, column) for column in self.row_columns}
		if not self.shares_content:
			reads.add((spec.source, "productid" if spec.source == "line" else "crmid"))
		self._own_reads = sorted(column for part, column in reads if part == spec.source)
		self._other_reads = sorted((part, column) for part, column in reads if part != spec.source)

	def cache_key(self, row: Mapping[str, Any], bundle: Bundle) -> tuple | None:
		"""Everything a draft of this row is computed from; None when the draft may depend on more."""
		if not self.cacheable or self.children:
			return None
		parts = bundle.parts
		key = (
			self.spec.key,
			*map(row.get, self._own_reads),
			*[(parts.get(part) or {}).get(column) for part, column in self._other_reads],
		)
		if self.shares_content:
			# Which referenced records were loaded decides links, and no column read says it.
			key += (tuple(part for part, value in parts.items() if value is None),)
		return key

	def rows(self, bundle: Bundle) -> list[Mapping[str, Any]]:
		if self.spec.source == "line":
			return bundle.lines
		row = bundle.parts.get(self.spec.source)
		return [row] if row else []

	def crmid(self, row: Mapping[str, Any]) -> int:
		return int(row["productid"] if self.spec.source == "line" else row["crmid"])

	def draft(
		self,
		bundle: Bundle,
		issues: list[RecordIssue],
		cache: DraftCache | None = None,
		failed: dict[tuple[str, int], str] | None = None,
	) -> list[Draft]:
		"""Drafts of this entity for the bundle; a row that cannot be planned adds its error to ``issues`` and
		its (entity key, crmid) to ``failed``, so the documents that link to it know why it is missing."""
		drafts = []
		pending = self.context.pending
		for row in self.rows(bundle):
			key = self.cache_key(row, bundle) if cache is not None else None
			if pending and pending.waiting(self.spec.doctype, self._vtiger_id(row)):
				key = None  # its values depend on the outbox, not on the row alone
			if key is not None and key in cache:
				draft, row_issues = cache.get(key)
				row_issues = [replace(issue, source=bundle.source) for issue in row_issues]
				if self.shares_content and draft is not None:
					draft = self._rebound(draft, row)
			else:
				draft, row_issues = self._draft_row(row, bundle)
				if key is not None:
					cache.put(key, (draft, row_issues))
			issues.extend(row_issues)
			error = next((issue for issue in row_issues if issue.severity == "error"), None)
			if error is not None and failed is not None:
				failed[(self.spec.key, self.crmid(row))] = error.reason
			if draft is not None:
				drafts.append(draft)
		return drafts

	def _vtiger_id(self, row: Mapping[str, Any]) -> str:
		return vtiger_id_for(self.spec, self.crmid(row), self.context.id_prefix)

	def _rebound(self, draft: Draft, row: Mapping[str, Any]) -> Draft:
		"""A shared draft (and its plan, when already finished) under this row's record and id."""
		crmid = self.crmid(row)
		vtiger_id = self._vtiger_id(row)
		plan = replace(draft.plan, vtiger_id=vtiger_id) if draft.plan is not None else None
		return replace(draft, row=row, crmid=crmid, vtiger_id=vtiger_id, plan=plan)

	def _draft_row(self, row: Mapping[str, Any], bundle: Bundle) -> tuple[Draft | None, list[RecordIssue]]:
		try:
			draft = self._evaluate(row, bundle)
			if draft is not None:
				self.adjust(draft, bundle)
			return draft, []
		except FieldError as exc:
			return None, [self.issue(bundle, exc.target, exc.reason)]
		except SkipEntity as skip:
			warning = [self.issue(bundle, skip.field, skip.reason, severity="warning")] if skip.reason else []
			return None, warning

	def _evaluate(self, row: Mapping[str, Any], bundle: Bundle) -> Draft | None:
		values: dict[str, Any] = {}
		secrets: dict[str, str] = {}
		for evaluator in self.fields:
			value = evaluator.evaluate(row, bundle.parts, self.spec.source)
			if evaluator.spec.sensitive:
				if not is_empty(value):
					secrets[evaluator.spec.target] = str(value)
			else:
				values[evaluator.spec.target] = value
		if self.spec.skip_if_empty and all(
			is_empty(values.get(t)) and t not in secrets for t in self.spec.skip_if_empty
		):
			return None
		match = {f: values[f] for f in self.spec.match if not is_empty(values.get(f))}
		crmid = self.crmid(row)
		vtiger_id = self._vtiger_id(row)
		pulled = {spec.target: values.get(spec.target) for spec in self.spec.pushed if spec.target in values}
		pending = self.context.pending
		decided = (
			pending.reconcile(self.spec.doctype, vtiger_id, values, bundle.modifiedtime, pulled)
			if pending
			else ()
		)
		draft = Draft(
			self.spec,
			row,
			crmid,
			values,
			secrets,
			match=match,
			vtiger_id=vtiger_id,
			pending=decided,
			pulled=pulled,
		)
		for child, evaluators in self.children:
			draft.children[child.table] = self._child_rows(child, evaluators, bundle)
		return draft

	def _child_rows(
		self, child: ChildSpec, evaluators: list[FieldEvaluator], bundle: Bundle
	) -> list[dict[str, Any]]:
		rows = bundle.lines if child.source == "line" else [bundle.parts.get(child.source) or {}]
		result = []
		for index, row in enumerate(rows, start=1):
			values = {}
			for evaluator in evaluators:
				try:
					values[evaluator.spec.target] = evaluator.evaluate(row, bundle.parts, child.source)
				except FieldError as exc:
					raise FieldError(f"{child.table}[{index}].{exc.target}", exc.reason) from None
			result.append(values)
		return result

	def adjust(self, draft: Draft, bundle: Bundle) -> None:
		"""Business rules of the target document; raise FieldError or SkipEntity to reject the draft."""

	def issue(
		self, bundle: Bundle, fieldname: str | None, reason: str, severity: str = "error"
	) -> RecordIssue:
		entity = self.spec.key
		return RecordIssue(bundle.source, entity, fieldname, reason, severity)  # type: ignore[arg-type]


class DraftCache:
	"""A bounded least-recently-used map of cache key -> (draft, issues), so memory stays flat on big runs.

	A few thousand entries hold every item and the customers and contacts of the orders near each other in
	modification order, which is where repeats cluster.
	"""

	def __init__(self, size: int = 4096):
		self.size = size
		self._items: OrderedDict[tuple, tuple[Draft | None, list[RecordIssue]]] = OrderedDict()

	def __contains__(self, key: tuple) -> bool:
		return key in self._items

	def get(self, key: tuple) -> tuple[Draft | None, list[RecordIssue]]:
		self._items.move_to_end(key)
		return self._items[key]

	def put(self, key: tuple, value: tuple[Draft | None, list[RecordIssue]]) -> None:
		self._items[key] = value
		if len(self._items) > self.size:
			self._items.popitem(last=False)


class SkipEntity(Exception):
	"""This entity has nothing ERPNext can hold for this record; with a reason it is logged as a warning."""

	def __init__(self, reason: str | None = None, field: str | None = None):
		self.reason = reason
		self.field = field
		super().__init__(reason or "skipped")
