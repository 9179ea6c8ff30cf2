"""The reverse mapping: what an ERPNext edit becomes in VTiger, and what to do when VTiger changed it too.

Plain Python. The pull turns a VTiger value into an ERPNext one through a field's transforms; a field marked
``push`` (only an invertible one, see :func:`vtigercrm_sync.config.config.push_refusals`) goes back the other way:
:func:`vtiger_text` gives the text VTiger's web service takes.

A conflict is found from values, not from clocks: each queued change carries the ERPNext value the field had
before the edit, which is what the last sync left on both sides. VTiger's current value, read through the pull's
own transforms, is compared with it; only when VTiger's value moved too (and differs from ERPNext's new one) is it
a conflict, and the connection's rule decides. "Latest change wins" compares VTiger's ``modifiedtime`` with the
time of the ERPNext edit, both in UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from vtigercrm_sync.config.spec import EntitySpec, FieldSpec
from vtigercrm_sync.config.transforms import TRANSFORMS, TransformError, compile_map, is_empty, lookup_map

VTIGER_WINS = "VTiger wins"
ERPNEXT_WINS = "ERPNext wins"
LATEST_WINS = "Latest change wins"
CONFLICT_RULES = (VTIGER_WINS, ERPNEXT_WINS, LATEST_WINS)

WRITE = "write"
"""VTiger still holds the last-synced value: ERPNext's new value is written."""
SAME = "same"
"""VTiger already holds ERPNext's new value: nothing to write."""
CONFLICT_ERPNEXT = "conflict-erpnext"
"""Both sides changed the field; ERPNext's value wins and is written, VTiger's is the loser."""
CONFLICT_VTIGER = "conflict-vtiger"
"""Both sides changed the field; VTiger's value stays (the next pull brings it), ERPNext's is the loser."""


class ReverseError(ValueError):
	"""An ERPNext value that has no VTiger form (a value a value map cannot give back)."""


@dataclass(frozen=True)
class FieldChange:
	"""One pushed field of one document: ``old`` is its ERPNext value before the edit, ``new`` after it."""

	target: str
	old: Any
	new: Any


@dataclass(frozen=True)
class Decision:
	target: str
	column: str
	outcome: str
	value: str | None
	"""The text written to VTiger (None when nothing is written)."""
	vtiger_value: Any
	"""VTiger's value before the push, as the pull would read it."""
	erpnext_value: Any

	@property
	def writes(self) -> bool:
		return self.outcome in (WRITE, CONFLICT_ERPNEXT)

	@property
	def conflict(self) -> bool:
		return self.outcome in (CONFLICT_ERPNEXT, CONFLICT_VTIGER)

	@property
	def loser(self) -> Any:
		"""The value that did not survive a conflict."""
		return self.vtiger_value if self.outcome == CONFLICT_ERPNEXT else self.erpnext_value


