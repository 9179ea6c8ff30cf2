"""Fingerprints and failures that wait, on a real ERPNext site and a VTiger database of the class's own.

A Full Resync reads and plans only records whose sources moved: the record, any record its bundle reads (an order's
account, contact, products), a setting its stream applies, or the handlers' version. A record that failed for a
reason in its data or the settings waits, unread, until one of those moves or its reason is retried; a failure
that is not about the data (a lock held too long) is read again by the next run. Reads are counted by the log
(``records_read``: read and planned; ``unchanged``: left unread).
"""

from __future__ import annotations

import threading

import frappe
from frappe.installer import update_site_config

from vtigercrm_sync.constants import SETTING_DOCTYPE, WAITING_DOCTYPE
from vtigercrm_sync.syncer.handler.document import SalesOrderHandler
from vtigercrm_sync.syncer.observer.log_lines import chunks_of
from vtigercrm_sync.syncer.run.waiting import retry_waiting
from vtigercrm_sync.tests.utils import DATABASE, Session, VTigerSyncTestCase, lines_of
from vtigercrm_sync.vtigercrm_sync.number_cards import waiting_count
from vtigercrm_sync.vtigercrm_sync.report.vtiger_reconciliation.vtiger_reconciliation import execute

MAPPED_TAXES = ("tax1", "tax2", "shipping", "shtax1", "shtax2", "shtax3", "adjustment")
"""Every tax but tax3: an order that carries tax3 cannot land (its total would be wrong)."""


def failed_messages(log) -> list[str]:
	"""The messages of a log's Failed lines."""
	return [line.message for line in lines_of(log, action="Failed")]


