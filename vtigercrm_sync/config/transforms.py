"""Value transforms that mapping config can name, applied in order to a VTiger value.

Each transform takes the value and its configured argument and returns the new value, or raises
:class:`TransformError` with a reason that never repeats the value itself (it may be an SSN).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from dateutil import parser as date_parser

EMPTY_DATES = {"", "0000-00-00", "0000-00-00 00:00:00", "00/00/0000", "00-00-0000"}


class TransformError(ValueError):
	pass


def is_empty(value: Any) -> bool:
	return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
	return value if isinstance(value, str) else str(value)


def trim(value: Any, _arg: Any = None) -> Any:
	return value.strip() if isinstance(value, str) else value


def upper(value: Any, _arg: Any = None) -> Any:
	return _text(value).upper()


def lower(value: Any, _arg: Any = None) -> Any:
	return _text(value).lower()


def title(value: Any, _arg: Any = None) -> Any:
	return _text(value).title()


def digits(value: Any, _arg: Any = None) -> str:
	return re.sub(r"\D", "", _text(value))


def last4(value: Any, _arg: Any = None) -> str:
	return digits(value)[-4:]


def truncate(value: Any, length: int) -> str:
	return _text(value)[:length]


def to_date(value: Any, arg: dict | None = None) -> date | None:
	"""VTiger's empty and zero dates become None; anything else must parse or it is an error."""
	if isinstance(value, datetime):
		return value.date()
	if isinstance(value, date):
		return value
	text = _text(value).strip()
	if text in EMPTY_DATES:
		return None
	try:
		return date_parser.parse(text, dayfirst=bool((arg or {}).get("dayfirst"))).date()
	except (ValueError, OverflowError):
		raise TransformError("is not a valid date")


def to_datetime(value: Any, arg: dict | None = None) -> datetime | None:
	if isinstance(value, datetime):
		return value
	if isinstance(value, date):
		return datetime(value.year, value.month, value.day)
	text = _text(value).strip()
	if text in EMPTY_DATES:
		return None
	try:
		return date_parser.parse(text, dayfirst=bool((arg or {}).get("dayfirst")))
	except (ValueError, OverflowError):
		raise TransformError("is not a valid date and time")


def to_decimal(value: Any, _arg: Any = None) -> Decimal:
	try:
		return Decimal(_text(value).strip().replace(",", ""))
	except InvalidOperation:
		raise TransformError("is not a number")


def to_int(value: Any, _arg: Any = None) -> int:
	number = to_decimal(value)
	if number != number.to_integral_value():
		raise TransformError("is not a whole number")
	return int(number)


def to_bool(value: Any, _arg: Any = None) -> int:
	"""VTiger checkboxes are '0'/'1' strings; picklists sometimes say yes/no."""
	return 1 if _text(value).strip().lower() in {"1", "yes", "y", "true", "on", "si", "sí"} else 0


def compile_map(table: dict[str, Any]) -> dict[str, Any]:
	"""A value map with lower-cased keys, built once per mapping."""
	return {str(k).strip().lower(): v for k, v in table.items()}


def lookup_map(value: Any, lowered: dict[str, Any]) -> Any:
	key = _text(value).strip().lower()
	if key in lowered:
		return lowered[key]
	if "*" in lowered:
		return lowered["*"]
	raise TransformError("has no entry in the value map")


def value_map(value: Any, table: dict[str, Any]) -> Any:
	"""Translate picklist values; keys compare case-insensitively, ``"*"`` is the fallback."""
	return lookup_map(value, compile_map(table))


TRANSFORMS: dict[str, tuple[Callable[[Any, Any], Any], type | None]] = {
	"trim": (trim, None),
	"upper": (upper, None),
	"lower": (lower, None),
	"title": (title, None),
	"digits": (digits, None),
	"last4": (last4, None),
	"truncate": (truncate, int),
	"date": (to_date, dict),
	"datetime": (to_datetime, dict),
	"decimal": (to_decimal, None),
	"int": (to_int, None),
	"bool": (to_bool, None),
	"map": (value_map, dict),
}
"""name -> (function, type of its argument or None when it takes none)."""
