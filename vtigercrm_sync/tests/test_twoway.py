"""Two-way sync end to end, against the kit's real VTiger 8.2 server."""

from __future__ import annotations

import html
import json
import time
from contextlib import contextmanager

import frappe
from erpnext.selling.doctype.sales_order.sales_order import make_delivery_note, make_sales_invoice
from frappe.utils import now_datetime
from frappe.utils.background_jobs import get_queue
from sqlalchemy import text

from vtigercrm_sync.config.config import read_json
from vtigercrm_sync.constants import (
	DIRECTION_PULL,
	DIRECTION_PUSH,
	LOG_DOCTYPE,
	OUTBOX_DOCTYPE,
	SETTING_DOCTYPE,
	push_job_id,
)
from vtigercrm_sync.syncer.push.outbox import DRAIN_METHOD
from vtigercrm_sync.syncer.push.pusher import drain, drain_all, pending_count
from vtigercrm_sync.syncer.run.feed import changes_waiting
from vtigercrm_sync.tests.twoway import (
	WRITEBACK_LABELS,
	HouseholdTestCase,
	TwoWayTestCase,
	euro_currency,
	euro_order,
	inventory_rows,
	only_creator,
	ws_order,
	ws_product,
)
from vtigercrm_sync.tests.utils import lines_of, start_worker
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

	def assert_landed_as(self, account_crmid: int, customer: str, order_crmid: int, so_name: str):
		"""VTiger holds the names its account and order became, and the order's state as it landed."""
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
			frappe.get_all(
				OUTBOX_DOCTYPE,
				filters={
					"connection": self.connection,
					"status": "Pending",
					"reference_name": ("in", [customer, so_name]),
				},
				pluck="kind",
			),
			["Status", "Status"],
		)
		log = drain(self.connection)
		self.assertEqual(pending_count(self.connection), 0)
		lines = lines_of(log)
		self.assertEqual({line.direction for line in lines}, {DIRECTION_PUSH})
		self.assert_landed_as(account_crmid, customer, order_crmid, so_name)

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
		self.assertFalse(log.created or log.updated, [(l.action, l.message) for l in lines_of(log)])

	def test_the_write_back_leaves_a_foreign_currency_order_as_it_was(self):
		"""VTiger resets an order's rate to 1 when a revise leaves it out: the write-back of EUR orders with group
		and individual tax, discount, S&H and adjustment changes only the written fields, and the next pull
		writes nothing."""
		euro = euro_currency(self.client)
		account = self.client.create(
			"Accounts", {"accountname": self.name("Złoty Euro"), "assigned_user_id": self.client.user_id}
		)
		orders = [
			euro_order(self.client, euro, taxtype, self.name(f"EUR {taxtype}"), account["id"])
			for taxtype in ("group", "individual")
		]
		crmids = [self.client.crmid_of(order["id"]) for order in orders]
		before = {crmid: inventory_rows(self.engine, crmid) for crmid in crmids}
		self.sync()
		names = [self.find("Sales Order", crmid) for crmid in crmids]
		landed = {
			name: frappe.db.get_value("Sales Order", name, ["conversion_rate", "grand_total"])
			for name in names
		}
		self.assertTrue(
			all(rate == 1 / 0.92 or abs(rate - 1 / 0.92) < 1e-6 for rate, _total in landed.values())
		)

		drain(self.connection)
		frappe.get_doc("Sales Order", names[0]).submit()
		drain(self.connection)

		written = {self.cf("SalesOrder", label) for label in WRITEBACK_LABELS["SalesOrder"]}
		for crmid, name in zip(crmids, names, strict=True):
			after = inventory_rows(self.engine, crmid)
			self.assertEqual(
				after["vtiger_salesordercf"][0][self.cf("SalesOrder", "ERPNext Sales Order")], name
			)
			for row in (*after["vtiger_salesordercf"], *before[crmid]["vtiger_salesordercf"]):
				for column in written:
					row.pop(column)
			self.assertEqual(after, before[crmid])

		log = self.sync()
		self.assertFalse(log.created or log.updated, [(l.action, l.message) for l in lines_of(log)])
		self.assertEqual(
			{
				name: frappe.db.get_value("Sales Order", name, ["conversion_rate", "grand_total"])
				for name in names
			},
			landed,
		)

	def test_ticking_the_write_back_reports_the_records_already_synced(self):
		frappe.db.set_value(SETTING_DOCTYPE, self.connection, "push_status", 0)
		frappe.db.commit()
		self.addCleanup(frappe.db.commit)
		self.addCleanup(frappe.db.set_value, SETTING_DOCTYPE, self.connection, "push_status", 1)
		product = ws_product(self.client, self.name("Gadget"))
		account = self.client.create(
			"Accounts", {"accountname": self.name("Früher GmbH"), "assigned_user_id": self.client.user_id}
		)
		order = ws_order(self.client, account["id"], product["id"], self.name("Earlier order"))
		self.sync()
		drain(self.connection)
		order_crmid, account_crmid = self.client.crmid_of(order["id"]), self.client.crmid_of(account["id"])
		customer, so_name = self.find("Customer", account_crmid), self.find("Sales Order", order_crmid)
		self.assertFalse(frappe.db.exists(OUTBOX_DOCTYPE, {"reference_name": ("in", [customer, so_name])}))

		doc = frappe.get_doc(SETTING_DOCTYPE, self.connection)
		doc.push_status = 1
		doc.save(ignore_permissions=True)
		frappe.db.commit()
		self.assertEqual(
			sorted(
				frappe.get_all(
					OUTBOX_DOCTYPE,
					filters={"reference_name": ("in", [customer, so_name]), "status": "Pending"},
					pluck="kind",
				)
			),
			["Status", "Status"],
		)
		doc.save(ignore_permissions=True)  # saved again, still ticked: nothing queued twice
		self.assertEqual(frappe.db.count(OUTBOX_DOCTYPE, {"reference_name": ("in", [customer, so_name])}), 2)

		drain(self.connection)
		self.assert_landed_as(account_crmid, customer, order_crmid, so_name)

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
		[line] = [line for line in lines_of(log) if line.target_name == customer]
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

		summary = frappe.get_doc(SETTING_DOCTYPE, self.connection).run_summary()
		self.assertEqual(summary["pending_pushes"], 1)  # the form says a push is waiting
		self.assertIn("waiting to be written to VTiger", summary["text"])
		self.assertIsNone(drain(self.connection))  # not due yet: nothing is sent, no empty log
		self.assertNotIn(self.connection, drain_all())
		frappe.db.set_value(OUTBOX_DOCTYPE, {"reference_name": customer}, "next_attempt_at", now_datetime())
		frappe.db.commit()
		self.assertIn(self.connection, drain_all())  # the scheduler picks it up when it is due
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


