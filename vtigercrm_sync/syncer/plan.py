"""What the engine hands to the Frappe layer: document plans and per-record issues.

A plan says *what* an ERPNext document should look like, never *how* to write it, so the engine stays free of
Frappe and the handlers stay thin. Secrets ride in their own field, excluded from ``repr`` and from every message.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

LinkKind = Literal["field", "dynamic", "primary"]


class Message(str):
	"""English text that keeps its template and values, so the Frappe layer can translate it at the edge:
	``_(template).format(**values)``. It is a ``str`` (its English rendering) everywhere else."""

	template: str
	params: dict[str, Any]

	def __new__(cls, template: str, **params: Any) -> Message:
		text = super().__new__(cls, template.format(**params) if params else template)
		text.template, text.params = template, params
		return text

	def translated(self, gettext: Callable[[str], str]) -> str:
		values = {k: v.translated(gettext) if isinstance(v, Message) else v for k, v in self.params.items()}
		return gettext(self.template).format(**values) if values else gettext(self.template)


@dataclass(frozen=True)
class RecordRef:
	"""A VTiger record: its module and crmid, written ``Accounts #123`` for people (so :mod:`redact` never takes a
	nine-digit crmid for an SSN)."""

	module: str
	crmid: int

	def __str__(self) -> str:
		return f"{self.module} #{self.crmid}"


@dataclass(frozen=True)
class VTigerId:
	"""The id a synced document carries (``vtiger_id``): the connection's prefix, the crmid of the VTiger record
	it came from, and a role when one record becomes several documents of one doctype (``prod/11:dependent-2``).
	The one place that format is written and read."""

	prefix: str
	crmid: int
	role: str | None = None

	def __str__(self) -> str:
		return f"{self.prefix}{self.crmid}" + (f":{self.role}" if self.role else "")

	@property
	def record(self) -> VTigerId:
		"""The id of the record itself (every document of a record starts with it)."""
		return VTigerId(self.prefix, self.crmid)

	@classmethod
	def parse(cls, text: str) -> VTigerId:
		head, slash, rest = text.rpartition("/")
		crmid, _, role = rest.partition(":")
		if not crmid.isdigit():
			raise ValueError(f"{text!r} is not a VTiger id (prefix/crmid[:role])")
		return cls(head + slash, int(crmid), role or None)


@dataclass(frozen=True)
class Link:
	"""A reference from one planned document to another, resolved by the handler to a document name.

	``field``: set ``fieldname`` on this document to the target's name. ``dynamic``: add a Dynamic Link row to the
	target (Contact and Address to their Customer). ``primary``: after this document is written, set ``fieldname`` on
	the *target* to this document (the Customer's primary contact and address), which keeps the graph acyclic.
	"""

	kind: LinkKind
	entity: str
	doctype: str
	vtiger_id: str
	fieldname: str | None = None
	required: bool = False
	"""A required link that cannot be resolved fails its document; any other is left empty with a warning."""


@dataclass(frozen=True)
class DocumentPlan:
	entity: str
	doctype: str
	vtiger_id: str
	values: dict[str, Any]
	match: dict[str, Any] = field(default_factory=dict)
	children: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
	child_links: dict[str, list[tuple[Link, ...]]] = field(default_factory=dict)
	"""Per child table, the links of each row (an order line's Item), in the rows' order."""
	links: tuple[Link, ...] = ()
	meta: dict[str, Any] = field(default_factory=dict)
	secrets: dict[str, str] = field(default_factory=dict, repr=False)
	pending: tuple[Any, ...] = ()
	"""How fields with an ERPNext edit still waiting to be pushed were decided (reverse.Decision each)."""
	pulled: dict[str, Any] = field(default_factory=dict)
	"""Each pushed field's VTiger value as the pull read it, before a processor or handler reshaped it (a last
	name moved to the first name, "USA" written as "United States", a refused e-mail left blank): what an ERPNext
	edit of the field is judged against, since that is what VTiger held when the document was last synced."""
	content_hash: str = ""
	module: str = ""
	"""The VTiger module of the record the document comes from (``Accounts``, ``Products``…), for links back."""

	@property
	def key(self) -> tuple[str, str]:
		return (self.doctype, self.vtiger_id)


@dataclass(frozen=True)
class RecordIssue:
	"""Why (part of) a record could not be mapped. Its text never carries a sensitive value."""

	source: RecordRef
	entity: str
	field: str | None
	reason: str
	severity: Literal["error", "warning"] = "error"

	@property
	def message(self) -> str:
		where = f"{self.source}, {self.entity}" + (f".{self.field}" if self.field else "")
		return f"{where}: {self.reason}"

	def translated(self, gettext: Callable[[str], str]) -> str:
		"""The message with its reason in the user's language (the record's names stay as they are)."""
		where = f"{self.source}, {self.entity}" + (f".{self.field}" if self.field else "")
		reason = self.reason.translated(gettext) if isinstance(self.reason, Message) else gettext(self.reason)
		return f"{where}: {reason}"


@dataclass
class BundleResult:
	"""Everything one VTiger record produced: plans in write order, and its issues."""

	source: RecordRef
	plans: list[DocumentPlan] = field(default_factory=list)
	issues: list[RecordIssue] = field(default_factory=list)
	filtered: str | None = None

	@property
	def errors(self) -> list[RecordIssue]:
		return [issue for issue in self.issues if issue.severity == "error"]

	@property
	def failed(self) -> bool:
		"""Some entity of the record could not be planned; the plans that could still be written."""
		return any(issue.severity == "error" for issue in self.issues)


def content_hash(plan_body: dict[str, Any], secrets: dict[str, str], hash_key: bytes) -> str:
	"""A keyed hash of everything the handler would write, so unchanged records are skipped.

	Keyed (HMAC) so that a stored hash cannot be brute-forced back into an SSN or card number. The payload is the
	``repr`` of plain values (str, int, Decimal, date, lists and dicts in the mapping's stable order): exact,
	deterministic and cheap for every document of every run. A changed mapping changes the hashes, and so
	rewrites each document once.
	"""
	payload = repr((plan_body, sorted(secrets.items())))
	return hmac.new(hash_key, payload.encode("utf-8"), hashlib.sha256).hexdigest()
