"""Turn one VTiger bundle into document plans: the mapping-driven core every processor shares.

A processor is pure: rows in, plans out. The base class evaluates the entity's field specs (sources, join or
coalesce, transforms, defaults, required, sensitive), then hands the values to :meth:`EntityProcessor.adjust`, the
one hook a business object overrides. Problems become :class:`RecordIssue` objects naming the record, entity and
field; a sensitive value is never quoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vtigercrm_sync.config.config import ChildSpec, EntitySpec, FieldSpec, split_source
from vtigercrm_sync.config.transforms import TRANSFORMS, TransformError, is_empty
from vtigercrm_sync.syncer.plan import RecordIssue
from vtigercrm_sync.syncer.services.query import Bundle


@dataclass(frozen=True)
class PlanContext:
	"""What processors need from the outside: the key of content hashes and connection defaults."""

	hash_key: bytes
	defaults: Mapping[str, Any] = field(default_factory=dict)


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

	@property
	def vtiger_id(self) -> str:
		suffix = ""
		if self.spec.role:
			suffix = f":{self.spec.role}"
		if self.spec.instance is not None:
			suffix += f"-{self.spec.instance}"
		return f"{self.crmid}{suffix}"


def _describe(value: Any, spec: FieldSpec) -> str:
	if spec.sensitive:
		return ""
	text = str(value)
	return f" ({text[:40]!r})" if text else ""


class FieldEvaluator:
	"""One compiled field spec: reads its VTiger value(s) from a bundle and applies the transforms."""

	def __init__(self, spec: FieldSpec, source: str):
		self.spec = spec
		self.reads = [split_source(name, source) for name in spec.sources]
		self.steps = [(TRANSFORMS[name][0], arg, name) for name, arg in spec.transforms]

	def evaluate(self, row: Mapping[str, Any], parts: Mapping[str, Any], own_source: str) -> Any:
		spec = self.spec
		if not self.reads:
			return spec.value
		raw = [
			(row if part == own_source else (parts.get(part) or {})).get(column)
			for part, column in self.reads
		]
		if spec.coalesce:
			value = next((v for v in raw if not is_empty(v)), None)
		elif spec.join is not None:
			value = spec.join.join(str(v).strip() for v in raw if not is_empty(v)) or None
		else:
			value = raw[0]
		if not is_empty(value):
			for func, arg, name in self.steps:
				try:
					value = func(value, arg)
				except TransformError as exc:
					raise FieldError(spec.target, f"{name}: value{_describe(value, spec)} {exc}") from None
				if is_empty(value):
					break
		if is_empty(value):
			value = spec.default
		if spec.required and is_empty(value):
			raise FieldError(spec.target, "is required but VTiger has no value")
		return value


class EntityProcessor:
	"""Plans one mapping entity. Subclasses override :meth:`adjust` for their business object."""

	consumed_fields: frozenset[str] = frozenset()
	"""Mapped targets that :meth:`adjust` turns into other fields, so they need not exist on the doctype."""

	def __init__(self, spec: EntitySpec, context: PlanContext):
		self.spec = spec
		self.context = context
		self.fields = [FieldEvaluator(f, spec.source) for f in spec.fields]
		self.children = [
			(child, [FieldEvaluator(f, child.source) for f in child.fields]) for child in spec.children
		]

	def rows(self, bundle: Bundle) -> list[Mapping[str, Any]]:
		if self.spec.source == "line":
			return bundle.lines
		row = bundle.parts.get(self.spec.source)
		return [row] if row else []

	def crmid(self, row: Mapping[str, Any]) -> int:
		return int(row["productid"] if self.spec.source == "line" else row["crmid"])

	def draft(self, bundle: Bundle, issues: list[RecordIssue]) -> list[Draft]:
		drafts = []
		for row in self.rows(bundle):
			try:
				draft = self._evaluate(row, bundle)
				if draft is None:
					continue
				self.adjust(draft, bundle)
			except FieldError as exc:
				issues.append(self.issue(bundle, exc.target, exc.reason))
				continue
			except SkipEntity as skip:
				if skip.reason:
					issues.append(self.issue(bundle, skip.field, skip.reason, severity="warning"))
				continue
			drafts.append(draft)
		return drafts

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
		draft = Draft(self.spec, row, self.crmid(row), values, secrets, match=match)
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


class SkipEntity(Exception):
	"""This entity has nothing ERPNext can hold for this record; with a reason it is logged as a warning."""

	def __init__(self, reason: str | None = None, field: str | None = None):
		self.reason = reason
		self.field = field
		super().__init__(reason or "skipped")
