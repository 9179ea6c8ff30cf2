"""What a sync run reports, independent of where it is reported.

Counts, the final status and progress throttling are plain Python so their rules are tested without Frappe; the
Frappe observer (``observer/frappe.py``) only turns them into realtime events and Sync Log rows.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from vtigercrm_sync.constants import STATUS_FAILED as FAILED
from vtigercrm_sync.constants import STATUS_PARTIAL as PARTIAL
from vtigercrm_sync.constants import STATUS_SUCCESS as SUCCESS
from vtigercrm_sync.constants import STATUS_TIMED_OUT as TIMED_OUT


@dataclass
class Counts:
	"""Records read from VTiger, and what happened to each ERPNext document (or record, for failures)."""

	records_read: int = 0
	created: int = 0
	updated: int = 0
	skipped: int = 0
	failed: int = 0
	deleted: int = 0
	filtered: int = 0
	unchanged: int = 0
	"""Records whose sources did not move since they were written: neither read nor planned."""

	def add(self, action: str, n: int = 1) -> None:
		key = {"Disabled": "deleted", "Deleted": "deleted"}.get(action, action.lower())
		if hasattr(self, key) and key != "records_read":
			setattr(self, key, getattr(self, key) + n)

	def as_dict(self) -> dict[str, int]:
		return asdict(self)

	@property
	def written(self) -> int:
		return self.created + self.updated + self.deleted


def final_status(counts: Counts, error: str | None = None, timed_out: bool = False) -> str:
	"""Success when nothing failed; Partial Success when some records failed but others landed (or were left
	unchanged); Failed when the run could not start or nothing could be written."""
	if timed_out:
		return TIMED_OUT
	if error:
		return FAILED
	if counts.failed and not (counts.written or counts.skipped or counts.unchanged):
		return FAILED
	return PARTIAL if counts.failed else SUCCESS


@dataclass
class ProgressThrottle:
	"""Lets through at most one progress event per ``interval`` seconds, plus the first and the last."""

	interval: float = 0.5
	started: float = 0.0
	_last: float = field(default=-1.0, repr=False)

	def should_emit(self, now: float, done: int, total: int) -> bool:
		if self._last < 0 or done >= total or now - self._last >= self.interval:
			self._last = now
			return True
		return False

	def eta_seconds(self, now: float, done: int, total: int) -> float | None:
		elapsed = now - self.started
		if done <= 0 or elapsed <= 0 or total <= done:
			return None
		return elapsed / done * (total - done)


def progress_payload(done: int, total: int, counts: Counts, eta: float | None) -> dict[str, Any]:
	"""What a progress event carries: figures only, no names, ids or other personal data. Records are VTiger
	records read; the counts are of ERPNext documents, so the form labels them as documents."""
	return {
		"done": done,
		"total": total,
		"percent": 100 if not total else min(100, round(done * 100 / total, 1)),
		"documents": {
			"created": counts.created,
			"updated": counts.updated,
			"unchanged": counts.skipped,
			"failed": counts.failed,
		},
		"eta": None if eta is None else int(eta),
	}


# "#" is optional: lines logged before record ids were written "Accounts #123" have none. Only the record goes:
# the field after it ("sales_order.items[1].item_code: ") is what the group is about.
_RECORD_PREFIX = re.compile(r"^\w+ #?\d+, (?=[\w#.\[\]]+: )")
_EMAIL = re.compile(r"[^\s@(),;:]+@[^\s@(),;:]+")
# A quoted value goes, a quoted name stays: "needs 'address', which VTiger does not have" says which entity.
_QUOTED = re.compile(r"'(?![a-z][a-z0-9_]*')[^']*'")
# A figure goes, a digit inside a name stays (address_line1, tax1).
_NUMBER = re.compile(r"(?<![\w.])#?\d+(?:[.,]\d+)*(?!\w)")


def reason_of(message: str) -> str:
	"""What a log line says, without what is particular to its record (its id, figures, e-mail addresses,
	quoted values) but with the field and the names it is about, so lines failing for one reason group together
	("56 lines: e-mail refused by ERPNext") and the group says as much as any of its lines."""
	reason = _RECORD_PREFIX.sub("", message or "")
	reason = _EMAIL.sub("<e-mail>", reason)
	reason = _QUOTED.sub("'…'", reason)
	return _NUMBER.sub("#", reason).strip()


def group_reasons(messages: Iterable[str]) -> list[tuple[str, int]]:
	"""(reason, how many lines) for each distinct reason, most frequent first."""
	return Counter(reason_of(message) for message in messages).most_common()


def headline(error: str, length: int = 200) -> str:
	"""A run's error in one line that fits a form's summary or a notification's subject (the whole text stays
	on the log)."""
	line = (error or "").strip().splitlines()[0] if (error or "").strip() else ""
	return line if len(line) <= length else line[: length - 1].rstrip() + "…"
