"""The Sync Log: retrying the records a run could not write, and clearing old logs."""

from __future__ import annotations

import frappe
from frappe.utils import add_days, now_datetime
from sqlalchemy import text

from vtigercrm_sync.constants import LOG_DOCTYPE
from vtigercrm_sync.tests.utils import VTigerSyncTestCase
from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_log.vtigercrm_sync_log import (
	VTigerCRMSyncLog,
	retry_failed,
)

# As for the connection's tests: no test records of other apps (see test_vtigercrm_sync.py).
test_ignore = ["DocType", "User", "VTigerCRM Sync"]


class TestVTigerCRMSyncLog(VTigerSyncTestCase):
	def test_retry_failed_records_reruns_just_those(self):
		product = self.writer.create_product(self.name("Retry Widget"), at=self.tick())
		account = self.writer.create_account(self.name("Retry Co"), at=self.tick())
		order = self.writer.create_sales_order(
			self.name("Retry order"),
			account_id=account,
			lines=[{"productid": product, "quantity": 1, "listprice": 10}],
			at=self.tick(),
		)
		with self.engine.begin() as conn:
			conn.execute(
				text("UPDATE vtiger_inventoryproductrel SET productid = 1 WHERE id = :id"), {"id": order}
			)
		log = self.sync()
		self.assertEqual(log.failed, 1)
		self.assertIsNone(self.find("Sales Order", order))

		# Fixed in VTiger without touching modifiedtime, so only a retry (not the next sync) picks it up.
		with self.engine.begin() as conn:
			conn.execute(
				text("UPDATE vtiger_inventoryproductrel SET productid = :p WHERE id = :id"),
				{"p": product, "id": order},
			)
		answer = retry_failed(log.name)
		self.assertEqual(answer["count"], 1)
		retry = frappe.get_last_doc(LOG_DOCTYPE, filters={"retry_of": log.name})
		self.assertEqual((retry.trigger, retry.status, retry.records_read), ("Retry", "Success", 1))
		self.assertTrue(self.find("Sales Order", order))

	def test_retry_refuses_a_log_without_failures(self):
		self.writer.create_account(self.name("Fine Co"), at=self.tick())
		log = self.sync()
		self.assertEqual(log.failed, 0)
		self.assertRaises(frappe.ValidationError, retry_failed, log.name)

	def test_clear_old_logs_keeps_recent_ones(self):
		recent = self.sync()
		old = self.sync()
		frappe.db.set_value(
			LOG_DOCTYPE, old.name, "modified", add_days(now_datetime(), -40), update_modified=False
		)
		VTigerCRMSyncLog.clear_old_logs(days=30)
		self.assertFalse(frappe.db.exists(LOG_DOCTYPE, old.name))
		self.assertTrue(frappe.db.exists(LOG_DOCTYPE, recent.name))

	def test_a_failure_group_links_each_record_to_vtiger_and_retries_one(self):
		"""Issue 21: the group keeps its field, each record links to VTiger's page, and one record retries alone."""
		frappe.db.set_value("VTigerCRM Sync", self.connection, "vtiger_url", "https://crm.example.com/")
		account = self.writer.create_account(self.name("Group Co"), at=self.tick())
		orders = [
			self.writer.create_sales_order(
				self.name(f"Group order {n}"),
				account_id=account,
				lines=[{"productid": 1, "quantity": 1, "listprice": 10}],
				at=self.tick(),
			)
			for n in (1, 2)
		]
		log = self.sync()
		self.assertEqual(log.failed, 2)
		failures = [
			group for group in frappe.get_doc(LOG_DOCTYPE, log.name).reasons() if group["action"] == "Failed"
		]
		self.assertEqual([group["count"] for group in failures], [2])
		self.assertRegex(failures[0]["reason"], r"^sales_order\.items\[#\]\.item_code: ")
		self.assertEqual(
			sorted(document["url"] for document in failures[0]["documents"]),
			[
				f"https://crm.example.com/index.php?module=SalesOrder&view=Detail&record={order}"
				for order in sorted(orders)
			],
		)

		self.assertRaises(frappe.ValidationError, retry_failed, log.name, "SalesOrder", account)
		self.assertEqual(retry_failed(log.name, "SalesOrder", orders[1])["count"], 1)
		retry = frappe.get_last_doc(LOG_DOCTYPE, filters={"retry_of": log.name})
		self.assertEqual((retry.trigger, retry.records_read), ("Retry", 1))
