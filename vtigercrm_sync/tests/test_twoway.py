"""Two-way sync end to end, against the kit's real VTiger 8.2 server."""

from __future__ import annotations

import html

import frappe
from erpnext.selling.doctype.sales_order.sales_order import make_delivery_note, make_sales_invoice
from frappe.utils import now_datetime

from vtigercrm_sync.config.loader import read_json
from vtigercrm_sync.constants import DIRECTION_PUSH, LOG_DOCTYPE, OUTBOX_DOCTYPE, SETTING_DOCTYPE
from vtigercrm_sync.syncer.handler.push import drain, pending_count
from vtigercrm_sync.tests.twoway import WRITEBACK_LABELS, TwoWayTestCase, ws_order, ws_product
from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync import form_test_web_service


class TestConnectionFields(TwoWayTestCase):
	def test_writing_needs_the_web_service_user_and_access_key(self):
		doc = frappe.get_doc(self.connection_values(title=self.name("No key"), push_edits=1))
		doc.vtiger_access_key = None
		with self.assertRaises(frappe.ValidationError) as caught:
			doc.insert(ignore_permissions=True)
		self.assertIn("VTiger Access Key", str(caught.exception))

	def test_a_read_only_connection_needs_no_web_service(self):
		doc = frappe.get_doc(self.connection_values(title=self.name("Read only")))
		doc.vtiger_user = doc.vtiger_access_key = None
		doc.insert(ignore_permissions=True)
		self.assertFalse(doc.writes_to_vtiger())

	def test_the_access_key_is_kept_encrypted_and_forgotten_for_another_vtiger(self):
		doc = frappe.get_doc(SETTING_DOCTYPE, self.make_connection(title=self.name("Key")))
		self.assertEqual(doc.get_password("vtiger_access_key"), self.server.access_key)
		stored = frappe.db.get_value(SETTING_DOCTYPE, self.connection, "vtiger_access_key")
		self.assertNotIn(self.server.access_key, stored or "")
		self.assertEqual(doc.webservice_settings().access_key, self.server.access_key)
		self.assertNotIn(self.server.access_key, repr(doc.webservice_settings()))

		doc.vtiger_url = "http://127.0.0.1:9/"
		doc.save(ignore_permissions=True)
		self.assertIsNone(doc.get_password("vtiger_access_key", raise_exception=False))
		doc.reload()
		doc.update({"vtiger_url": self.server.url, "vtiger_access_key": self.server.access_key})
		doc.save(ignore_permissions=True)
		self.assertEqual(doc.get_password("vtiger_access_key"), self.server.access_key)

	def test_test_web_service_logs_in_and_never_shows_the_key(self):
		message = form_test_web_service(self.connection)
		self.assertIn("19x1", message)
		self.assertNotIn(self.server.access_key, message)

	def test_an_unknown_write_back_label_is_named_with_the_closest_real_ones(self):
		self.make_connection(title=self.name("Labels"), push_status=1)  # the preset's labels exist in VTiger

		doc = frappe.get_doc(
			self.connection_values(title=self.name("Custom labels"), mapping_preset="custom")
		)
		data = read_json("salesorder.json")
		data["writeback"]["SalesOrder"]["status"] = "ERPNext Stat"
		doc.custom_mapping = frappe.as_json(data)
		doc.push_status = 1
		with self.assertRaises(frappe.ValidationError) as caught:
			doc.insert(ignore_permissions=True)
		message = html.unescape(str(caught.exception))
		self.assertIn("writeback.SalesOrder.status", message)
		self.assertIn("closest labels: 'ERPNext Status'", message)


