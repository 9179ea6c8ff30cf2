"""Names of the Sales Orders and Addresses a sync writes, numbered outside the run's transaction.

Frappe numbers a naming series by updating its row in ``tabSeries`` inside the transaction that inserts the
document, so the row stays locked until that transaction commits. A run commits its orders in groups of about a
second and a half: with two workers writing orders, each waited for the other's group to commit, and the orders
of a stage were written one worker at a time. The ``autoname`` hook below takes the next number of the same
series, with Frappe's own parsing of it (prefix, date parts, digits), in a connection of its own that commits at
once, so the counter is locked for one statement. The price: an order whose insert is rolled back (it failed, or
its group met a lock and was written again) leaves a gap in the series, as a deleted order does. Orders saved by
anything but a sync, and amendments (named after the order they amend), are named by Frappe as always.

An Address is named after its title and type, and numbered in a series of that name (``<title>-Billing-1``) once
the plain name is taken: every order's address snapshot of one customer numbers the same row, which two workers
writing orders of that customer took in turn (and, inserting a new row, locked the gap beside it). A synced
Address takes its name from :func:`inbound_address_name`, ERPNext's ``Address.autoname`` with the number taken
by :func:`next_number`.
"""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _
from frappe.database import get_db
from frappe.model.naming import NamingSeries, get_default_naming_series, parse_naming_series
from frappe.utils import cstr

_counters: dict[str, Any] = {}
"""site -> this process's connection for series numbers."""


def name_inbound_order(doc: Any, method: str | None = None) -> None:
	"""doc_events ``autoname`` of Sales Order: a synced order's name from its series, as Frappe's
	``set_name_by_naming_series`` makes it, numbered by :func:`next_number`."""
	if doc.name or not doc.flags.vtiger_inbound or doc.get("amended_from"):
		return
	doc.naming_series = doc.naming_series or get_default_naming_series(doc.doctype)
	if not doc.naming_series:
		return  # Frappe's naming says what is missing
	series = NamingSeries(doc.naming_series + ".#####")
	series.validate()
	doc.name = parse_naming_series(series.series.split("."), doc=doc, number_generator=next_number)


def inbound_address_name(doc: Any) -> str | None:
	"""The name ``Address.autoname`` gives a new Address (its title, from its first link when it has none),
	numbered by :func:`next_number` when the plain name is taken; None when it has no title (Frappe's naming
	says so)."""
	if not doc.address_title and doc.links:
		doc.address_title = doc.links[0].link_title or doc.links[0].link_name
	title = cstr(doc.address_title).strip()
	if not title:
		return None
	name = f"{title}-{cstr(_(doc.address_type)).strip()}"
	if not frappe.db.exists("Address", name):
		return name
	series = NamingSeries(f"{title}-{cstr(doc.address_type).strip()}-.#")
	return parse_naming_series(series.series.split("."), doc=doc, number_generator=next_number)


def next_number(prefix: str, digits: int) -> str:
	"""The series' next number, committed at once in this process's own connection."""
	try:
		current = _take(_counter(), prefix)
	except Exception:
		_counters.pop(frappe.local.site, None)  # a connection that dropped: once more, on a new one
		current = _take(_counter(), prefix)
	return f"{current:0{digits}d}"


def _take(db: Any, prefix: str) -> int:
	db.sql("INSERT IGNORE INTO `tabSeries` (`name`, `current`) VALUES (%s, 0)", (prefix,))
	db.sql("UPDATE `tabSeries` SET `current` = LAST_INSERT_ID(`current` + 1) WHERE `name` = %s", (prefix,))
	current = db.sql("SELECT LAST_INSERT_ID()")[0][0]
	db.commit()
	return int(current)


def _counter() -> Any:
	site = frappe.local.site
	if site not in _counters:
		conf = frappe.local.conf
		_counters[site] = get_db(
			socket=conf.db_socket,
			host=conf.db_host,
			port=conf.db_port,
			user=conf.db_name,
			password=conf.db_password,
			cur_db_name=conf.db_name,
		)
	return _counters[site]
