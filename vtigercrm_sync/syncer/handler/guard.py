"""Values ERPNext would refuse, taken off their field before a save instead of sinking the document.

VTiger accepts what ERPNext does not: e-mail addresses with a non-ASCII local part (RFC 6531), phone numbers with
an extension, links to records that are not there, over-long text. Frappe refuses the whole document for one such
value, and with it every document that links to it. The guard runs the checks Frappe's save would run
(``BaseDocument._validate_data_fields``, ``_validate_selects``, ``_validate_length`` and the link check), field by
field, before the save: a refused value is left off its field (a child row whose required value is refused is left
out) and handed back as a :class:`Refusal`, which the handler keeps on the document, visible, and logs as a
Warning. A value of a mandatory field stays where it is, so the save says why that document cannot be written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint, cstr, split_emails, validate_email_address, validate_name, validate_url
from frappe.utils import validate_phone_number as is_phone_number
from phonenumbers import NumberParseException, is_valid_number, parse

from vtigercrm_sync.constants import REFUSED_FIELD


@dataclass(frozen=True)
class Refusal:
	"""A value ERPNext refused: where it was going, the value itself, and why."""

	label: str
	value: Any
	reason: str

	def __str__(self) -> str:
		return f"{self.label}: {self.value}"


class FieldGuard:
	"""The refusal checks of one doctype (and its child tables), with link existence cached for the run."""

	def __init__(self, doctype: str):
		self.meta = frappe.get_meta(doctype)
		self._exists: dict[tuple[str, str], bool] = {}
		self._resolved: frozenset[tuple[str, str]] = frozenset()

	def check(
		self,
		values: dict[str, Any],
		children: dict[str, list[dict[str, Any]]],
		resolved: frozenset[tuple[str, str]] = frozenset(),
	) -> list[Refusal]:
		"""Take refused values out of ``values`` and ``children`` (in place); return what was refused. Links
		in ``resolved`` ((doctype, name) the run itself found or wrote) are known to exist: not looked up."""
		self._resolved = resolved
		refusals, _required = self._check_fields(self.meta, values, "")
		for table, rows in children.items():
			df = self.meta.get_field(table)
			if not df or not df.options:
				continue
			child_meta = frappe.get_meta(df.options)
			kept = []
			for index, row in enumerate(rows, start=1):
				where = _("{0} row {1}").format(_(df.label), index) + ": "
				row_refusals, lost_required = self._check_fields(child_meta, row, where)
				refusals += row_refusals
				if not lost_required:
					kept.append(row)
			rows[:] = kept
		return refusals

	def _check_fields(self, meta: Any, values: dict[str, Any], where: str) -> tuple[list[Refusal], bool]:
		"""Refusals among ``values`` (each taken off its field), and whether a mandatory value was among them:
		a child row then cannot be kept, a document's save says which value it misses."""
		refusals = []
		lost_required = False
		for fieldname, value in list(values.items()):
			df = meta.get_field(fieldname)
			if df is None or value in (None, "") or fieldname == REFUSED_FIELD:
				continue
			reason = self._refusal(df, value)
			if reason is None:
				continue
			refusals.append(Refusal(f"{where}{_(df.label)} ({fieldname})", value, reason))
			values[fieldname] = None
			lost_required = lost_required or bool(df.reqd)
		return refusals, lost_required

	def _refusal(self, df: Any, value: Any) -> str | None:
		check = CHECKS.get((df.fieldtype, df.options if df.fieldtype == "Data" else None))
		if check is not None:
			return check(value)
		if df.fieldtype == "Link" and df.options:
			return self._missing_link(df.options, cstr(value))
		if df.fieldtype == "Select":
			options = (df.options or "").split("\n")
			if any(options) and cstr(value).strip() not in options:
				return _("not one of the options: {0}").format(", ".join(o for o in options if o))
		max_length = _varchar_length(df)
		if max_length and len(cstr(value)) > max_length:
			return _("longer than the {0} characters ERPNext keeps").format(max_length)
		return None

	def _missing_link(self, doctype: str, name: str) -> str | None:
		key = (doctype, name)
		if key in self._resolved:
			return None
		if key not in self._exists:
			self._exists[key] = bool(frappe.db.exists(doctype, name, cache=True))
		return None if self._exists[key] else _("no {0} named {1} in ERPNext").format(_(doctype), name)


def _emails(value: Any) -> str | None:
	if all(validate_email_address(address) for address in split_emails(cstr(value))):
		return None
	return _("not an e-mail address ERPNext accepts (it allows only ASCII letters before the @)")


def _name(value: Any) -> str | None:
	return None if validate_name(cstr(value)) else _("not a name ERPNext accepts")


def _phone(value: Any) -> str | None:
	return None if is_phone_number(cstr(value)) else _("not a phone number ERPNext accepts")


def _phone_with_country(value: Any) -> str | None:
	try:
		if is_valid_number(parse(cstr(value))):
			return None
	except NumberParseException:
		pass
	return _("not a phone number with a country code")


def _url(value: Any) -> str | None:
	return None if validate_url(cstr(value)) else _("not a web address ERPNext accepts")


CHECKS: dict[tuple[str, str | None], Callable[[Any], str | None]] = {
	("Data", "Email"): _emails,
	("Data", "Name"): _name,
	("Data", "Phone"): _phone,
	("Data", "URL"): _url,
	("Phone", None): _phone_with_country,
}
"""(fieldtype, Data options) -> the check Frappe's save runs, returning why a value is refused or None."""


def _varchar_length(df: Any) -> int:
	column_type, default_length = (frappe.db.type_map.get(df.fieldtype) or (None, None))[:2]
	if column_type != "varchar":
		return 0
	return cint(df.get("length")) or cint(default_length)
