"""A Sync Log's lines and chunks are doctypes of their own (issue 16, defect 8).

The form reads the lines a page at a time and the grouped summary is counted in SQL, so a log of 50,000 lines is
never loaded whole; chunks writing at once on real workers number their lines from one sequence; clearing old logs
(and deleting one) takes their lines and chunks along; and the patch brings the child rows of logs written by the
previous version back, linked to their logs.
"""

from __future__ import annotations

import os
from collections import Counter

import frappe

from vtigercrm_sync.constants import CHUNK_DOCTYPE, LOG_DOCTYPE, LOG_LINE_DOCTYPE
from vtigercrm_sync.patches import move_log_rows_to_doctypes, set_aside_child_log_rows
from vtigercrm_sync.syncer.observer.base import reason_of
from vtigercrm_sync.syncer.run.stages import QUEUE
from vtigercrm_sync.tests import test_parallel
from vtigercrm_sync.tests.utils import (
	DATABASE,
	VTigerSyncTestCase,
	chunks_of,
	lines_of,
	sales_user,
	start_worker,
)
from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_log.vtigercrm_sync_log import (
	VTigerCRMSyncLog,
	get_lines,
)

ORDERS = 25
"""Orders that fail, one line each: more than a page of the form (20)."""
PAGE = 20
OLD_COLUMNS = """name varchar(140) primary key, creation datetime(6), modified datetime(6), modified_by varchar(140),
	owner varchar(140), docstatus int(1) not null default 0, idx int(8) not null default 0,
	parent varchar(140), parentfield varchar(140), parenttype varchar(140), index parent(parent)"""
OLD_LINE_TABLE = f"""CREATE TABLE `tab{LOG_LINE_DOCTYPE}` ({OLD_COLUMNS},
	direction varchar(140) default 'VTiger → ERPNext', vtiger_module varchar(140), vtiger_id varchar(140),
	vtiger_record int(11) not null default 0, entity varchar(140), target_doctype varchar(140),
	target_name varchar(140), action varchar(140), message text) ENGINE=InnoDB CHARACTER SET=utf8mb4 COLLATE=utf8mb4_unicode_ci"""
OLD_CHUNK_TABLE = f"""CREATE TABLE `tab{CHUNK_DOCTYPE}` ({OLD_COLUMNS},
	stage varchar(140), module varchar(140), since_key varchar(140), until_key varchar(140), status varchar(140),
	attempts int(11) not null default 0, enqueued int(11) not null default 0, done_key varchar(140),
	records int(11) not null default 0, records_read int(11) not null default 0, failed int(11) not null default 0,
	`lines` int(11) not null default 0, error text) ENGINE=InnoDB CHARACTER SET=utf8mb4 COLLATE=utf8mb4_unicode_ci"""
"""The tables of the two child doctypes as the previous version's model sync made them (the columns the patch
reads; the others are the same in both versions)."""


