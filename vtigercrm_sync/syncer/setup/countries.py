"""ERPNext's Country for the free text VTiger keeps in its country columns, written in any language.

VTiger users type countries as they say them: Danmark, Schweiz, Česko, 日本, USA. ERPNext names countries in
English. A country is matched by ERPNext's own name, a common alias, its ISO code, and then its name in every
language the Unicode CLDR knows (through Babel, which Frappe already ships), built once per process.
"""

from __future__ import annotations

from functools import cache

import frappe

COUNTRY_ALIASES = {
	"usa": "United States",
	"us": "United States",
	"u.s.": "United States",
	"u.s.a.": "United States",
	"united states of america": "United States",
	"uk": "United Kingdom",
	"great britain": "United Kingdom",
	"england": "United Kingdom",
	"russia": "Russian Federation",
}
"""Names in common use that are neither ERPNext's nor a CLDR territory name."""


def erpnext_country(value: str) -> str | None:
	text = " ".join(value.split())
	name = COUNTRY_ALIASES.get(text.casefold(), text)
	found = frappe.db.get_value("Country", {"name": name}, "name")
	code = None if found else (text.lower() if len(text) == 2 else _codes_by_name().get(text.casefold()))
	if code and not found:
		found = frappe.db.get_value("Country", {"code": code.lower()}, "name")
	return found


@cache
def _codes_by_name() -> dict[str, str]:
	"""Every country's name in every CLDR language (case-folded) -> its ISO 3166 alpha-2 code."""
	from babel import Locale, localedata

	codes: dict[str, str] = {}
	for identifier in localedata.locale_identifiers():
		if "_" in identifier:
			continue  # a regional variant names countries as its language does
		try:
			territories = Locale.parse(identifier).territories
		except (ValueError, LookupError):
			continue
		for code, name in territories.items():
			if len(code) == 2 and code.isalpha():
				codes.setdefault(name.casefold(), code)
	return codes
