"""The VTiger workspace's cues count what they say on a synced VTiger, open the list or report that shows it, and
turn yellow and red at the administrator's thresholds."""

from __future__ import annotations

import frappe

from vtigercrm_sync.constants import OUTBOX_DOCTYPE, WAITING_DOCTYPE
from vtigercrm_sync.syncer.observer.log_lines import insert_lines
from vtigercrm_sync.tests.utils import DATABASE, VTigerSyncTestCase
from vtigercrm_sync.vtigercrm_sync.number_cards import (
	GREEN,
	RED,
	THRESHOLDS_DOCTYPE,
	YELLOW,
	card_color,
	changed_orders,
	conflicts,
	failed_pushes,
	totals_differ,
	waiting_count,
	waiting_records,
)


class TestWorkspaceCues(VTigerSyncTestCase):
	database = DATABASE + "_cards"  # its own VTiger: the totals card reads every order of it

	@classmethod
	def make_connection(cls, **overrides):
		return super().make_connection(submit_statuses="Approved", **overrides)

	def order(self, subject: str, account: int, status: str = "Created") -> int:
		return self.writer.create_sales_order(
			self.name(subject),
			account_id=account,
			lines=[{"productid": self.product, "quantity": 2, "listprice": 10}],
			sostatus=status,
			at=self.tick(),
		)

	def cards(self) -> dict[str, int]:
		return {
			"waiting": waiting_records(connection=self.connection)["value"],
			"failed_pushes": failed_pushes(connection=self.connection)["value"],
			"conflicts": conflicts(connection=self.connection)["value"],
			"changed_orders": changed_orders(connection=self.connection)["value"],
			"totals_differ": totals_differ(connection=self.connection)["value"],
		}

	def test_each_card_counts_its_kind_alone(self):
		w = self.writer
		self.product = w.create_product(self.name("Bolt"), unit_price=10, at=self.tick())
		account = w.create_account(self.name("Acme"), at=self.tick())
		edited = self.order("Edited in ERPNext", account)
		submitted = self.order("Submitted", account, status="Approved")
		self.sync()
		self.assertEqual(set(self.cards().values()), {0})

		gone = w.create_account(self.name("Gone"), at=self.tick())
		orphaned = self.order("Orphaned", gone)
		w.delete(gone, at=self.tick())  # its order fails, and waits: a parent VTiger deleted
		w.update(submitted, at=self.tick(), table="vtiger_salesorder", purchaseorder="PO-7")
		self.sync()
		so = frappe.get_doc("Sales Order", self.find("Sales Order", edited))
		so.items[0].rate += 1
		so.save(ignore_permissions=True)
		self.add_push_failure(so)
		self.add_conflict(so)
		frappe.db.commit()

		self.assertEqual(
			self.cards(),
			{"waiting": 1, "failed_pushes": 1, "conflicts": 1, "changed_orders": 1, "totals_differ": 1},
		)
		self.assertEqual(waiting_count(self.connection), 1)
		self.assertGreaterEqual(waiting_count(), 1)  # every connection

		self.sync()  # unchanged: the failed order still waits, counted once
		self.assertEqual(waiting_count(self.connection), 1)
		w.update(orphaned, at=self.tick(), table="vtiger_salesorder", accountid=account)
		self.sync()  # its record changed: taken again, and lands
		self.assertTrue(self.find("Sales Order", orphaned))
		self.assertEqual(waiting_count(self.connection), 0)

	def test_each_card_opens_what_it_counts(self):
		self.assertEqual(waiting_records()["route"], ["List", WAITING_DOCTYPE])
		self.assertEqual(
			waiting_records(connection=self.connection)["route_options"], {"connection": self.connection}
		)
		self.assertEqual(failed_pushes()["route_options"], {"status": "Failed"})
		self.assertEqual(
			changed_orders()["route_options"], {"vtiger_changed_after_submit": 1, "docstatus": 1}
		)
		self.assertEqual(
			totals_differ(connection=self.connection)["route"], ["query-report", "VTiger Reconciliation"]
		)
		self.assertEqual(
			totals_differ(connection=self.connection)["route_options"],
			{"connection": self.connection, "kind": "Total differs"},
		)

	def test_the_color_follows_the_thresholds(self):
		thresholds = frappe.get_doc(THRESHOLDS_DOCTYPE)
		self.assertEqual((thresholds.failed_pushes_yellow, thresholds.failed_pushes_red), (1, 5))
		self.assertEqual(
			[card_color("failed_pushes", n) for n in (0, 1, 4, 5, 50)], [GREEN, YELLOW, YELLOW, RED, RED]
		)
		thresholds.failed_pushes_yellow, thresholds.failed_pushes_red = 3, 0  # never red
		thresholds.save(ignore_permissions=True)
		self.addCleanup(self.restore_thresholds)
		self.assertEqual([card_color("failed_pushes", n) for n in (2, 3, 500)], [GREEN, YELLOW, YELLOW])
		self.assertEqual(failed_pushes()["color"], card_color("failed_pushes", failed_pushes()["value"]))
		thresholds.failed_pushes_red = 2  # below yellow: refused
		self.assertRaises(frappe.ValidationError, thresholds.save, ignore_permissions=True)

	def restore_thresholds(self):
		frappe.db.rollback()
		thresholds = frappe.get_doc(THRESHOLDS_DOCTYPE)
		thresholds.failed_pushes_yellow, thresholds.failed_pushes_red = 1, 5
		thresholds.save(ignore_permissions=True)
		frappe.db.commit()

	def add_push_failure(self, so) -> None:
		"""An edit the two-way drain gave up on after its 8th attempt, as the drain leaves it."""
		frappe.get_doc(
			{
				"doctype": OUTBOX_DOCTYPE,
				"connection": self.connection,
				"status": "Failed",
				"kind": "Status",
				"reference_doctype": "Sales Order",
				"reference_name": so.name,
				"vtiger_id": so.vtiger_id,
				"attempts": 8,
				"last_error": "permission denied (ACCESS_DENIED)",
			}
		).insert(ignore_permissions=True)

	def add_conflict(self, so) -> None:
		"""A pull's Conflict line, as a pull that met a waiting edit writes it."""
		log = self.sync()
		insert_lines(
			log.name,
			[
				{
					"direction": "VTiger → ERPNext",
					"action": "Conflict",
					"vtiger_module": "SalesOrder",
					"vtiger_record": int(so.vtiger_id.split("/")[-1]),
					"target_doctype": "Sales Order",
					"target_name": so.name,
					"message": "po_no: VTiger wins",
				},
			],
		)
		frappe.db.commit()