class TestLogLines(VTigerSyncTestCase):
	database = f"{DATABASE}_log_lines"
	"""Of its own: its failing orders would fail the other classes' runs."""

	# test_parallel's helpers for a run on real workers (its class is not imported: it would run here too)
	configure = test_parallel.TestParallelRun.configure
	start_run = test_parallel.TestParallelRun.start_run
	wait_for = test_parallel.TestParallelRun.wait_for
	wait_final = test_parallel.TestParallelRun.wait_final

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		w = cls.writer
		cls.account = w.create_account(cls.name("Lines Co"), at=cls.tick())
		# crmid 1 is no product: each order fails alone, with a line naming its item
		cls.orders = [
			w.create_sales_order(
				cls.name(f"Lines order {n}"),
				account_id=cls.account,
				lines=[{"productid": 1, "quantity": 1, "listprice": 10}],
				at=cls.tick(),
			)
			for n in range(ORDERS)
		]

	def test_the_form_reads_a_page_of_lines_and_the_summary_counts_them_all(self):
		log = self.sync(rebuild=True)  # its failing orders wait on their reason: read them again
		self.assertEqual(log.failed, ORDERS, [(l.action, l.message) for l in lines_of(log)])
		every = lines_of(log)

		first, second = get_lines(log.name, 0, PAGE), get_lines(log.name, PAGE, PAGE)
		self.assertEqual((first["total"], second["total"]), (len(every), len(every)))
		self.assertEqual([line.name for line in first["lines"]], [line.name for line in every[:PAGE]])
		self.assertEqual(
			[line.name for line in second["lines"]], [line.name for line in every[PAGE : 2 * PAGE]]
		)
		failed = get_lines(log.name, 0, 100, "Failed")
		self.assertEqual(failed["total"], ORDERS)
		self.assertEqual(
			[line.vtiger_record for line in failed["lines"]], self.orders, "in the order the run wrote them"
		)

		groups = frappe.get_doc(LOG_DOCTYPE, log.name).reasons()
		expected = Counter(
			(line.action, reason_of(line.message)) for line in every if line.action in ("Failed", "Warning")
		)
		self.assertEqual({(g["action"], g["reason"]): g["count"] for g in groups}, dict(expected))
		self.assertEqual(sum(g["count"] for g in groups if g["action"] == "Failed"), ORDERS)
		self.assertEqual([len(g["documents"]) for g in groups], [min(g["count"], 5) for g in groups])
		self.assertEqual(
			frappe.get_doc(LOG_DOCTYPE, log.name).failed_records(),
			[["SalesOrder", str(order)] for order in self.orders],
		)

		frappe.set_user(sales_user("log-lines-sales@example.com"))
		try:
			self.assertRaises(frappe.PermissionError, get_lines, log.name)
		finally:
			frappe.set_user("Administrator")

	def test_chunks_writing_at_once_number_their_lines_from_one_sequence(self):
		self.configure("vtigercrm_sync_chunk_records", 5)
		common = os.path.join(frappe.local.sites_path, "common_site_config.json")
		self.configure("workers", {QUEUE: {"timeout": 1800}}, common)
		connection = self.make_connection(title=f"Lines parallel {self.run_id}", batch_size=2)
		for _ in range(3):
			start_worker(self, f"long,{QUEUE}")
		log = self.start_run(connection)
		self.wait_final(log)
		frappe.db.rollback()

		chunks = chunks_of(log, ["name", "module", "stage", "lines"])
		own = [chunk for chunk in chunks if (chunk.module, chunk.stage) == ("SalesOrder", "Own")]
		self.assertEqual(len(own), ORDERS // 5, "the orders' lines were written by five jobs")
		every = lines_of(log)
		self.assertEqual(len(every), sum(chunk.lines for chunk in chunks), "no line lost, none written twice")
		self.assertEqual(len({line.name for line in every}), len(every))
		written = []
		for chunk in own:
			records = [line.vtiger_record for line in every if line.chunk == chunk.name]
			self.assertEqual(len(records), chunk.lines)
			written += records
		self.assertEqual(sorted(written), sorted(self.orders), "one line for each order")
		for chunk in own:
			records = [line.vtiger_record for line in every if line.chunk == chunk.name]
			start = self.orders.index(records[0])
			self.assertEqual(records, self.orders[start : start + 5], "a job's lines in its keyset order")

		seen, start = [], 0
		while page := get_lines(log, start, 7)["lines"]:
			seen += [line.name for line in page]
			start += 7
		self.assertEqual(seen, [line.name for line in every], "the form's pages hold every line once")

	def test_clearing_old_logs_takes_their_lines_and_chunks(self):
		old, recent, last = (self.sync(rebuild=True) for _ in range(3))  # each reads the failing orders
		for log in (old, recent, last):
			self.assertTrue(lines_of(log) and chunks_of(log), "each run wrote lines and chunks")
		frappe.db.set_value(
			LOG_DOCTYPE,
			old.name,
			"modified",
			frappe.utils.add_days(frappe.utils.now_datetime(), -40),
			update_modified=False,
		)
		VTigerCRMSyncLog.clear_old_logs(days=30)
		self.assertFalse(frappe.db.exists(LOG_DOCTYPE, old.name))
		self.assertEqual((lines_of(old), chunks_of(old)), ([], []), "nothing of the old log is left")
		self.assertTrue(lines_of(recent) and chunks_of(recent), "the recent log keeps its rows")
		for doctype in (LOG_LINE_DOCTYPE, CHUNK_DOCTYPE):
			self.assertFalse(
				frappe.db.sql(
					f"""SELECT name FROM `tab{doctype}` AS row WHERE NOT EXISTS
					(SELECT 1 FROM `tab{LOG_DOCTYPE}` AS log WHERE log.name = row.log)"""
				),
				f"no {doctype} row without its log",
			)

		frappe.delete_doc(LOG_DOCTYPE, recent.name)  # not the connection's last log, which it links to
		self.assertEqual((lines_of(recent), chunks_of(recent)), ([], []), "a deleted log takes its rows")
		self.assertTrue(lines_of(last) and chunks_of(last))

	def test_the_patch_brings_back_the_child_rows_of_older_logs(self):
		log = frappe.get_doc(
			{
				"doctype": LOG_DOCTYPE,
				"connection": self.connection,
				"status": "Partial Success",
				"trigger": "CLI",
			}
		).insert(ignore_permissions=True)
		self.addCleanup(frappe.delete_doc, LOG_DOCTYPE, log.name, force=True)
		old = "VTSL-OLD-GONE"  # a log cleared before: the previous version left its chunk behind
		self.as_the_previous_version_left_it(
			lines=[
				# chunk 2's lines were numbered from 200,000, the run's end from 100,000,000; two collided
				(
					"l-a",
					log.name,
					200_001,
					"Failed",
					"SalesOrder #11, sales_order.items[1].item_code: no 'Widget 1'",
				),
				(
					"l-b",
					log.name,
					200_002,
					"Failed",
					"SalesOrder #12, sales_order.items[1].item_code: no 'Widget 2'",
				),
				("l-c", log.name, 200_002, "Warning", "Accounts #13, customer.email_id: 'a@b.c' refused"),
				("l-d", log.name, 100_000_001, "Skipped", "Not live"),
				("l-e", old, 1, "Failed", "gone"),
			],
			chunks=[("c-1", log.name, 1, "SalesOrder", 2, 1), ("c-2", log.name, 2, "Accounts", 1, 1)],
		)
		self.assertTrue(move_log_rows_to_doctypes.table_exists(set_aside_child_log_rows.ASIDE[CHUNK_DOCTYPE]))

		move_log_rows_to_doctypes.execute()

		lines = lines_of(log)
		self.assertEqual(
			[(line.action, line.vtiger_record, line.message[:14]) for line in lines],
			[
				("Failed", 11, "SalesOrder #11"),
				("Failed", 12, "SalesOrder #12"),
				("Warning", 13, "Accounts #13, "),
				("Skipped", 14, "Not live"),
			],
			"every line of the log, in its old order",
		)
		self.assertEqual(
			[line.reason for line in lines[:2]], ["sales_order.items[#].item_code: no '…'"] * 2, "grouped"
		)
		self.assertEqual(
			[(g["action"], g["count"]) for g in frappe.get_doc(LOG_DOCTYPE, log.name).reasons()],
			[("Failed", 2), ("Warning", 1)],
		)
		self.assertEqual(
			[(c.name, c.module, c.records_read, c.failed) for c in chunks_of(log)],
			[("c-1", "SalesOrder", 2, 1), ("c-2", "Accounts", 1, 1)],
		)
		self.assertEqual((lines_of(old), chunks_of(old)), ([], []), "rows of a cleared log are dropped")
		for aside in set_aside_child_log_rows.ASIDE.values():
			self.assertFalse(move_log_rows_to_doctypes.table_exists(aside), "the old tables are gone")

	def as_the_previous_version_left_it(self, lines: list[tuple], chunks: list[tuple]) -> None:
		"""Child tables with rows, as the previous version wrote them, set aside by the pre-model-sync patch the
		way ``bench migrate`` runs it (the new tables are kept out of the way meanwhile, and come back after)."""
		kept = {doctype: f"_test_kept_{frappe.scrub(doctype)}" for doctype in set_aside_child_log_rows.ASIDE}
		for doctype, table in kept.items():
			frappe.db.sql_ddl(f"RENAME TABLE `tab{doctype}` TO `{table}`")
		try:
			frappe.db.sql_ddl(OLD_LINE_TABLE)
			frappe.db.sql_ddl(OLD_CHUNK_TABLE)
			for name, parent, idx, action, message in lines:
				frappe.db.sql(
					f"""INSERT INTO `tab{LOG_LINE_DOCTYPE}` (name, parent, parenttype, parentfield, idx, action,
					message, vtiger_module, vtiger_record, creation) VALUES (%s, %s, %s, 'lines', %s, %s, %s, %s, %s,
					NOW(6))""",
					(
						name,
						parent,
						LOG_DOCTYPE,
						idx,
						action,
						message,
						message.split(" ")[0],
						10 + ord(name[-1]) - 96,
					),
				)
			for name, parent, idx, module, read, failed in chunks:
				frappe.db.sql(
					f"""INSERT INTO `tab{CHUNK_DOCTYPE}` (name, parent, parenttype, parentfield, idx, stage, module,
					status, records_read, failed) VALUES (%s, %s, %s, 'chunks', %s, 'Own', %s, 'Done', %s, %s)""",
					(name, parent, LOG_DOCTYPE, idx, module, read, failed),
				)
			frappe.db.sql(
				f"""INSERT INTO `tab{CHUNK_DOCTYPE}` (name, parent, parenttype, parentfield, idx, module)
				VALUES ('c-gone', 'VTSL-OLD-GONE', %s, 'chunks', 1, 'Accounts')""",
				LOG_DOCTYPE,
			)
			frappe.db.commit()
			set_aside_child_log_rows.execute()
		finally:
			for doctype, table in kept.items():
				if move_log_rows_to_doctypes.table_exists(f"tab{doctype}"):
					frappe.db.sql_ddl(f"DROP TABLE `tab{doctype}`")  # the patch failed to set it aside
				frappe.db.sql_ddl(f"RENAME TABLE `{table}` TO `tab{doctype}`")
				frappe.cache.hdel("table_columns", f"tab{doctype}")
			frappe.cache.delete_value("db_tables")
		for aside in set_aside_child_log_rows.ASIDE.values():
			self.addCleanup(frappe.db.sql_ddl, f"DROP TABLE IF EXISTS `{aside}`")
