"""ERPNext UOMs for VTiger's usage units: the connection's table, pre-filled with the sensible match of each.

A unit left without a UOM becomes a UOM of its own name when an item first uses it (fractions allowed, as in
VTiger). A whole-number UOM cannot hold VTiger's fractional quantities: the form says so when its units are saved.
"""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _

UNIT_ALIASES = {
	"each": "Nos",
	"pieces": "Nos",
	"piece": "Nos",
	"quantity": "Nos",
	"units": "Unit",
	"hours": "Hour",
	"hrs": "Hour",
	"days": "Day",
	"lb": "Pound",
	"lbs": "Pound",
	"m": "Meter",
	"sq ft": "Square Foot",
	"incidents": None,
}
"""VTiger usage units (lower case) whose ERPNext UOM has another name; None: no sensible match."""


def suggest_uom(unit: str) -> str | None:
	"""The ERPNext UOM that means the same as a VTiger usage unit, if there is one."""
	key = " ".join(unit.split()).casefold()
	if key in UNIT_ALIASES:
		candidates = [UNIT_ALIASES[key]] if UNIT_ALIASES[key] else []
	else:
		candidates = [unit.strip(), unit.strip().rstrip("s")]
	return next((found for c in candidates if c and (found := frappe.db.get_value("UOM", c, "name"))), None)


def fill_units(doc: Any, units: tuple[str, ...]) -> int:
	"""Add a row for each VTiger unit the table lacks, with its suggested UOM; returns how many were added."""
	present = {row.vtiger_unit for row in doc.units}
	added = 0
	for unit in units:
		if unit not in present:
			uom = suggest_uom(unit)
			# The row's fetch_from is not applied to rows added while the document validates: set it here, or
			# the next save ticks it and the form shows a change nobody made.
			whole = bool(uom and frappe.get_cached_value("UOM", uom, "must_be_whole_number"))
			doc.append("units", {"vtiger_unit": unit, "uom": uom, "whole_number": whole})
			added += 1
	return added


def whole_number_units(doc: Any) -> list[str]:
	"""'Each → Nos' for every row whose UOM counts whole units only."""
	return [
		_("{0} → {1}").format(row.vtiger_unit, row.uom)
		for row in doc.units
		if row.uom and frappe.get_cached_value("UOM", row.uom, "must_be_whole_number")
	]