class TestStatusWriteBack(TwoWayTestCase):
	"""VTiger learns what its records became: the Customer's name, the order's name, status and progress."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.db.set_value(SETTING_DOCTYPE, cls.connection, "push_status", 1)
		frappe.db.commit()

	def cf(self, module: str, label: str) -> str:
		return self.vtiger_value(
			"SELECT f.columnname FROM vtiger_field f JOIN vtiger_tab t ON t.tabid = f.tabid "
			"WHERE t.name = :module AND f.fieldlabel = :label",
			module=module,
			label=label,
		)

	def order_fields(self, crmid: int) -> dict:
		columns = [self.cf("SalesOrder", label) for label in WRITEBACK_LABELS["SalesOrder"]]
		row = self.vtiger_rows(
			f"SELECT {', '.join(columns)} FROM vtiger_salesordercf WHERE salesorderid = :id", id=crmid
		)[0]
		return dict(zip(WRITEBACK_LABELS["SalesOrder"], (row[c] for c in columns), strict=True))

	def test_an_order_reports_its_name_status_delivery_and_billing(self):
		product = ws_product(self.client, self.name("Widget"))
		account = self.client.create(
			"Accounts", {"accountname": self.name("Acme Write-back"), "assigned_user_id": self.client.user_id}
		)
		order = ws_order(self.client, account["id"], product["id"], self.name("Order"))
		order_crmid, account_crmid = self.client.crmid_of(order["id"]), self.client.crmid_of(account["id"])

		self.sync()
		customer = self.find("Customer", account_crmid)
		so_name = self.find("Sales Order", order_crmid)
		self.assertTrue(customer and so_name)
		self.assertEqual(
			frappe.db.count(
				OUTBOX_DOCTYPE, {"connection": self.connection, "status": "Pending", "kind": "Status"}
			),
			2,
		)
		log = drain(self.connection)
		self.assertEqual(pending_count(self.connection), 0)
		lines = frappe.get_doc(LOG_DOCTYPE, log).lines
		self.assertEqual({line.direction for line in lines}, {DIRECTION_PUSH})
		self.assertEqual(
			self.vtiger_value(
				f"SELECT {self.cf('Accounts', 'ERPNext Customer')} FROM vtiger_accountscf WHERE accountid = :id",
				id=account_crmid,
			),
			customer,
		)
		self.assertEqual(
			self.order_fields(order_crmid),
			{
				"ERPNext Sales Order": so_name,
				"ERPNext Status": "Draft",
				"ERPNext Delivered %": "0.00",
				"ERPNext Billed %": "0.00",
			},
		)

		so = frappe.get_doc("Sales Order", so_name)
		so.submit()
		drain(self.connection)
		self.assertEqual(self.order_fields(order_crmid)["ERPNext Status"], "To Deliver and Bill")

		frappe.db.set_value("Item", so.items[0].item_code, "is_stock_item", 0)
		delivery = make_delivery_note(so_name)
		delivery.insert()
		delivery.submit()
		drain(self.connection)
		self.assertEqual(
			{k: v for k, v in self.order_fields(order_crmid).items() if k != "ERPNext Sales Order"},
			{"ERPNext Status": "To Bill", "ERPNext Delivered %": "100.00", "ERPNext Billed %": "0.00"},
		)

		invoice = make_sales_invoice(so_name)
		invoice.insert()
		invoice.submit()
		drain(self.connection)
		self.assertEqual(
			{k: v for k, v in self.order_fields(order_crmid).items() if k != "ERPNext Sales Order"},
			{"ERPNext Status": "Completed", "ERPNext Delivered %": "100.00", "ERPNext Billed %": "100.00"},
		)
		# VTiger's own history says the web service user changed the order
		changed = self.vtiger_rows(
			"SELECT d.fieldname, d.postvalue FROM vtiger_modtracker_detail d JOIN vtiger_modtracker_basic b "
			"ON b.id = d.id WHERE b.crmid = :id AND b.whodid = 1",
			id=order_crmid,
		)
		self.assertIn(
			(self.cf("SalesOrder", "ERPNext Status"), "Completed"),
			{(r["fieldname"], r["postvalue"]) for r in changed},
		)

		# the write-back is not an edit the next pull brings back: the order and customer are left alone
		log = self.sync()
		self.assertFalse(log.created or log.updated, [(l.action, l.message) for l in log.lines])

	def test_vtiger_down_loses_nothing_and_says_why(self):
		account = self.client.create(
			"Accounts", {"accountname": self.name("Down Co"), "assigned_user_id": self.client.user_id}
		)
		self.sync()
		crmid = self.client.crmid_of(account["id"])
		customer = self.find("Customer", crmid)
		frappe.db.set_value(SETTING_DOCTYPE, self.connection, "vtiger_url", "http://127.0.0.1:9")
		frappe.db.commit()
		try:
			log = frappe.get_doc(LOG_DOCTYPE, drain(self.connection))
		finally:
			frappe.db.set_value(SETTING_DOCTYPE, self.connection, "vtiger_url", self.server.url)
			frappe.db.commit()
		self.assertEqual(log.status, "Failed")
		[line] = [line for line in log.lines if line.target_name == customer]
		self.assertEqual((line.action, line.direction), ("Retrying", DIRECTION_PUSH))
		self.assertIn("VTiger web service unavailable", line.message)
		self.assertNotIn(self.server.access_key, line.message)
		row = frappe.get_all(
			OUTBOX_DOCTYPE,
			filters={"reference_name": customer},
			fields=["status", "attempts", "next_attempt_at", "last_error"],
		)[0]
		self.assertEqual((row.status, row.attempts), ("Pending", 1))
		self.assertGreater(row.next_attempt_at, now_datetime())

		self.assertIsNone(drain(self.connection))  # not due yet: nothing is sent, no empty log
		frappe.db.set_value(OUTBOX_DOCTYPE, {"reference_name": customer}, "next_attempt_at", now_datetime())
		frappe.db.commit()
		drain(self.connection)
		self.assertEqual(frappe.db.get_value(OUTBOX_DOCTYPE, {"reference_name": customer}, "status"), "Sent")
		self.assertEqual(
			self.vtiger_value(
				f"SELECT {self.cf('Accounts', 'ERPNext Customer')} FROM vtiger_accountscf WHERE accountid = :id",
				id=crmid,
			),
			customer,
		)

	def test_the_outbox_row_lives_and_dies_with_the_document_save(self):
		account = self.client.create(
			"Accounts", {"accountname": self.name("Rollback Co"), "assigned_user_id": self.client.user_id}
		)
		self.sync()
		drain(self.connection)
		customer = frappe.get_doc("Customer", self.find("Customer", self.client.crmid_of(account["id"])))
		frappe.db.set_value(SETTING_DOCTYPE, self.connection, "push_edits", 1)
		frappe.db.commit()
		self.addCleanup(frappe.db.commit)
		self.addCleanup(frappe.db.set_value, SETTING_DOCTYPE, self.connection, "push_edits", 0)
		frappe.db.savepoint("before_edit")
		customer.website = "https://rolled-back.example.org"
		customer.save()
		self.assertEqual(pending_count(self.connection), 1)
		frappe.db.rollback(save_point="before_edit")
		self.assertEqual(pending_count(self.connection), 0)
