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