CONFLICT_CASES = (
	("VTiger wins", "vtiger"),
	("ERPNext wins", "erpnext"),
	("Latest change wins", "vtiger"),  # VTiger's edit comes a second after ERPNext's
)
"""Each conflict rule, and whose website it keeps when both sides edit it."""


class EditPushTestCase(TwoWayTestCase):
	"""A connection that pushes edits, with synced accounts made in VTiger."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.db.set_value(SETTING_DOCTYPE, cls.connection, "push_edits", 1)
		frappe.db.commit()

	def set_rule(self, rule: str):
		frappe.db.set_value(SETTING_DOCTYPE, self.connection, "conflict_rule", rule)
		frappe.db.commit()
		frappe.clear_document_cache(SETTING_DOCTYPE, self.connection)

	def make_account(self, name: str, **fields) -> tuple[dict, str]:
		account = self.client.create(
			"Accounts", {"accountname": self.name(name), "assigned_user_id": self.client.user_id, **fields}
		)
		self.sync()
		return account, self.find("Customer", self.client.crmid_of(account["id"]))

	def website(self, crmid: int) -> str:
		return self.vtiger_value("SELECT website FROM vtiger_account WHERE accountid = :id", id=crmid)


class TestEditPush(EditPushTestCase):
	"""ERPNext edits of the fields the mapping pushes land in VTiger's own columns, written by VTiger."""

	def tracked(self, crmid: int) -> dict[str, str]:
		"""fieldname -> last value ModTracker recorded for the web service user's changes of a record."""
		rows = self.vtiger_rows(
			"SELECT d.fieldname, d.postvalue FROM vtiger_modtracker_detail d JOIN vtiger_modtracker_basic b "
			"ON b.id = d.id WHERE b.crmid = :id AND b.status = 0 AND b.whodid = 1 ORDER BY b.id",
			id=crmid,
		)
		return {row["fieldname"]: html.unescape(row["postvalue"] or "") for row in rows}

	def edit_on_both_sides(self, name: str, rule: str, kept: str) -> tuple[int, str, str, str]:
		"""A synced account whose website is edited in ERPNext, then (a second later) in VTiger, under ``rule``;
		(crmid, customer, the value ``kept`` says wins, the other)."""
		self.set_rule(rule)
		account, customer_name = self.make_account(name, website="base.example.org")
		customer = frappe.get_doc("Customer", customer_name)
		customer.website = "erpnext.example.org"
		customer.save()
		frappe.db.commit()
		time.sleep(1.1)
		self.client.revise({"id": account["id"], "website": "vtiger.example.org"})
		values = ("vtiger.example.org", "erpnext.example.org")
		winner, loser = values if kept == "vtiger" else values[::-1]
		return self.client.crmid_of(account["id"]), customer_name, winner, loser

	def test_customer_contact_and_address_edits_land_in_vtiger_with_their_history(self):
		account, customer_name = self.make_account(
			"Edit Co", website="old.example.org", bill_street="1 Old St", bill_city="Oldtown"
		)
		account_crmid = self.client.crmid_of(account["id"])
		contact = self.client.create(
			"Contacts",
			{
				"firstname": "Jan",
				"lastname": self.name("Kowalski"),
				"email": "jan@example.org",
				"phone": "+48 1",
				"mobile": "+48 2",
				"account_id": account["id"],
				"assigned_user_id": self.client.user_id,
			},
		)
		contact_crmid = self.client.crmid_of(contact["id"])
		self.sync()
		self.assertEqual(pending_count(self.connection), 0, "an inbound sync never queues a push")

		customer = frappe.get_doc("Customer", customer_name)
		customer.customer_name = self.name("Édit Ço Łódź")
		customer.website = "new.example.org"
		customer.save()
		person = frappe.get_doc("Contact", self.find("Contact", contact_crmid))
		person.first_name = "Łukasz"
		for row in person.email_ids:
			row.email_id = "lukasz@example.org" if row.is_primary else row.email_id
		for row in person.phone_nos:
			if row.is_primary_phone:
				row.phone = "+48 100"
		person.save()
		address = frappe.get_doc("Address", self.find("Address", f"{account_crmid}:billing"))
		address.address_line1 = "2 New St"
		address.city = "Newtown"
		address.save()
		frappe.db.commit()
		self.assertEqual(pending_count(self.connection), 3)

		log = frappe.get_doc(LOG_DOCTYPE, drain(self.connection))

		self.assertEqual(log.status, "Success")
		self.assertEqual(
			{(line.action, line.direction) for line in lines_of(log)}, {("Pushed", DIRECTION_PUSH)}
		)
		stored = self.vtiger_rows(
			"SELECT a.accountname, a.website, b.bill_street, b.bill_city FROM vtiger_account a "
			"JOIN vtiger_accountbillads b ON b.accountaddressid = a.accountid WHERE a.accountid = :id",
			id=account_crmid,
		)[0]
		self.assertEqual(
			dict(stored),
			{
				"accountname": self.name("Édit Ço Łódź"),
				"website": "new.example.org",
				"bill_street": "2 New St",
				"bill_city": "Newtown",
			},
		)
		self.assertLessEqual(
			{
				"accountname": self.name("Édit Ço Łódź"),
				"website": "new.example.org",
				"bill_city": "Newtown",
			}.items(),
			self.tracked(account_crmid).items(),
		)
		person_row = self.vtiger_rows(
			"SELECT firstname, lastname, email, phone, mobile FROM vtiger_contactdetails WHERE contactid = :id",
			id=contact_crmid,
		)[0]
		self.assertEqual(
			dict(person_row),
			{
				"firstname": "Łukasz",
				"lastname": self.name("Kowalski"),
				"email": "lukasz@example.org",
				"phone": "+48 100",
				"mobile": "+48 2",
			},
		)
		self.assertEqual(
			{
				k: v
				for k, v in self.tracked(contact_crmid).items()
				if k in ("firstname", "email", "phone", "lastname")
			},
			{"firstname": "Łukasz", "email": "lukasz@example.org", "phone": "+48 100"},
		)

	def test_values_the_pull_reshaped_are_corrected_in_erpnext_and_pushed_not_lost_as_conflicts(self):
		"""A contact with only a last name lands with it as its first name, and "USA" as "United States"; VTiger
		still holds what the last pull read, so ERPNext's corrections are no conflict and reach VTiger."""
		self.set_rule("VTiger wins")
		account, _customer = self.make_account(
			"Reshaped Co", bill_street="1 Main St", bill_city="Springfield", bill_country="USA"
		)
		account_crmid = self.client.crmid_of(account["id"])
		contact = self.client.create(
			"Contacts",
			{
				"lastname": self.name("Cher"),
				"account_id": account["id"],
				"assigned_user_id": self.client.user_id,
			},
		)
		contact_crmid = self.client.crmid_of(contact["id"])
		self.sync()
		person = frappe.get_doc("Contact", self.find("Contact", contact_crmid))
		self.assertEqual((person.first_name, person.last_name or None), (self.name("Cher"), None))
		address = frappe.get_doc("Address", self.find("Address", f"{account_crmid}:billing"))
		self.assertEqual(address.country, "United States")

		person.update({"first_name": "Cherilyn", "last_name": self.name("Cher")})
		person.save()
		address.country = "Canada"
		address.save()
		frappe.db.commit()
		log = frappe.get_doc(LOG_DOCTYPE, drain(self.connection))

		self.assertEqual(
			{line.action for line in lines_of(log)},
			{"Pushed"},
			[(l.action, l.message) for l in lines_of(log)],
		)
		self.assertEqual(
			dict(
				self.vtiger_rows(
					"SELECT firstname, lastname FROM vtiger_contactdetails WHERE contactid = :id",
					id=contact_crmid,
				)[0]
			),
			{"firstname": "Cherilyn", "lastname": self.name("Cher")},
		)
		self.assertEqual(
			self.vtiger_value(
				"SELECT bill_country FROM vtiger_accountbillads WHERE accountaddressid = :id",
				id=account_crmid,
			),
			"Canada",
		)
		log = self.sync()
		self.assertFalse(log.updated or log.failed, [(l.action, l.message) for l in lines_of(log)])
		self.assertEqual(frappe.db.get_value("Contact", person.name, "first_name"), "Cherilyn")

	def test_a_reshaped_field_of_a_document_pulled_without_vtiger_s_values_is_not_pushed(self):
		"""A document an older version synced keeps no VTiger values: its first name may be VTiger's last name, so
		an edit of it cannot be judged and is not queued (the user is told); an edit of a plain field is."""
		account, customer_name = self.make_account("Old Pull Co", website="old-pull.example.org")
		contact = self.client.create(
			"Contacts",
			{
				"firstname": "Ana",
				"lastname": self.name("Old Pull"),
				"account_id": account["id"],
				"assigned_user_id": self.client.user_id,
			},
		)
		self.sync()
		person = frappe.get_doc("Contact", self.find("Contact", self.client.crmid_of(contact["id"])))
		for doctype, name in (("Contact", person.name), ("Customer", customer_name)):
			frappe.db.set_value(doctype, name, "vtiger_pulled", None, update_modified=False)
		frappe.db.commit()
		frappe.local.message_log = []

		person.reload()
		person.first_name = "Anna"
		person.save()
		customer = frappe.get_doc("Customer", customer_name)
		customer.website = "new-old-pull.example.org"
		customer.save()
		frappe.db.commit()

		waiting = frappe.get_all(
			OUTBOX_DOCTYPE,
			filters={"reference_name": ("in", [person.name, customer_name]), "status": "Pending"},
			pluck="reference_name",
		)
		self.assertEqual(waiting, [customer_name], "the website is queued, the first name is not")
		self.assertIn("Not sent to VTiger: First Name", json.dumps(frappe.local.message_log))
		drain(self.connection)

	def test_three_runs_after_an_edit_write_nothing(self):
		account, customer_name = self.make_account("Quiet Co", website="quiet.example.org")
		customer = frappe.get_doc("Customer", customer_name)
		customer.website = "quieter.example.org"
		customer.save()
		frappe.db.commit()
		drain(self.connection)
		self.assertEqual(
			self.vtiger_value(
				"SELECT website FROM vtiger_account WHERE accountid = :id",
				id=self.client.crmid_of(account["id"]),
			),
			"quieter.example.org",
		)
		for run in range(3):
			log = self.sync()
			self.assertFalse(
				log.created or log.updated or log.failed,
				(run, [(l.action, l.message) for l in lines_of(log)]),
			)
			self.assertEqual(pending_count(self.connection), 0)
		self.assertEqual(frappe.db.get_value("Customer", customer_name, "website"), "quieter.example.org")

	def test_a_value_vtiger_refuses_is_retried_with_vtiger_s_reason(self):
		_first, taken = self.make_account("Taken Name")
		_account, customer_name = self.make_account("Free Name")
		customer = frappe.get_doc("Customer", customer_name)
		customer.customer_name = frappe.db.get_value("Customer", taken, "customer_name")
		customer.save()
		frappe.db.commit()

		log = frappe.get_doc(LOG_DOCTYPE, drain(self.connection))

		self.assertEqual(log.status, "Failed")
		[line] = lines_of(log)
		self.assertEqual((line.action, line.target_name), ("Retrying", customer_name))
		self.assertIn("invalid values", line.message)  # VTiger's duplicate check refused the name
		self.assertEqual(
			frappe.db.get_value(OUTBOX_DOCTYPE, {"reference_name": customer_name}, "attempts"), 1
		)
		frappe.db.set_value(OUTBOX_DOCTYPE, {"reference_name": customer_name}, "status", "Failed")
		frappe.db.commit()

	def test_a_field_changed_on_both_sides_follows_the_rule_and_the_loser_is_logged(self):
		for rule, kept in CONFLICT_CASES:
			with self.subTest(rule=rule):
				crmid, customer_name, winner, loser = self.edit_on_both_sides(f"Both {rule}", rule, kept)

				log = frappe.get_doc(LOG_DOCTYPE, drain(self.connection))

				[conflict] = [line for line in lines_of(log) if line.action == "Conflict"]
				self.assertIn(f"Value not kept: {loser}", conflict.message)
				self.assertEqual(conflict.direction, DIRECTION_PUSH)
				self.assertEqual(
					self.vtiger_value("SELECT website FROM vtiger_account WHERE accountid = :id", id=crmid),
					winner,
				)
				self.sync()
				self.assertEqual(frappe.db.get_value("Customer", customer_name, "website"), winner)
				self.assertEqual(pending_count(self.connection), 0)

	def test_a_committed_edit_is_pushed_by_a_worker_after_the_commit(self):
		"""The path production takes: the save queues a drain job once its transaction commits, and a real
		worker sends it."""
		self.set_rule("VTiger wins")
		account, customer_name = self.make_account("Background Co", website="before.example.org")
		crmid = self.client.crmid_of(account["id"])
		get_queue("short").empty()  # jobs another run of the suite left for a site of the same name
		start_worker(self, "short")
		frappe.flags.vtigercrm_sync_drain_in_background = True
		self.addCleanup(setattr, frappe.flags, "vtigercrm_sync_drain_in_background", False)

		customer = frappe.get_doc("Customer", customer_name)
		customer.website = "worker.example.org"
		customer.save()
		prefix = f"{frappe.local.site}::{push_job_id(self.connection, 0).rpartition('::')[0]}"
		queued = [job for job in get_queue("short").get_job_ids() if job.startswith(prefix)]
		self.assertFalse(queued, "queued before the commit")
		frappe.db.commit()

		deadline = time.monotonic() + 90
		while frappe.db.get_value(OUTBOX_DOCTYPE, {"reference_name": customer_name}, "status") != "Sent":
			self.assertLess(time.monotonic(), deadline, "no worker pushed the edit")
			time.sleep(0.5)
			frappe.db.rollback()  # a fresh snapshot, with the worker's commits
		self.assertEqual(self.website(crmid), "worker.example.org")

	def test_a_pull_keeps_an_edit_still_waiting_to_be_pushed(self):
		"""VTiger is down for the push but its database is read: a pull of the record, changed in VTiger on
		another field, must not undo ERPNext's edit, and the push that follows still writes it."""
		self.set_rule("VTiger wins")
		account, customer_name = self.make_account("Waiting Co", website="base.example.org")
		crmid = self.client.crmid_of(account["id"])
		customer = frappe.get_doc("Customer", customer_name)
		customer.website = "erpnext.example.org"
		customer.save()
		frappe.db.commit()
		self.client.revise({"id": account["id"], "description": "Überarbeitet in VTiger"})

		log = self.sync()

		customer.reload()
		self.assertEqual(
			customer.website, "erpnext.example.org", [(l.action, l.message) for l in lines_of(log)]
		)
		self.assertEqual(customer.customer_details, "Überarbeitet in VTiger")
		self.assertFalse([line for line in lines_of(log) if line.action == "Conflict"])
		self.assertEqual(pending_count(self.connection), 1)

		push = frappe.get_doc(LOG_DOCTYPE, drain(self.connection))
		self.assertEqual([line.action for line in lines_of(push)], ["Pushed"])
		self.assertEqual(self.website(crmid), "erpnext.example.org")
		for run in range(3):
			log = self.sync()
			self.assertFalse(log.updated or log.failed, (run, [(l.action, l.message) for l in lines_of(log)]))
		self.assertEqual(frappe.db.get_value("Customer", customer_name, "website"), "erpnext.example.org")

	def test_a_pull_that_meets_a_waiting_edit_of_the_same_field_follows_the_rule(self):
		for rule, kept in CONFLICT_CASES:
			with self.subTest(rule=rule):
				crmid, customer_name, winner, loser = self.edit_on_both_sides(f"Pull {rule}", rule, kept)

				log = self.sync()

				[conflict] = [line for line in lines_of(log) if line.action == "Conflict"]
				self.assertEqual(conflict.direction, DIRECTION_PULL)
				self.assertEqual(conflict.target_name, customer_name)
				self.assertIn(f"Value not kept: {loser}", conflict.message)
				self.assertEqual(frappe.db.get_value("Customer", customer_name, "website"), winner)

				push = drain(self.connection)
				lines = [line.action for line in lines_of(push or "")]
				self.assertNotIn("Conflict", lines, "the pull decided it; the push must not decide it again")
				self.assertEqual(self.website(crmid), winner)
				self.assertEqual(pending_count(self.connection), 0)
				if kept == "vtiger":
					self.assertEqual(
						frappe.db.get_value(OUTBOX_DOCTYPE, {"reference_name": customer_name}, "status"),
						"Superseded",
					)
				log = self.sync()
				self.assertFalse(log.updated or log.failed, [(l.action, l.message) for l in lines_of(log)])
				self.assertEqual(frappe.db.get_value("Customer", customer_name, "website"), winner)


