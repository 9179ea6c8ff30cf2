"""The mapping's spec: what a loaded mapping is made of, and the names it may use.

Plain data (frozen dataclasses) built by :mod:`.config` (the loader), ordered by :mod:`.graph` and resolved against a live
VTiger by :mod:`.resolution`. Nothing here reads a file or a database.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

PRESETS = {"standard": "salesorder.json", "insurance_household": "insurance_household.json"}
HANDLER_CONFIG = "handler.json"

SOURCE_MODULES = {
	"account": "Accounts",
	"contact": "Contacts",
	"salesorder": "SalesOrder",
	"line": "SalesOrder",
}
"""Each part of a bundle and the VTiger module whose fields it carries."""

STREAM_SOURCES = {
	"Accounts": ("account",),
	"Contacts": ("contact", "account"),
	"SalesOrder": ("salesorder", "account", "contact", "line"),
}
"""What one record of each stream brings along: a contact comes with its account, an order with everything."""

WRITEBACK_KEYS = {
	"SalesOrder": ("name", "status", "per_delivered", "per_billed"),
	"Accounts": ("name",),
}
"""What ERPNext reports back to each VTiger module: the document's name, and an order's status and progress."""
INVERTIBLE_TRANSFORMS = frozenset(
	{"trim", "lower", "upper", "date", "datetime", "decimal", "int", "bool", "map"}
)
"""Transforms whose ERPNext value, written back, reads again as itself (``map`` only without a ``*`` fallback).
``truncate``, ``digits``, ``last4`` and ``title`` lose what VTiger had, so a field using one never pushes."""

STREAM_ORDER = tuple(STREAM_SOURCES)
"""Streams in the order a run reads them: accounts before the contacts and orders that point at them."""

LINK_KINDS = ("field", "dynamic", "primary")
FORBIDDEN_TARGET = re.compile(
	r"cvc|cvv|cvn|csc|(?<![a-z])cid(?![a-z])|card[ _-]?code|security[ _-]?code|card[ _-]?verification",
	re.IGNORECASE,
)
"""A card's security code is never stored, so no mapping may name a target that would hold one, nor read a VTiger
field (by column or label) that holds one. ``cid`` counts only as a word of its own (``card_cid``), not inside
words such as ``accident_date`` or ``incident``."""
PLACEHOLDER = re.compile(r"\{(\w+)\}")
"""A repeating group's placeholder: a bare name (``{first}``), nothing a format string could do with it."""


class Catalog(Protocol):
	"""What resolution needs to know about a live VTiger install (see ``services.catalog``)."""

	def columns(self, source: str) -> set[str]: ...

	def labels(self, source: str) -> dict[str, str]: ...


@dataclass(frozen=True)
class Problem:
	path: str
	message: str

	def __str__(self) -> str:
		return f"{self.path}: {self.message}"


class MappingError(ValueError):
	"""Every problem found in a mapping, each with its JSON path."""

	def __init__(self, problems: list[Problem]):
		self.problems = problems
		super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class FieldSpec:
	target: str
	sources: tuple[str, ...] = ()
	value: Any = None
	join: str | None = None
	coalesce: bool = False
	transforms: tuple[tuple[str, Any], ...] = ()
	required: bool = False
	sensitive: bool = False
	default: Any = None
	push: bool = False
	"""Written back to VTiger when it changes in ERPNext (two-way sync); only an invertible field may push."""


@dataclass(frozen=True)
class LinkSpec:
	"""A link to another entity's document. ``key`` names the column of this entity's own row that holds the
	target record's crmid (a contact's ``accountid``), so the link follows the row's own reference whatever
	record the bundle was read for."""

	kind: str
	entity: str
	fieldname: str | None = None
	required: bool = False
	key: str | None = None


@dataclass(frozen=True)
class ChildSpec:
	table: str
	source: str
	fields: tuple[FieldSpec, ...]
	links: tuple[LinkSpec, ...] = ()
	"""``field`` links of each row (an order line's Item), keyed by a column of the row's own source."""


@dataclass(frozen=True)
class EntitySpec:
	name: str
	source: str
	processor: str
	doctype: str
	role: str | None = None
	match: tuple[str, ...] = ()
	fields: tuple[FieldSpec, ...] = ()
	children: tuple[ChildSpec, ...] = ()
	links: tuple[LinkSpec, ...] = ()
	depends_on: tuple[str, ...] = ()
	skip_if_empty: tuple[str, ...] = ()
	options: Mapping[str, Any] = field(default_factory=dict)
	instance: int | None = None
	"""Member number of a repeating group (dependent 1..N), or None."""

	@property
	def module(self) -> str:
		return SOURCE_MODULES[self.source]

	@property
	def key(self) -> str:
		return self.name if self.instance is None else f"{self.name}#{self.instance}"

	@property
	def role_id(self) -> str | None:
		"""The role part of the VTiger id of this entity's documents (``dependent-2``)."""
		return self.role if self.instance is None else f"{self.role}-{self.instance}"

	@property
	def pushed(self) -> tuple[FieldSpec, ...]:
		"""The fields written back to VTiger when they change in ERPNext."""
		return tuple(spec for spec in self.fields if spec.push)


@dataclass(frozen=True)
class FilterSpec:
	column: str
	values: tuple[str, ...]


@dataclass(frozen=True)
class MappingConfig:
	preset: str
	streams: Mapping[str, FilterSpec | None]
	entities: tuple[EntitySpec, ...]
	resolved: bool = False
	writeback: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
	"""VTiger module -> {what ERPNext reports: the VTiger field (a label until resolved, then its column)} that
	receives it: ``{"SalesOrder": {"name": "ERPNext Sales Order", "status": "ERPNext Status"}}``."""

	def entity(self, key: str) -> EntitySpec:
		return next(e for e in self.entities if e.key == key)

	def entities_named(self, name: str) -> list[EntitySpec]:
		return [e for e in self.entities if e.name == name]

	def for_stream(self, module: str) -> list[EntitySpec]:
		sources = STREAM_SOURCES[module]
		return [e for e in self.entities if e.source in sources]


@dataclass(frozen=True)
class HandlerConfig:
	doctypes: Mapping[str, Mapping[str, Any]]

	def depends_on(self, doctype: str) -> tuple[str, ...]:
		return tuple(self.doctypes.get(doctype, {}).get("depends_on", ()))


def split_source(name: str, default: str) -> tuple[str, str]:
	"""``"account.accountname"`` reads another part of the bundle; a bare name reads the entity's own source."""
	part, dot, column = name.partition(".")
	return (part, column) if dot and part in SOURCE_MODULES else (default, name)


def suggest(name: str, options: Iterable[str], prefix: str = "; did you mean ") -> str:
	close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.6)
	return f"{prefix}{', '.join(repr(c) for c in close)}" if close else ""
