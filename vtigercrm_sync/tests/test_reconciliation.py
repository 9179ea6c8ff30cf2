"""The VTiger Reconciliation report lists exactly the differences a VTiger and ERPNext have, and nothing else."""

from __future__ import annotations

import frappe

from vtigercrm_sync.tests.utils import DATABASE, VTigerSyncTestCase
from vtigercrm_sync.vtigercrm_sync.report.vtiger_reconciliation.vtiger_reconciliation import execute


class TestReconciliationReport(VTigerSyncTestCase):
	database = DATABASE + "_reconcile"  # its own VTiger: no other test's records in the comparison

	def report(self, **filters) -> tuple[set[tuple], str | None]:
		_columns, rows, message, _chart, summary = execute({"connection": self.connection, **filters})
		self.assertTrue(summary)
		return {(row["kind"], row["vtiger_record"], row.get("document")) for row in rows}, message

	def order(self, subject: str, account: int, tax: str = "tax1", at=None) -> int:
		return self.writer.create_sales_order(
			self.name(subject),
			account_id=account,
			lines=[{"productid": self.product, "quantity": 1.5, "listprice": 12.345, tax: 10}],
			sh_amount=5,
			discount_percent=5,
			adjustment="-0.335",
			at=at or self.tick(),
		)

	def test_each_kind_of_difference_is_listed_alone(self):
		w = self.writer
		self.product = w.create_product(self.name("Śruba"), unit_price=12, at=self.tick())
		first = w.create_account(self.name("Pierwsza"), at=self.tick())
		second = w.create_account(self.name("Druga"), at=self.tick())
		edited = self.order("Edited", first)
		kept = self.order("Kept", second)
		self.sync()
		rows, message = self.report()
		self.assertEqual(rows, set())
		self.assertIn("All clear", message)

		orphan_account = w.create_account(self.name("Usunięta"), at=self.tick())
		orphaned = self.order("Orphaned", orphan_account)
		w.delete(orphan_account, at=self.tick())  # its order fails: a parent VTiger deleted
		new_tax = w.add_tax(self.name("Eco"), "2.5")
		untaxable = self.order("Unmapped tax", first, tax=new_tax)
		self.sync()
		w.delete(second, at=self.tick())
		w.purge(second)  # purged before any run saw it: its Customer stays enabled
		so = frappe.get_doc("Sales Order", self.find("Sales Order", edited))
		so.items[0].rate += 1
		so.save(ignore_permissions=True)
		frappe.db.commit()

		rows, message = self.report()
		customer = self.find("Customer", second)
		self.assertEqual(
			rows,
			{
				("Total differs", edited, so.name),
				("Missing in ERPNext", orphaned, None),
				("Missing in ERPNext", untaxable, None),
				("Gone from VTiger", second, customer),
			},
		)
		self.assertIsNone(message)
		details = {row["vtiger_record"]: row["detail"] for row in execute({"connection": self.connection})[1]}
		self.assertIn("waiting: Record needed is missing", details[orphaned])  # its account is gone
		self.assertIn(new_tax, details[untaxable])
		self.assertIn("purged", details[second])
		self.assertTrue(self.find("Sales Order", kept))  # its account is gone, the order is still VTiger's

		rows, _message = self.report(kind="Total differs")
		self.assertEqual(rows, {("Total differs", edited, so.name)})
