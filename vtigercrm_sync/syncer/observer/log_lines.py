"""Where a Sync Log keeps its lines and its chunks: doctypes of their own that link to the log, never child tables.

A first sync can write tens of thousands of lines; as rows of a child table the log's form, its grouped summary
and Retry failed records loaded them all. Here they are written in bulk, read a page at a time, grouped and
counted in SQL, and deleted with their log (as Frappe's Data Import keeps its Data Import Log). A line's name is
the next number of the line doctype's sequence, taken as it is inserted: writers of one log running at once (the
chunks of a parallel run, a push drain) never share one, and a log's lines in name order are in the order they
were written. Each line keeps its reason (``observer/base.py``: :func:`reason_of`), so grouping is a GROUP BY.
"""

from __future__ import annotations

from typing import Any

import frappe
from frappe.utils import cint, now_datetime

from vtigercrm_sync.constants import (
	ACTION_FAILED,
	CHUNK_DOCTYPE,
	DIRECTION_PULL,
	LOG_LINE_DOCTYPE,
)
from vtigercrm_sync.syncer.observer.base import reason_of

LINE_COLUMNS = (
	"direction",
	"vtiger_module",
	"vtiger_id",
	"vtiger_record",
	"entity",
	"target_doctype",
	"target_name",
	"action",
	"message",
)
INSERT_ROWS = 1000
"""Lines per INSERT statement."""
PAGE_LENGTH = 20
MAX_PAGE_LENGTH = 500
SUMMARY_ACTIONS = (ACTION_FAILED, "Warning")
"""What the log's summary groups, in this order: failures first."""
GROUP_RECORDS = 5
"""Records shown under each group of the summary."""
LINE_PAGE_FIELDS = ("name", "chunk", "reason", *LINE_COLUMNS)


def insert_lines(log: str, lines: list[dict[str, Any]], chunk: str | None = None) -> None:
	"""Append ``lines`` (dicts of :data:`LINE_COLUMNS`: no direction means a pull's, no record 0, no ``creation``
	and ``owner`` now's and the session user's) to ``log`` in a few statements, in the caller's transaction."""
	now, user = now_datetime(), frappe.session.user
	columns = ("log", "chunk", "creation", "modified", "owner", "modified_by", *LINE_COLUMNS, "reason")
	row = "(NEXTVAL(`{}`), {})".format(
		frappe.scrub(f"{LOG_LINE_DOCTYPE}_id_seq"), ", ".join(["%s"] * len(columns))
	)
	names = ", ".join(f"`{column}`" for column in ("name", *columns))
	for start in range(0, len(lines), INSERT_ROWS):
		batch = lines[start : start + INSERT_ROWS]
		values = []
		for line in batch:
			line = {
				**line,
				"direction": line.get("direction") or DIRECTION_PULL,
				"vtiger_record": line.get("vtiger_record") or 0,
			}
			created, owner = line.get("creation") or now, line.get("owner") or user
			values += [log, chunk, created, created, owner, owner]
			values += [line.get(column) for column in LINE_COLUMNS]
			values.append(reason_of(line.get("message") or ""))
		frappe.db.sql(
			f"INSERT INTO `tab{LOG_LINE_DOCTYPE}` ({names}) VALUES {', '.join([row] * len(batch))}", values
		)


def page_lines(log: str, start: int = 0, page_length: int = PAGE_LENGTH, action: str | None = None) -> dict:
	"""One page of a log's lines in the order they were written (``action`` only those), and how many there
	are in all."""
	filters = {"log": log, **({"action": action} if action else {})}
	page_length = min(max(cint(page_length), 1), MAX_PAGE_LENGTH)
	return {
		"lines": frappe.get_all(
			LOG_LINE_DOCTYPE,
			filters=filters,
			fields=list(LINE_PAGE_FIELDS),
			order_by="name asc",
			start=max(cint(start), 0),
			page_length=page_length,
		),
		"total": frappe.db.count(LOG_LINE_DOCTYPE, filters),
	}


def reason_groups(log: str) -> list[frappe._dict]:
	"""(action, reason, count) of the log's failures and warnings, failures first, then the most frequent; ties
	in the order their first line was written."""
	return frappe.db.sql(
		f"""SELECT action, reason, COUNT(*) AS count, MIN(name) AS first
		FROM `tab{LOG_LINE_DOCTYPE}` WHERE log = %(log)s AND action IN %(actions)s
		GROUP BY action, reason
		ORDER BY action != %(failed)s, count DESC, first""",
		{"log": log, "actions": SUMMARY_ACTIONS, "failed": ACTION_FAILED},
		as_dict=True,
	)


def group_records(log: str) -> list[frappe._dict]:
	"""The first :data:`GROUP_RECORDS` lines of each (action, reason) group of :func:`reason_groups`."""
	return frappe.db.sql(
		f"""SELECT action, reason, target_doctype, target_name, vtiger_id, vtiger_module, vtiger_record FROM (
			SELECT *, ROW_NUMBER() OVER (PARTITION BY action, reason ORDER BY name) AS place
			FROM `tab{LOG_LINE_DOCTYPE}` WHERE log = %(log)s AND action IN %(actions)s
		) AS numbered WHERE place <= %(records)s ORDER BY name""",
		{"log": log, "actions": SUMMARY_ACTIONS, "records": GROUP_RECORDS},
		as_dict=True,
	)


def failed_records(log: str, module: str | None = None, record: int | str | None = None) -> list[list[str]]:
	"""Distinct [module, crmid] of the records the run could not write (or only ``module`` ``record``), in the
	order they failed: the record each failed line came from (an order, for the contact it could not write)."""
	only = "AND vtiger_module = %(module)s AND vtiger_record = %(record)s" if record else ""
	rows = frappe.db.sql(
		f"""SELECT vtiger_module, vtiger_record FROM `tab{LOG_LINE_DOCTYPE}`
		WHERE log = %(log)s AND action = %(failed)s AND vtiger_record > 0 {only}
		GROUP BY vtiger_module, vtiger_record ORDER BY MIN(name)""",
		{"log": log, "failed": ACTION_FAILED, "module": module, "record": cint(record)},
	)
	return [[name, str(crmid)] for name, crmid in rows]


def delete_log_rows(logs: Any) -> None:
	"""Delete the lines and chunks of ``logs`` (a log's name, or a query selecting names of logs)."""
	for doctype in (LOG_LINE_DOCTYPE, CHUNK_DOCTYPE):
		table = frappe.qb.DocType(doctype)
		frappe.db.delete(
			table, filters=table.log.isin(logs) if not isinstance(logs, str) else table.log == logs
		)


def chunks_of(log: str, fields: list[str] | None = None, **filters: Any) -> list[frappe._dict]:
	"""The log's chunks (those matching ``filters``) in the order they were cut."""
	return frappe.get_all(
		CHUNK_DOCTYPE, filters={"log": log, **filters}, fields=fields or ["*"], order_by="idx asc", limit=0
	)
