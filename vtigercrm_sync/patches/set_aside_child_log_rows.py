"""Log lines and chunks were child tables of the Sync Log; they become doctypes of their own (issue 16), and a
line's name becomes a sequence number, which Frappe's model sync cannot give a table that has rows. Before the
sync, their old tables are renamed aside, so the sync creates the new ones; ``move_log_rows_to_doctypes`` then
brings the rows back, each linked to its log."""

import frappe

from vtigercrm_sync.constants import CHUNK_DOCTYPE, LOG_LINE_DOCTYPE

ASIDE = {
	LOG_LINE_DOCTYPE: "_vtigercrm_sync_child_log_line",
	CHUNK_DOCTYPE: "_vtigercrm_sync_child_chunk",
}


def execute():
	for doctype, aside in ASIDE.items():
		if is_child_table(f"tab{doctype}"):
			frappe.db.sql_ddl(f"RENAME TABLE `tab{doctype}` TO `{aside}`")
	frappe.cache.delete_value("db_tables")


def is_child_table(table: str) -> bool:
	return bool(
		frappe.db.sql(
			"""SELECT 1 FROM information_schema.columns
			WHERE table_schema = DATABASE() AND table_name = %s AND column_name = 'parenttype'""",
			table,
		)
	)