def field_changes(
	entity: EntitySpec, before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[FieldChange]:
	"""The pushed fields whose ERPNext value changed between two versions of a document."""
	return [
		FieldChange(spec.target, before.get(spec.target), after.get(spec.target))
		for spec in entity.pushed
		if not _same(before.get(spec.target), after.get(spec.target))
	]


def vtiger_text(spec: FieldSpec, value: Any) -> str:
	"""ERPNext's value as the text VTiger's web service takes for the field ``spec`` reads."""
	for name, arg in reversed(spec.transforms):
		if name == "map":
			value = _unmap(value, arg)
	if is_empty(value):
		return ""
	if isinstance(value, datetime):
		return value.strftime("%Y-%m-%d %H:%M:%S")
	if isinstance(value, date):
		return value.isoformat()
	if isinstance(value, bool):
		return "1" if value else "0"
	if isinstance(value, float | Decimal):
		return format(Decimal(str(value)).normalize(), "f")
	if any(name == "bool" for name, _arg in spec.transforms):
		return "1" if str(value) not in ("0", "") else "0"
	return str(value)


def read_as_pull(spec: FieldSpec, raw: Any) -> Any:
	"""A VTiger value through the pull's transforms: what ERPNext would hold if it were synced now."""
	value = raw
	for name, arg in spec.transforms:
		try:
			value = lookup_map(value, compile_map(arg)) if name == "map" else TRANSFORMS[name][0](value, arg)
		except TransformError:
			return raw
	return value


def decide(
	entity: EntitySpec,
	changes: list[FieldChange],
	current: Mapping[str, Any],
	rule: str,
	vtiger_modified: datetime | None = None,
	erpnext_changed: datetime | None = None,
) -> list[Decision]:
	"""For each changed field, what to write, given VTiger's ``current`` record (column -> value)."""
	specs = {spec.target: spec for spec in entity.pushed}
	decisions = []
	for change in changes:
		spec = specs[change.target]
		column = spec.sources[0]
		vtiger_now = read_as_pull(spec, current.get(column))
		outcome = field_outcome(vtiger_now, change, rule, vtiger_modified, erpnext_changed)
		value = vtiger_text(spec, change.new) if outcome in (WRITE, CONFLICT_ERPNEXT) else None
		decisions.append(Decision(change.target, column, outcome, value, vtiger_now, change.new))
	return decisions


def field_outcome(
	vtiger_now: Any,
	change: FieldChange,
	rule: str,
	vtiger_modified: datetime | None = None,
	erpnext_changed: datetime | None = None,
) -> str:
	"""The rule for one field, shared by the push and by a pull that meets an edit still waiting to be pushed:
	``vtiger_now`` is VTiger's value as the pull reads it, ``change`` ERPNext's edit since the last sync."""
	if rule not in CONFLICT_RULES:
		raise ValueError(f"unknown conflict rule {rule!r}; choose one of {', '.join(CONFLICT_RULES)}")
	if _same(vtiger_now, change.new):
		return SAME
	if _same(vtiger_now, change.old):
		return WRITE
	if rule == ERPNEXT_WINS or (rule == LATEST_WINS and _erpnext_is_later(erpnext_changed, vtiger_modified)):
		return CONFLICT_ERPNEXT
	return CONFLICT_VTIGER


def _erpnext_is_later(erpnext_changed: datetime | None, vtiger_modified: datetime | None) -> bool:
	if erpnext_changed is None or vtiger_modified is None:
		return erpnext_changed is not None
	return erpnext_changed >= vtiger_modified


def _unmap(value: Any, table: Mapping[str, Any]) -> Any:
	"""The VTiger key a value map turns into ``value``: the key equal to it when there is one, else the first."""
	if is_empty(value):
		return value
	keys = [key for key, mapped in table.items() if key != "*" and _same(mapped, value)]
	if not keys:
		raise ReverseError(
			f"{value!r} is not a value the mapping's value map gives, so VTiger has no value for it"
		)
	return next((key for key in keys if key.casefold() == str(value).casefold()), keys[0])


def _same(a: Any, b: Any) -> bool:
	"""Equal as the two sides store them: empty is empty, numbers by value, dates and text by their text."""
	if is_empty(a) or is_empty(b):
		return is_empty(a) and is_empty(b)
	if isinstance(a, int | float | Decimal) or isinstance(b, int | float | Decimal):
		try:
			return Decimal(str(a)) == Decimal(str(b))
		except ArithmeticError:
			return False
	return _text(a) == _text(b)


def same_value(a: Any, b: Any) -> bool:
	"""Whether two values are equal as ERPNext and VTiger store them (empty is empty, numbers by value)."""
	return _same(a, b)


def _text(value: Any) -> str:
	if isinstance(value, datetime):
		return value.strftime("%Y-%m-%d %H:%M:%S")
	if isinstance(value, date):
		return value.isoformat()
	return str(value).strip()


def writeback_values(targets: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, str]:
	"""The write-back fields (resolved columns) with ERPNext's name, status and percentages as VTiger text."""
	element = {}
	for key, column in targets.items():
		value = values.get(key)
		if isinstance(value, float | Decimal | int) and not isinstance(value, bool):
			value = format(Decimal(str(value)).quantize(Decimal("0.01")), "f")
		element[column] = "" if value is None else str(value)
	return element


@dataclass(frozen=True)
class PushResult:
	"""What a push did: one decision per field, and VTiger's record after it (``modifiedtime`` included)."""

	decisions: list[Decision]
	record: Mapping[str, Any]

	@property
	def written(self) -> list[Decision]:
		return [d for d in self.decisions if d.writes]

	@property
	def conflicts(self) -> list[Decision]:
		return [d for d in self.decisions if d.conflict]


def push_changes(
	client: Any,
	entity: EntitySpec,
	ws_id: str,
	changes: list[FieldChange],
	rule: str,
	erpnext_changed: datetime | None = None,
	vtiger_time_zone: str | None = None,
) -> PushResult:
	"""Read the record from VTiger, decide field by field, and ``revise`` only the fields ERPNext wins.

	``client`` is a :class:`~vtigercrm_sync.syncer.services.webservice.VTigerWebService`; ``erpnext_changed`` is
	the edit's time in UTC, and VTiger's ``modifiedtime`` is read in ``vtiger_time_zone`` (UTC when not given).
	"""
	current = client.retrieve(ws_id)
	unknown = sorted({spec.sources[0] for spec in entity.pushed} - set(current))
	if unknown:  # VTiger's revise ignores a field it does not know: say so rather than report a push
		raise ReverseError(
			f"VTiger's {entity.module} has no web service field {', '.join(unknown)} (a field's web service "
			"name differs from its column here; push it under its VTiger field name)"
		)
	modified = vtiger_utc(current.get("modifiedtime"), vtiger_time_zone)
	decisions = decide(entity, changes, current, rule, modified, erpnext_changed)
	element = {d.column: d.value for d in decisions if d.writes}
	record = client.revise({"id": ws_id, **element}, current) if element else current
	return PushResult(decisions, record)


def vtiger_utc(text: str | datetime | None, time_zone: str | None = None) -> datetime | None:
	"""VTiger's ``modifiedtime`` (server-local, as the web service's text or SQL's datetime) as naive UTC."""
	if not text:
		return None
	when = text if isinstance(text, datetime) else datetime.strptime(str(text), "%Y-%m-%d %H:%M:%S")
	local = when.replace(tzinfo=ZoneInfo(time_zone or "UTC"))
	return local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
