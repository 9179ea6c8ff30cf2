"""Where a stage of a run is cut into chunks, from its keys and whether each record moved since the last run.

A chunk is a range of keys one job reads: ``(after, up to]`` in keyset order. Records whose fingerprint did not
move need no job at all, so a long stretch of them (at least one chunk's worth, or the whole stage) becomes a
*settled* range: counted as unchanged when the stage is cut, never read. A short stretch between moved records
stays inside its job's range, where the job compares it again (cheaper than a job of its own). Records modified
in VTiger sort last in keyset order, so an unchanged Full Resync settles every stage in the job that cuts it, and
k changes of N cost a job over k records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vtigercrm_sync.syncer.services.query import Watermark


@dataclass(frozen=True)
class Range:
	"""``after`` (None: the stage's start) to ``upto``, both keys; ``records`` in it, all unchanged when
	``settled``."""

	after: Watermark | None
	upto: Watermark
	records: int
	settled: bool = False


def cut(
	keys: Iterable[tuple[Watermark, bool]], start: Watermark | None, size: int, whole: bool = False
) -> list[Range]:
	"""The ranges of a stage whose keys (in keyset order, each with "moved") follow ``start``: job ranges of
	``size`` moved records at most (one, however many, with ``whole``), settled ranges for stretches of at least
	``size`` unchanged records and for the unchanged tail. With ``whole`` (a stage that only writes what moved
	records bring along) nothing is settled: one range from the first moved record to the last, the unchanged
	records outside it left out, not counted."""
	ranges: list[Range] = []
	after = start  # where the open range starts
	records = moved = 0  # in the open range
	quiet, quiet_after = 0, start  # the unchanged stretch that ends the open range, and the key before it
	last = start
	for key, changed in keys:
		if whole and not changed and not moved:
			after = last = key  # unchanged records before the first moved one: not even in the range
			continue
		if changed:
			if quiet >= size and not whole:
				if moved:
					ranges.append(Range(after, quiet_after, records - quiet))
				ranges.append(Range(quiet_after, last, quiet, settled=True))
				after, records, moved = last, 0, 0
			quiet = 0
			moved += 1
		else:
			if not quiet:
				quiet_after = last
			quiet += 1
		records, last = records + 1, key
		if changed and moved == size and not whole:
			ranges.append(Range(after, key, records))
			after, records, moved, quiet = key, 0, 0, 0
	if moved:
		ranges.append(Range(after, quiet_after if quiet else last, records - quiet))
	if quiet and not whole:
		ranges.append(Range(quiet_after, last, quiet, settled=True))
	return ranges
