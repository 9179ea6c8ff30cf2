"""Value transforms named by mapping config."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from vtigercrm_sync.config.transforms import TRANSFORMS, TransformError, is_empty


def apply(name: str, value, arg=None):
	return TRANSFORMS[name][0](value, arg)


@pytest.mark.parametrize("value", ["", "0000-00-00", "0000-00-00 00:00:00", "00/00/0000", " 0000-00-00 "])
def test_vtiger_empty_dates_become_none(value):
	assert apply("date", value) is None
	assert apply("datetime", value) is None


@pytest.mark.parametrize(
	("value", "expected"),
	[
		("2024-11-05", date(2024, 11, 5)),
		(date(2024, 2, 29), date(2024, 2, 29)),
		(datetime(2024, 2, 29, 23, 59, 59), date(2024, 2, 29)),
		("2024-02-29 10:00:00", date(2024, 2, 29)),
	],
)
def test_dates_parse(value, expected):
	assert apply("date", value) == expected


def test_dayfirst_argument():
	assert apply("date", "05/11/2024") == date(2024, 5, 11)
	assert apply("date", "05/11/2024", {"dayfirst": True}) == date(2024, 11, 5)


@pytest.mark.parametrize("value", ["2023-02-30", "not a date", "2023-13-01"])
def test_impossible_dates_raise_without_quoting_the_value(value):
	with pytest.raises(TransformError) as caught:
		apply("date", value)
	assert value not in str(caught.value)


def test_numbers():
	assert apply("decimal", " 1,234.50 ") == Decimal("1234.50")
	assert apply("int", "12.000") == 12
	with pytest.raises(TransformError, match="not a whole number"):
		apply("int", "12.5")
	with pytest.raises(TransformError, match="not a number"):
		apply("decimal", "12 dollars")


@pytest.mark.parametrize(
	("value", "expected"), [("1", 1), ("0", 0), ("Yes", 1), ("sí", 1), ("no", 0), ("", 0)]
)
def test_bool(value, expected):
	assert apply("bool", value) == expected


def test_map_is_case_insensitive_with_fallback():
	table = {"Mr.": "Mr", "Dr": "Dr", "*": None}
	assert apply("map", "mr.", table) == "Mr"
	assert apply("map", " DR ", table) == "Dr"
	assert apply("map", "Sir", table) is None
	with pytest.raises(TransformError, match="no entry"):
		apply("map", "Sir", {"Mr.": "Mr"})


def test_text_transforms():
	assert apply("digits", "123-45-6789") == "123456789"
	assert apply("last4", "4111 1111 1111 1234") == "1234"
	assert apply("truncate", "Łódź Trading", 4) == "Łódź"
	assert apply("trim", "  a b ") == "a b"
	assert apply("title", "müller & söhne") == "Müller & Söhne"


def test_is_empty():
	assert is_empty(None) and is_empty("") and is_empty("  \t")
	assert not is_empty(0) and not is_empty("0") and not is_empty(Decimal(0))