class TestPullWhileSending(EditPushTestCase):
	"""A pull of a record while a real worker's drain is sending an edit of it. The drain is held in VTiger's web
	service login (a VTiger made slow): this test locks the table VTiger writes a login's challenge to, so the
	worker waits after it claimed the row and before it reads VTiger's record."""

	def test_a_field_being_sent_survives_a_pull_and_vtiger_ends_with_erpnext_s_value(self):
		self.set_rule("VTiger wins")
		account, customer = self.make_account("Sending Co", website="base.example.org")
		self.edit_website(customer, "erpnext.example.org")
		self.client.revise({"id": account["id"], "description": "Geändert in VTiger"})

		with self.drain_held_in_login(customer):
			log = self.sync()  # reads VTiger's older website, and the new description
			self.assertEqual(
				frappe.db.get_value("Customer", customer, ["website", "customer_details"]),
				("erpnext.example.org", "Geändert in VTiger"),
				[(l.action, l.message) for l in lines_of(log)],
			)
			self.assertFalse([line for line in lines_of(log) if line.action == "Conflict"])

		self.assertEqual(self.website(self.client.crmid_of(account["id"])), "erpnext.example.org")
		for run in range(2):
			log = self.sync()
			self.assertFalse(log.failed, (run, [(l.action, l.message) for l in lines_of(log)]))
			self.assertEqual(frappe.db.get_value("Customer", customer, "website"), "erpnext.example.org")

	def test_a_field_being_sent_that_vtiger_won_reaches_erpnext_at_the_next_pull(self):
		self.set_rule("VTiger wins")
		account, customer = self.make_account("Sending Lost Co", website="base.example.org")
		self.edit_website(customer, "erpnext.example.org")
		self.client.revise({"id": account["id"], "website": "vtiger.example.org"})

		with self.drain_held_in_login(customer):
			log = self.sync()
			self.assertEqual(frappe.db.get_value("Customer", customer, "website"), "erpnext.example.org")
			self.assertFalse(
				[line for line in lines_of(log) if line.action == "Conflict"], "the push decides"
			)

		row = frappe.get_doc(OUTBOX_DOCTYPE, {"reference_name": customer, "kind": "Edit"})
		self.assertEqual(
			[line.action for line in lines_of(row.log)], ["Conflict"], "VTiger's value won at the push"
		)
		self.assertEqual(self.website(self.client.crmid_of(account["id"])), "vtiger.example.org")
		self.assertEqual(row.read_again, 1)
		self.assertIn("Outbox", changes_waiting(frappe.get_doc(SETTING_DOCTYPE, self.connection)))
		self.sync()
		self.assertEqual(frappe.db.get_value("Customer", customer, "website"), "vtiger.example.org")
		self.assertEqual(frappe.db.get_value(OUTBOX_DOCTYPE, row.name, "read_again"), 0)
		log = self.sync()
		self.assertFalse(log.updated or log.failed, [(l.action, l.message) for l in lines_of(log)])

	def edit_website(self, customer: str, website: str):
		doc = frappe.get_doc("Customer", customer)
		doc.website = website
		doc.save()
		frappe.db.commit()

	@contextmanager
	def drain_held_in_login(self, customer: str):
		"""A worker drains the connection while VTiger cannot answer its login; inside the block the customer's
		edit is being sent. After it, the drain has sent it."""
		with self.engine.connect() as lock:
			lock.execute(text("LOCK TABLES vtiger_ws_userauthtoken WRITE"))
			try:
				get_queue("short").empty()
				start_worker(self, "short")
				frappe.enqueue(
					DRAIN_METHOD,
					queue="short",
					job_id=f"test-held-drain-{self.run_id}-{customer}",
					connection=self.connection,
				)
				self.wait_until(
					"the drain to wait for VTiger's login",
					lambda: self.status(customer) == "Sending" and self.login_waiting(),
				)
				yield
				self.assertEqual(self.status(customer), "Sending", "the pull left the row to the drain")
			finally:
				lock.execute(text("UNLOCK TABLES"))
		self.wait_until("the drain to send the edit", lambda: self.status(customer) == "Sent")

	def status(self, customer: str) -> str:
		frappe.db.rollback()  # a fresh snapshot, with the worker's commits
		return frappe.db.get_value(OUTBOX_DOCTYPE, {"reference_name": customer, "kind": "Edit"}, "status")

	def login_waiting(self) -> bool:
		return bool(
			self.vtiger_value(
				"SELECT COUNT(*) FROM information_schema.processlist WHERE id != CONNECTION_ID() "
				"AND state LIKE 'Waiting for table%' AND info LIKE '%vtiger_ws_userauthtoken%'"
			)
		)

	def wait_until(self, what: str, condition, timeout: float = 60):
		deadline = time.monotonic() + timeout
		while not condition():
			self.assertLess(time.monotonic(), deadline, f"timed out waiting for {what}")
			time.sleep(0.3)