class TestFingerprints(VTigerSyncTestCase):
	database = f"{DATABASE}_fingerprints"
	"""Its own VTiger: every record a Full Resync goes through is this class's, so its counts are exact."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		w = cls.writer
		cls.product = w.create_product(cls.name("Stamp"), unit_price=5, at=cls.tick())
		cls.service = w.create_service(cls.name("Inking"), unit_price=7, at=cls.tick())
		cls.taxed_product = w.create_product(cls.name("Taxed stamp"), unit_price=10, at=cls.tick())
		cls.account = w.create_account(cls.name("Print Co"), at=cls.tick())
		cls.contact = w.create_contact("Printer", account_id=cls.account, at=cls.tick())
		cls.order = w.create_sales_order(
			cls.name("Prints"),
			account_id=cls.account,
			contact_id=cls.contact,
			lines=[
				{"productid": cls.product, "quantity": 1, "listprice": 5},
				{"productid": cls.service, "quantity": 2, "listprice": 7},
			],
			at=cls.tick(),
		)
		cls.other_account = w.create_account(cls.name("Other Co"), at=cls.tick())
		cls.other_order = w.create_sales_order(
			cls.name("Other prints"),
			account_id=cls.other_account,
			lines=[{"productid": cls.product, "quantity": 3, "listprice": 5}],
			at=cls.tick(),
		)
		cls.first = cls.sync()

	@classmethod
	def make_connection(cls, **overrides):
		taxes = [{"vtiger_tax": key, "account_head": cls.tax_account} for key in MAPPED_TAXES]
		return super().make_connection(tax_accounts=taxes, **overrides)

	def settle(self):
		"""A Full Resync that leaves every record as it is now: the next one starts from here."""
		log = self.sync(full=True)
		self.assertIn(log.status, ("Success", "Partial Success"), log.error_summary)
		return log

	def assert_reads(self, log, read: int):
		self.assertEqual(log.records_read, read, f"read {log.records_read}, left {log.unchanged} unread")

	def live_orders(self) -> int:
		return self.vtiger_value(
			"SELECT COUNT(*) FROM vtiger_crmentity WHERE setype = 'SalesOrder' AND deleted = 0"
		)

	def waiting_order(self, label: str) -> int:
		"""An order that carries tax3, which the connection does not map: it fails, and waits."""
		return self.writer.create_sales_order(
			self.name(label),
			account_id=self.other_account,
			lines=[{"productid": self.taxed_product, "quantity": 1, "listprice": 10, "tax3": 5}],
			at=self.tick(),
		)

	def waiting_row(self, crmid: int):
		return frappe.db.get_value(
			WAITING_DOCTYPE,
			{"connection": self.connection, "crmid": crmid},
			["reason_kind", "setting", "reason", "log", "first_seen", "last_seen"],
			as_dict=True,
		)

	def map_tax3(self):
		doc = frappe.get_doc(SETTING_DOCTYPE, self.connection)
		doc.append("tax_accounts", {"vtiger_tax": "tax3", "account_head": self.tax_account})
		doc.save(ignore_permissions=True)
		frappe.db.commit()

		def unmap():
			doc = frappe.get_doc(SETTING_DOCTYPE, self.connection)
			doc.set("tax_accounts", [row for row in doc.tax_accounts if row.vtiger_tax != "tax3"])
			doc.save(ignore_permissions=True)
			frappe.db.commit()

		self.addCleanup(unmap)

	# -- fingerprints ------------------------------------------------------------------------------------------

	def test_an_unchanged_full_resync_reads_and_plans_no_record(self):
		self.assertEqual(self.first.status, "Success", self.first.error_summary)
		self.settle()
		log = self.sync(full=True)
		self.assertEqual(log.status, "Success", log.error_summary)
		self.assert_reads(log, 0)
		self.assertEqual(log.unchanged, log.total_records)
		self.assertGreaterEqual(log.unchanged, 5)
		self.assertEqual((log.created, log.updated, log.failed), (0, 0, 0))

	def test_unchanged_records_get_no_chunk_job(self):
		"""An unchanged Full Resync cuts no range a job reads: every stage is settled where it is cut, its
		records counted unchanged; a changed order gets the only jobs, over it alone."""
		update_site_config("vtigercrm_sync_chunk_records", 2)
		self.addCleanup(update_site_config, "vtigercrm_sync_chunk_records", "None")
		self.settle()
		log = self.sync(full=True)
		chunks = chunks_of(log.name)
		self.assertTrue(chunks)
		self.assertEqual(
			{(c.stage, c.status, c.attempts or 0) for c in chunks}, {("Own", "Done", 0)}, "a job ran a chunk"
		)
		self.assertEqual(sum(c.unchanged for c in chunks), log.total_records)
		self.assertEqual((log.records_read, log.unchanged), (0, log.total_records))

		self.writer.update(self.order, at=self.tick(), subject=self.name("Prints renamed"))
		log = self.sync(full=True)
		chunks = chunks_of(log.name, stage=("in", ("Linked", "Own")))  # not the change feed's
		ran = [(c.module, c.stage) for c in chunks if c.attempts]
		self.assertEqual(ran, [("SalesOrder", "Linked"), ("SalesOrder", "Own")])
		self.assertEqual(sum(c.records_read for c in chunks), 1)
		self.assert_reads(log, 1)
		self.assertEqual(log.unchanged, log.total_records - 1)

	def test_a_change_to_a_related_record_only_re_plans_the_records_that_read_it(self):
		self.settle()
		self.writer.update(self.product, at=self.tick(), productname=self.name("Stamp renamed"))
		log = self.sync(full=True)
		self.assert_reads(log, 2)  # both orders carry the product; accounts and contacts do not read it
		self.assertEqual(
			frappe.db.get_value("Item", self.find("Item", self.product), "item_name"),
			self.name("Stamp renamed"),
		)

		self.writer.update(self.service, at=self.tick(), servicename=self.name("Inking renamed"))
		self.assert_reads(self.sync(full=True), 1)  # only the first order carries the service

		self.writer.update(self.contact, at=self.tick(), lastname="Printer renamed")
		self.assert_reads(self.sync(full=True), 2)  # the contact and its order

		self.writer.update(self.account, at=self.tick(), accountname=self.name("Print Co renamed"))
		self.assert_reads(self.sync(full=True), 3)  # the account, its contact and its order
		self.assertEqual(
			frappe.db.get_value("Customer", self.find("Customer", self.account), "customer_name"),
			self.name("Print Co renamed"),
		)

	def test_a_setting_re_plans_exactly_the_streams_it_shapes(self):
		self.settle()
		self.set_connection(delivery_days=9)  # the orders' handler applies it, no other
		log = self.sync(full=True)
		self.assert_reads(log, self.live_orders())
		self.assert_reads(self.sync(full=True), 0)

	def test_a_new_handler_version_re_plans_its_streams(self):
		self.settle()
		version = SalesOrderHandler.version
		SalesOrderHandler.version = version + 1  # what a release that writes orders differently does
		self.addCleanup(setattr, SalesOrderHandler, "version", version)
		self.assert_reads(self.sync(full=True), self.live_orders())
		self.assert_reads(self.sync(full=True), 0)

	def test_a_document_deleted_in_erpnext_is_made_again_by_a_full_resync(self):
		self.settle()
		name = self.find("Sales Order", self.other_order)
		frappe.delete_doc("Sales Order", name, ignore_permissions=True)
		frappe.db.commit()
		log = self.sync(full=True)
		self.assert_reads(log, 1)
		self.assertTrue(self.find("Sales Order", self.other_order))

	def test_a_record_deleted_in_vtiger_is_read_until_the_policy_reached_it(self):
		self.settle()
		account = self.writer.create_account(self.name("Deleted Co"), at=self.tick())
		self.assert_reads(self.sync(full=True), 1)
		self.writer.delete(account, at=self.tick())
		log = self.sync(full=True)
		self.assertIn(log.records_read, (1, 2))  # the change feed names the deletion too (its ModTracker row)
		self.assertGreaterEqual(log.deleted, 1)  # the policy (Disable) reached its customer
		self.assert_reads(self.sync(full=True), 0)
		self.set_connection(
			deleted_record_action="Ignore"
		)  # another policy: the deleted record is read again
		self.assert_reads(self.sync(full=True), 1)

	def test_rebuild_all_reads_and_plans_every_record(self):
		self.settle()
		from vtigercrm_sync.syncer.run.job import run_sync

		run_sync(self.connection, trigger="CLI", user="Administrator", rebuild=True)
		log = frappe.get_doc(
			"VTigerCRM Sync Log", frappe.db.get_value(SETTING_DOCTYPE, self.connection, "last_log")
		)
		self.assertEqual(log.unchanged, 0)
		self.assertEqual(log.records_read, log.total_records)
		self.assertEqual((log.created, log.updated), (0, 0))  # the content hash still guards every write
		self.assert_reads(self.sync(full=True), 0)

	# -- failures that wait ------------------------------------------------------------------------------------

	def test_a_waiting_failure_is_not_read_again_until_its_record_changes(self):
		self.settle()
		order = self.waiting_order("Waits for its record")
		failed = self.sync(full=True)
		self.assert_reads(failed, 1)
		self.assertEqual(failed.failed, 1)
		row = self.waiting_row(order)
		self.assertEqual((row.reason_kind, row.setting, row.log), ("Tax not mapped", "tax3", failed.name))
		self.assertIn("tax3", row.reason)
		(line,) = failed_messages(failed)
		self.assertIn("(waiting: Tax not mapped;", line)
		self.assertGreaterEqual(waiting_count(self.connection), 1)

		again = self.sync(full=True)  # nothing changed: the order is not read, and the run does not fail
		self.assert_reads(again, 0)
		self.assertEqual((again.failed, again.status), (0, "Success"))
		self.assertEqual(self.waiting_row(order).log, failed.name)
		summary = frappe.get_doc(SETTING_DOCTYPE, self.connection).run_summary()
		self.assertIn("waiting", summary["text"])
		self.assertIn(("Tax not mapped", "tax3"), [(r.reason_kind, r.setting) for r in summary["waiting"]])
		_columns, rows, *_ = execute({"connection": self.connection})
		detail = next(r["detail"] for r in rows if r.get("vtiger_record") == order)
		self.assertTrue(detail.startswith("waiting: Tax not mapped (tax3)"), detail)

		self.writer.update(order, at=self.tick(), subject=self.name("Waits, edited"))
		edited = self.sync(full=True)
		self.assert_reads(edited, 1)  # taken again, and waits again: tax3 is still not mapped
		self.assertEqual(self.waiting_row(order).log, edited.name)

	def test_a_waiting_failure_is_taken_again_after_its_setting_changes(self):
		self.settle()
		order = self.waiting_order("Waits for its tax")
		self.sync(full=True)
		self.assertTrue(self.waiting_row(order))
		self.assert_reads(self.sync(full=True), 0)
		self.map_tax3()
		log = self.sync(full=True)
		self.assertIn(log.status, ("Success",), log.error_summary)
		self.assertTrue(self.find("Sales Order", order))
		self.assertIsNone(self.waiting_row(order))

	def test_retry_waiting_lands_every_record_of_a_reason(self):
		self.settle()
		orders = [self.waiting_order(f"Retried by reason {n}") for n in range(2)]
		self.sync(full=True)
		self.assertTrue(all(self.waiting_row(order) for order in orders))
		self.map_tax3()
		outcome = retry_waiting(self.connection, "Tax not mapped")
		self.assertGreaterEqual(outcome["count"], len(orders))
		self.assertEqual(self.waiting_kind_count("Tax not mapped"), 0)
		retry = frappe.get_doc(
			"VTigerCRM Sync Log", frappe.db.get_value(SETTING_DOCTYPE, self.connection, "last_log")
		)
		self.assertEqual((retry.trigger, retry.status, retry.failed), ("Retry", "Success", 0))
		for order in orders:
			self.assertTrue(self.find("Sales Order", order))
			self.assertIsNone(self.waiting_row(order))

	def waiting_kind_count(self, kind: str) -> int:
		return frappe.db.count(WAITING_DOCTYPE, {"connection": self.connection, "reason_kind": kind})

	def test_a_failure_not_about_the_data_is_read_again_by_the_next_run(self):
		self.settle()
		name = self.find("Sales Order", self.other_order)
		self.writer.update(self.other_order, at=self.tick(), duedate="2025-09-01")
		held, release = threading.Event(), threading.Event()

		def desk_user_holds_the_order():
			frappe.db.sql("SELECT name FROM `tabSales Order` WHERE name = %s FOR UPDATE", name)
			held.set()
			release.wait(120)

		holder = Session(desk_user_holds_the_order)
		self.assertTrue(held.wait(30))
		try:
			locked = self.sync(full=True)
		finally:
			release.set()
			holder.outcome()
		self.assertEqual(locked.failed, 1, locked.error_summary)
		self.assertNotIn("waiting", failed_messages(locked)[0])
		self.assertIsNone(self.waiting_row(self.other_order))

		log = self.sync(full=True)  # the order did not change since: read again all the same
		self.assert_reads(log, 1)
		self.assertEqual(log.failed, 0)
		self.assertGreaterEqual(log.updated, 1)
