"""What a sync run reports, independent of where it is reported.

Counts, the final status and progress throttling are plain Python so their rules are tested without Frappe; the
Frappe observer (``observer/frappe.py``) only turns them into realtime events and Sync Log rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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
	"""Success when nothing failed; Partial Success when some records failed but others landed; Failed when the
	run could not start or nothing could be written."""
	if timed_out:
		return TIMED_OUT
	if error:
		return FAILED
	if counts.failed and not (counts.written or counts.skipped):
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


def progress_text(done: int, total: int, counts: Counts, eta: float | None) -> str:
	"""A progress line with figures only: no names, ids or other personal data."""
	parts = [f"{done:,} / {total:,}"]
	parts.append(
		f"{counts.created} created, {counts.updated} updated, {counts.skipped} skipped, {counts.failed} failed"
	)
	if eta is not None:
		parts.append(f"ETA {int(eta // 60)}m {int(eta % 60):02d}s")
	return " · ".join(parts)