class TestNewCustomer(TwoWayTestCase):
	"""A Customer made in ERPNext becomes a VTiger Account, with its Contact, and is synced from then on."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.db.set_value(SETTING_DOCTYPE, cls.connection, {"push_new_customers": 1, "push_edits": 1})
		frappe.db.commit()

	def test_a_new_customer_is_created_in_vtiger_and_then_synced_like_any_other(self):
		only_creator(self, self.connection)  # the oldest opted-in connection creates: other tests' must not
		customer = frappe.get_doc(
			{
				"doctype": "Customer",
				"customer_name": self.name("Nowa Firma Łódź"),
				"customer_type": "Company",
				"website": "nowa.example.org",
				"first_name": "Zofia",
				"last_name": "Nowak",
				"email_id": "zofia@example.org",
				"mobile_no": "+48 600",
				"address_line1": "ul. Piotrkowska 1",
				"city": "Łódź",
				"pincode": "90-001",
				"country": "Poland",
			}
		).insert()
		frappe.db.commit()
		self.assertEqual(pending_count(self.connection), 1)

		log = frappe.get_doc(LOG_DOCTYPE, drain(self.connection))

		self.assertEqual(log.status, "Success", [(l.action, l.message) for l in lines_of(log)])
		customer.reload()
		vtiger_id = customer.vtiger_id
		self.assertTrue(vtiger_id and customer.vtiger_connection == self.connection)
		crmid = int(vtiger_id.rpartition("/")[2])
		account = self.vtiger_rows(
			"SELECT a.accountname, a.website, a.account_no, b.bill_street, b.bill_city, b.bill_code, "
			"b.bill_country, e.source, e.label FROM vtiger_account a "
			"JOIN vtiger_accountbillads b ON b.accountaddressid = a.accountid "
			"JOIN vtiger_crmentity e ON e.crmid = a.accountid WHERE a.accountid = :id",
			id=crmid,
		)[0]
		self.assertEqual(
			(account["accountname"], account["website"], account["bill_street"], account["bill_city"]),
			(self.name("Nowa Firma Łódź"), "nowa.example.org", "ul. Piotrkowska 1", "Łódź"),
		)
		self.assertEqual(
			(account["bill_code"], account["bill_country"], account["source"]),
			("90-001", "Poland", "WEBSERVICE"),
		)
		self.assertTrue(account["account_no"].startswith("ACC"))
		self.assertEqual(customer.vtiger_number, account["account_no"])
		person = self.vtiger_rows(
			"SELECT firstname, lastname, email, mobile, accountid FROM vtiger_contactdetails c "
			"JOIN vtiger_crmentity e ON e.crmid = c.contactid WHERE c.accountid = :id AND e.deleted = 0",
			id=crmid,
		)
		self.assertEqual(
			[dict(p) for p in person],
			[
				{
					"firstname": "Zofia",
					"lastname": "Nowak",
					"email": "zofia@example.org",
					"mobile": "+48 600",
					"accountid": crmid,
				}
			],
		)
		self.assertTrue(frappe.db.get_value("Contact", customer.customer_primary_contact, "vtiger_id"))

		# from now on it is a synced customer: the pull adopts it (no second Customer) and edits push
		log = self.sync()
		self.assertFalse(log.created, [(l.action, l.target_doctype, l.message) for l in lines_of(log)])
		self.assertEqual(frappe.db.count("Customer", {"customer_name": self.name("Nowa Firma Łódź")}), 1)
		customer.reload()
		customer.website = "nowa2.example.org"
		customer.save()
		frappe.db.commit()
		drain(self.connection)
		self.assertEqual(
			self.vtiger_value("SELECT website FROM vtiger_account WHERE accountid = :id", id=crmid),
			"nowa2.example.org",
		)

	def test_a_customer_the_sync_wrote_is_not_sent_back(self):
		account = self.client.create(
			"Accounts", {"accountname": self.name("From VTiger"), "assigned_user_id": self.client.user_id}
		)
		self.sync()
		self.assertTrue(self.find("Customer", self.client.crmid_of(account["id"])))
		self.assertEqual(
			frappe.db.count(
				OUTBOX_DOCTYPE, {"connection": self.connection, "kind": "Create", "status": "Pending"}
			),
			0,
		)


class TestHouseholdPushBack(HouseholdTestCase):
	"""Contacts from a repeating group push back into their own group's columns of the order."""

	def test_a_dependent_pushes_into_its_own_group_columns(self):
		crmid, columns, values = self.policy("Household Co")
		second = frappe.get_doc("Contact", self.find("Contact", f"{crmid}:dependent-2"))
		self.assertEqual(second.first_name, "Caio")

		second.first_name = "Caíque"
		second.save()
		frappe.db.commit()
		log = frappe.get_doc(LOG_DOCTYPE, drain(self.connection))

		self.assertEqual(log.status, "Success", [(l.action, l.message) for l in lines_of(log)])
		row = self.vtiger_rows(
			f"SELECT {', '.join(columns.values())} FROM vtiger_salesordercf WHERE salesorderid = :id",
			id=crmid,
		)[0]
		self.assertEqual(
			{label: row[column] for label, column in columns.items()},
			{**values, "HH Dep 2 First": "Caíque"},
		)
		log = self.sync()
		touched = [
			(d, n)
			for d in ("Customer", "Contact")
			for n in frappe.get_all(d, filters={"modified": (">=", log.started_at)}, pluck="name")
		]
		self.assertFalse(log.created or log.updated, touched)  # the push left no echo for the pull
