"""Where a stage is cut: every key in exactly one range, moved records only in job ranges of ``size`` at most,
unchanged stretches settled without a job."""

import random
from datetime import datetime, timedelta

import pytest

from vtigercrm_sync.syncer.services.chunks import Range, cut
from vtigercrm_sync.syncer.services.query import Watermark

START = datetime(2024, 1, 1)


def keys_of(pattern: str) -> list[tuple[Watermark, bool]]:
	"""``"..xx."``: one key a character, ``x`` moved, ``.`` unchanged."""
	return [(Watermark(START + timedelta(seconds=i), 100 + i), c == "x") for i, c in enumerate(pattern)]


def shape(keys: list[tuple[Watermark, bool]], ranges: list[Range]) -> list[tuple[int, int, int, bool]]:
	"""Each range as (first index, last index, records, settled)."""
	index = {key: i for i, (key, _moved) in enumerate(keys)}
	return [
		(0 if r.after is None else index[r.after] + 1, index[r.upto], r.records, r.settled) for r in ranges
	]


@pytest.mark.parametrize(
	"pattern, size, expected",
	[
		("xxxxx", 2, [(0, 1, 2, False), (2, 3, 2, False), (4, 4, 1, False)]),
		(".....", 2, [(0, 4, 5, True)]),
		# an unchanged Full Resync's common shape: unchanged records first, the moved ones last
		("......xx", 3, [(0, 5, 6, True), (6, 7, 2, False)]),
		# a short unchanged stretch stays in its job's range; the tail is settled
		("x.x..", 3, [(0, 2, 3, False), (3, 4, 2, True)]),
		# a stretch of a chunk's worth between moved records is settled
		("x...x", 3, [(0, 0, 1, False), (1, 3, 3, True), (4, 4, 1, False)]),
		("", 3, []),
	],
)
def test_ranges_of_a_stage(pattern, size, expected):
	keys = keys_of(pattern)
	assert shape(keys, cut(keys, None, size)) == expected


def test_a_stage_that_only_writes_what_moved_records_bring_is_one_range_over_its_moved_records():
	keys = keys_of("...x....x...")
	assert shape(keys, cut(keys, None, 2, whole=True)) == [(3, 8, 6, False)]
	assert cut(keys_of("...."), None, 2, whole=True) == []


def test_ranges_start_after_the_window_start():
	keys = keys_of("..x")
	start = Watermark(START - timedelta(days=1), 1)
	ranges = cut(keys, start, 5)
	assert ranges[0].after == start
	assert [r.upto for r in ranges] == [keys[2][0]]


@pytest.mark.parametrize("seed", range(200))
def test_every_key_is_in_exactly_one_range_and_every_moved_key_in_a_job(seed):
	rng = random.Random(seed)
	size = rng.randint(1, 6)
	density = rng.random()
	keys = keys_of("".join("x" if rng.random() < density else "." for _ in range(rng.randint(0, 60))))
	ranges = cut(keys, None, size)
	after = None
	covered = []
	for r in ranges:
		assert r.after == after  # contiguous from the stage's start
		part = [(key, moved) for key, moved in keys[len(covered) :] if key <= r.upto]
		assert r.records == len(part) > 0
		moved = sum(m for _k, m in part)
		if r.settled:
			assert moved == 0
			assert len(part) >= size or r is ranges[-1]
		else:
			assert 0 < moved <= size
		covered.extend(part)
		after = r.upto
	assert covered == keys
