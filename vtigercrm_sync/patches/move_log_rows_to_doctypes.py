"""Bring back the rows ``set_aside_child_log_rows`` set aside, so logs written before issue 16 stay readable: a
chunk keeps its name and fields, linked to its log (its old ``parent``); a line takes the next sequence number (in
the order of its log's lines, logs oldest first), its reason for the log's grouped summary, and its log. Rows of
logs that no longer exist (log clearing used to leave chunks behind) are dropped with the old tables."""

import frappe

from vtigercrm_sync.constants import CHUNK_DOCTYPE, LOG_DOCTYPE, LOG_LINE_DOCTYPE
from vtigercrm_sync.patches.set_aside_child_log_rows import ASIDE
from vtigercrm_sync.syncer.observer.log_lines import LINE_COLUMNS, insert_lines

BATCH = 5000


def execute():
	if table_exists(ASIDE[CHUNK_DOCTYPE]):
		move_chunks(ASIDE[CHUNK_DOCTYPE])
	if table_exists(ASIDE[LOG_LINE_DOCTYPE]):
		move_lines(ASIDE[LOG_LINE_DOCTYPE])


def move_chunks(aside: str) -> None:
	new = set(columns_of(f"tab{CHUNK_DOCTYPE}"))
	shared = [c for c in columns_of(aside) if c in new and c != "log"]
	names = ", ".join(f"`{column}`" for column in shared)
	frappe.db.sql(
		f"""INSERT INTO `tab{CHUNK_DOCTYPE}` ({names}, `log`) SELECT {names}, parent FROM `{aside}`
		WHERE parenttype = %(log_doctype)s AND parent IN (SELECT name FROM `tab{LOG_DOCTYPE}`)""",
		{"log_doctype": LOG_DOCTYPE},
	)
	frappe.db.commit()
	frappe.db.sql_ddl(f"DROP TABLE `{aside}`")


def move_lines(aside: str) -> None:
	"""Log by log, a batch at a time in the log's order (``idx``; chunks' numbers could collide, then ``name``)."""
	present = set(columns_of(aside))
	fields = ", ".join(f"`{c}`" for c in ("name", "idx", "creation", "owner", *LINE_COLUMNS) if c in present)
	logs = frappe.db.sql(
		f"""SELECT parent FROM `{aside}`
		WHERE parenttype = %(log_doctype)s AND parent IN (SELECT name FROM `tab{LOG_DOCTYPE}`)
		GROUP BY parent ORDER BY MIN(creation), parent""",
		{"log_doctype": LOG_DOCTYPE},
		pluck=True,
	)
	for log in logs:
		after = (-1, "")
		while True:
			rows = frappe.db.sql(
				f"""SELECT {fields} FROM `{aside}` WHERE parenttype = %(log_doctype)s AND parent = %(log)s
				AND (idx > %(idx)s OR (idx = %(idx)s AND name > %(name)s))
				ORDER BY idx, name LIMIT %(batch)s""",
				{"log_doctype": LOG_DOCTYPE, "log": log, "idx": after[0], "name": after[1], "batch": BATCH},
				as_dict=True,
			)
			if not rows:
				break
			insert_lines(log, rows)
			after = (rows[-1].idx, rows[-1].name)
		frappe.db.commit()
	frappe.db.sql_ddl(f"DROP TABLE `{aside}`")


def table_exists(table: str) -> bool:
	return bool(
		frappe.db.sql(
			"SELECT 1 FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = %s",
			table,
		)
	)


def columns_of(table: str) -> list[str]:
	return frappe.db.sql(
		"""SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = %s
		ORDER BY ordinal_position""",
		table,
		pluck=True,
	)
