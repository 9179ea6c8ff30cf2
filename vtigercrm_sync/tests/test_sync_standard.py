"""End-to-end syncs of the standard preset into a real ERPNext site."""

from __future__ import annotations

import re
from unittest.mock import patch

import frappe
from frappe.utils import flt
from rq.timeouts import JobTimeoutException
from sqlalchemy import text

from vtigercrm_sync.constants import SETTING_DOCTYPE
from vtigercrm_sync.syncer.run.run import SyncRun
from vtigercrm_sync.tests.utils import VTigerSyncTestCase, lines_of


class TestStandardSync(VTigerSyncTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		w = cls.writer
		cls.product = w.create_product(f"Widget {cls.run_id}", code="W-1", unit_price=100, at=cls.tick())
		cls.service = w.create_service(f"Setup {cls.run_id}", unit_price=50, at=cls.tick())
		cls.account = w.create_account(
			f"Łódź Trading {cls.run_id}",
			bill={"street": "ul. Piotrkowska 1", "city": "Łódź", "code": "90-001", "country": "Poland"},
			ship={"street": "Hafenweg 2", "city": "Hamburg", "code": "20457", "country": "Deutschland"},
			at=cls.tick(),
		)
		cls.contact = w.create_contact(
			"Müller",
			firstname="Jürgen",
			account_id=cls.account,
			email=f"jurgen.{cls.run_id}@example.org",
			mailing={"street": "1 Elm St", "city": "Москва", "zip": "125009", "country": "Russia"},
			at=cls.tick(),
		)
		cls.order = w.create_sales_order(
			f"Order {cls.run_id}",
			account_id=cls.account,
			contact_id=cls.contact,
			lines=[
				{
					"productid": cls.product,
					"quantity": 2,
					"listprice": 100,
					"tax1": 4.5,
					"comment": "line one",
				},
				{"productid": cls.service, "quantity": 1.5, "listprice": 50, "discount_percent": 10},
			],
			sh_amount=10,
			sh_tax_percent=4.5,
			adjustment=-1.25,
			bill={"street": "1 Main St", "city": "Łódź", "code": "90-001", "country": "Poland"},
			ship={"street": "Hafenweg 2", "city": "Hamburg", "code": "20457", "country": "Deutschland"},
			duedate="2025-03-15",
			at=cls.tick(),
		)
		cls.first = cls.sync()

	def test_first_run_creates_every_document_once_and_linked(self):
		log = self.first
		self.assertEqual(log.status, "Success", log.error_summary)
		self.assertEqual(log.failed, 0)
		customer = self.find("Customer", self.account)
		self.assertTrue(customer)
		self.assertEqual(
			frappe.db.get_value("Customer", customer, "customer_name"), self.name("Łódź Trading")
		)
		billing = self.find("Address", f"{self.account}:billing")
		shipping = self.find("Address", f"{self.account}:shipping")
		self.assertIn(("Customer", customer), self.links_of("Address", billing))
		self.assertIn(("Customer", customer), self.links_of("Address", shipping))
		self.assertEqual(frappe.db.get_value("Address", shipping, "country"), "Germany")
		self.assertEqual(frappe.db.get_value("Customer", customer, "customer_primary_address"), billing)

		contact = self.find("Contact", self.contact)
		self.assertIn(("Customer", customer), self.links_of("Contact", contact))
		self.assertEqual(
			frappe.db.get_value("Contact", contact, "email_id"), f"jurgen.{self.run_id}@example.org"
		)
		mailing = self.find("Address", f"{self.contact}:mailing")
		self.assertEqual(frappe.db.get_value("Address", mailing, "city"), "Москва")
		self.assertEqual(self.links_of("Address", mailing), {("Contact", contact), ("Customer", customer)})
		prefix = frappe.db.get_value(SETTING_DOCTYPE, self.connection, "id_prefix")
		for doctype, crmid in (("Customer", self.account), ("Contact", self.contact)):
			self.assertEqual(frappe.db.count(doctype, {"vtiger_id": f"{prefix}{crmid}"}), 1)

	def test_addresses_are_named_as_erpnext_names_them(self):
		"""A synced Address is named by the sync (its number taken outside the run's transaction), with ERPNext's
		own name and series: ``<title>-<type>``, then ``<title>-<type>-N`` counted with the Addresses ERPNext
		names."""
		billing = self.find("Address", f"{self.account}:billing")
		title = frappe.db.get_value("Address", billing, "address_title")
		self.assertEqual(billing, f"{title}-Billing")
		snapshot = self.find("Address", f"{self.order}:billing")
		self.assertEqual(frappe.db.get_value("Address", snapshot, "address_title"), title)
		number = re.fullmatch(rf"{re.escape(title)}-Billing-(\d+)", snapshot)
		self.assertTrue(number, snapshot)
		(current,) = frappe.db.sql("SELECT current FROM `tabSeries` WHERE name = %s", f"{title}-Billing-")[0]
		self.assertGreaterEqual(current, int(number.group(1)))
		own = frappe.get_doc(
			{
				"doctype": "Address",
				"address_title": title,
				"address_type": "Billing",
				"address_line1": "2 Main St",
				"city": "Łódź",
				"country": "Poland",
			}
		).insert(ignore_permissions=True)
		self.addCleanup(frappe.delete_doc, "Address", own.name, force=True)
		self.assertEqual(own.name, f"{title}-Billing-{current + 1}")

	def test_sales_order_links_items_and_totals(self):
		so = frappe.get_doc("Sales Order", self.find("Sales Order", self.order))
		self.assertEqual(so.docstatus, 0)
		self.assertEqual(so.customer, self.find("Customer", self.account))
		self.assertEqual(so.contact_person, self.find("Contact", self.contact))
		# Billing differs from the account's, so the order has its own copy; shipping is the account's address.
		self.assertEqual(so.customer_address, self.find("Address", f"{self.order}:billing"))
		self.assertEqual(so.shipping_address_name, self.find("Address", f"{self.account}:shipping"))
		self.assertIsNone(self.find("Address", f"{self.order}:shipping"))
		self.assertEqual(so.company, self.company)
		self.assertEqual(str(so.delivery_date), "2025-03-15")
		self.assertEqual(
			[row.item_code for row in so.items],
			[
				frappe.db.get_value("Item", self.find("Item", self.product)),
				frappe.db.get_value("Item", self.find("Item", self.service)),
			],
		)
		self.assertEqual(frappe.db.get_value("Item", self.find("Item", self.product), "is_stock_item"), 1)
		self.assertEqual(frappe.db.get_value("Item", self.find("Item", self.service), "is_stock_item"), 0)
		self.assertAlmostEqual(flt(so.items[1].rate), 45.0, places=4)
		self.assertAlmostEqual(flt(so.items[1].price_list_rate), 50.0, places=4)
		# VTiger: 267.5 net + 9 tax + 10 S&H + 0.45 S&H tax - 1.25 adjustment = 285.70
		stored = self.vtiger_value(
			"SELECT total FROM vtiger_salesorder WHERE salesorderid = :id", id=self.order
		)
		self.assertAlmostEqual(flt(stored), 285.70, delta=0.001)
		self.assertAlmostEqual(flt(so.grand_total), flt(stored), delta=0.01)

	def test_second_run_creates_nothing(self):
		# Other tests change the connection's settings and restore them, which rewrites what they shaped once.
		first = self.sync(full=True)
		self.assertEqual(first.created, 0, self.written_by(first))
		log = self.sync(full=True)
		self.assertEqual(log.status, "Success", [(line.action, line.message) for line in lines_of(log)])
		self.assertEqual((log.created, log.updated, log.failed), (0, 0, 0))
		# the account, the contact and the order did not change since the first: none is read again
		self.assertEqual(log.records_read, 0)
		self.assertGreaterEqual(log.unchanged, 3)
		again = self.sync()  # reads the overlap before the watermarks again, and writes nothing
		self.assertEqual((again.created, again.updated, again.failed), (0, 0, 0))
		self.set_connection(overlap_minutes=0)
		self.assertEqual(self.sync().records_read, 0)

	def test_edit_in_vtiger_updates_exactly_that_document(self):
		account = self.writer.create_account(self.name("Edit Me"), at=self.tick())
		self.sync()
		customer = self.find("Customer", account)
		self.writer.update(account, at=self.tick(), accountname=self.name("Edited"))
		log = self.sync()
		self.assertEqual(log.updated, 1, [(r.action, r.message) for r in lines_of(log)])
		self.assertEqual(log.created, 0)
		self.assertEqual(frappe.db.get_value("Customer", customer, "customer_name"), self.name("Edited"))
		self.assertEqual(self.find("Customer", account), customer)

	def test_existing_customer_is_adopted_not_duplicated(self):
		name = self.name("Already In ERPNext")
		existing = frappe.get_doc(
			{"doctype": "Customer", "customer_name": name, "customer_type": "Company"}
		).insert(ignore_permissions=True)
		account = self.writer.create_account(name, at=self.tick())
		self.sync()
		self.assertEqual(self.find("Customer", account), existing.name)
		self.assertEqual(frappe.db.count("Customer", {"customer_name": name}), 1)

	def test_deleted_in_vtiger_follows_policy(self):
		account = self.writer.create_account(self.name("To Delete"), at=self.tick())
		self.sync()
		customer = self.find("Customer", account)
		self.writer.delete(account, at=self.tick())
		log = self.sync()
		self.assertEqual(frappe.db.get_value("Customer", customer, "disabled"), 1)
		self.assertGreaterEqual(log.deleted, 1)

	def test_bad_records_fail_alone_with_reasons(self):
		good = self.writer.create_account(self.name("Good One"), at=self.tick())
		no_name = self.writer.create_contact("", firstname="", account_id=good, at=self.tick())
		ghost = self.writer.create_sales_order(
			self.name("Ghost"),
			account_id=good,
			lines=[{"productid": self.product, "quantity": 1, "listprice": 10}],
			at=self.tick(),
		)
		with self.engine.begin() as conn:
			conn.execute(
				text("UPDATE vtiger_inventoryproductrel SET productid = 99999999 WHERE id = :id"),
				{"id": ghost},
			)
		for crmid in (no_name, ghost):  # later tests of this class must not meet them again
			self.addCleanup(self.writer.delete, crmid, at=self.tick())
		log = self.sync()
		self.assertEqual(log.status, "Partial Success")
		self.assertTrue(self.find("Customer", good))
		failed = {line.vtiger_record: line.message for line in lines_of(log) if line.action == "Failed"}
		self.assertIn("first_name", failed[no_name])
		self.assertIn("99999999", failed[ghost])
		self.assertIsNone(self.find("Contact", no_name))
		self.assertIsNone(self.find("Sales Order", ghost))

	def test_unreachable_vtiger_fails_and_keeps_watermark(self):
		name = self.make_connection(title=f"Unreachable {self.run_id}", port=1, connect_timeout=2)
		before = frappe.db.get_value(SETTING_DOCTYPE, name, ["watermark_accounts", "watermark_sales_orders"])
		log = self.sync(connection=name)
		self.assertEqual(log.status, "Failed")
		self.assertIn("127.0.0.1:1", log.error_summary)
		after = frappe.db.get_value(SETTING_DOCTYPE, name, ["watermark_accounts", "watermark_sales_orders"])
		self.assertEqual(before, after)
		self.assertEqual(frappe.db.get_value(SETTING_DOCTYPE, name, "status"), "Failed")

	def test_listed_vtiger_statuses_are_submitted(self):
		self.set_connection(submit_statuses="Approved\nDelivered")
		approved = self.writer.create_sales_order(
			self.name("Approved"),
			account_id=self.account,
			lines=[{"productid": self.product, "quantity": 1, "listprice": 100}],
			sostatus="Approved",
			at=self.tick(),
		)
		created = self.writer.create_sales_order(
			self.name("Created"),
			account_id=self.account,
			lines=[{"productid": self.product, "quantity": 1, "listprice": 100}],
			sostatus="Created",
			at=self.tick(),
		)
		log = self.sync()
		self.assertEqual(log.failed, 0, [(line.action, line.message) for line in lines_of(log)])
		self.assertEqual(
			frappe.db.get_value("Sales Order", self.find("Sales Order", approved), "docstatus"), 1
		)
		self.assertEqual(
			frappe.db.get_value("Sales Order", self.find("Sales Order", created), "docstatus"), 0
		)
		self.writer.update(approved, at=self.tick(), purchaseorder="PO-EDITED")
		log = self.sync()
		kept = [
			line for line in lines_of(log) if line.action == "Skipped" and "submitted" in (line.message or "")
		]
		self.assertEqual(len(kept), 1, [(line.action, line.message) for line in lines_of(log)])

	def test_delete_drafts_policy_deletes_the_draft_order(self):
		self.set_connection(deleted_record_action="Delete Drafts")
		order = self.writer.create_sales_order(
			self.name("Doomed"),
			account_id=self.account,
			lines=[{"productid": self.service, "quantity": 1, "listprice": 50}],
			at=self.tick(),
		)
		self.sync()
		name = self.find("Sales Order", order)
		self.assertTrue(name)
		self.writer.delete(order, at=self.tick())
		log = self.sync()
		self.assertFalse(frappe.db.exists("Sales Order", name))
		self.assertIn("Deleted", [line.action for line in lines_of(log)])
		self.assertGreaterEqual(log.deleted, 1)

	def test_interrupted_run_resumes_after_the_last_committed_batch(self):
		self.set_connection(batch_size=1)
		accounts = [self.writer.create_account(self.name(f"Resume {n}"), at=self.tick()) for n in range(3)]
		real_apply = SyncRun.apply

		def apply_until_the_second_account(run, result, observer):
			if result.source.crmid == accounts[1]:
				raise JobTimeoutException("the worker's time is up")
			return real_apply(run, result, observer)

		with patch.object(SyncRun, "apply", apply_until_the_second_account):
			log = self.sync()
		self.assertEqual(log.status, "Timed Out")
		watermark = frappe.db.get_value(SETTING_DOCTYPE, self.connection, "watermark_accounts")
		self.assertTrue(watermark.endswith(f"#{accounts[0]}"), watermark)
		self.assertTrue(self.find("Customer", accounts[0]))
		self.assertIsNone(self.find("Customer", accounts[1]))

		log = self.sync()
		self.assertEqual(log.status, "Success")
		prefix = frappe.db.get_value(SETTING_DOCTYPE, self.connection, "id_prefix")
		for account in accounts:
			self.assertEqual(frappe.db.count("Customer", {"vtiger_id": f"{prefix}{account}"}), 1)
		self.assertEqual(log.created, 2)

	def test_group_tax_overall_discount_and_adjustment_keep_vtigers_total(self):
		order = self.writer.create_sales_order(
			self.name("Discounted"),
			account_id=self.account,
			lines=[
				{
					"productid": self.product,
					"quantity": 3,
					"listprice": 33.33,
					"discount_amount": 5,
					"tax1": 10,
				},
				{"productid": self.service, "quantity": 2, "listprice": 50, "tax1": 10},
			],
			taxtype="group",
			discount_percent=10,
			sh_amount=7.5,
			sh_tax_percent=4.5,
			adjustment=2.5,
			at=self.tick(),
		)
		log = self.sync()
		self.assertEqual(log.failed, 0, [(line.action, line.message) for line in lines_of(log)])
		so = frappe.get_doc("Sales Order", self.find("Sales Order", order))
		stored = self.vtiger_value("SELECT total FROM vtiger_salesorder WHERE salesorderid = :id", id=order)
		self.assertAlmostEqual(flt(so.grand_total), flt(stored), delta=0.01)
		self.assertGreater(flt(so.discount_amount), 0)
		self.assertFalse([line for line in lines_of(log) if "differs" in (line.message or "")])
