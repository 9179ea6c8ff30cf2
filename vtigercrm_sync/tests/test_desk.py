"""What an administrator meets in the Desk: POST-only actions, the run's summary and buttons, logs grouped by
reason, the timeline crediting the sync, links back to VTiger, notifications, the workspace, and an uninstall
that leaves nothing of the app behind."""

from __future__ import annotations

import json

import frappe
from frappe.tests.test_api import FrappeAPITestCase
from sqlalchemy import text

from vtigercrm_sync.constants import CUSTOM_FIELDS, LOG_DOCTYPE, MANAGER_ROLE, MODULE, SETTING_DOCTYPE
from vtigercrm_sync.install import before_uninstall, uninstall_inventory
from vtigercrm_sync.syncer.run.state import beat, stop_beating
from vtigercrm_sync.tests.utils import VTigerSyncTestCase
from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync import get_vtiger_url
from vtigercrm_sync.vtigercrm_sync.number_cards import failures_last_7_days, last_successful_run

METHODS = "vtigercrm_sync.vtigercrm_sync.doctype"


class TestDesk(VTigerSyncTestCase):
	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		w = cls.writer
		cls.product = w.create_product(cls.name("Desk widget"), unit_price=10, at=cls.tick())
		cls.account = w.create_account(cls.name("Desk Co"), at=cls.tick())
		cls.bad_contacts = [
			w.create_contact(
				f"Bad {n}", account_id=cls.account, email=f"émile.{n}.{cls.run_id}@example.org", at=cls.tick()
			)
			for n in range(3)
		]
		cls.ghosts = [
			w.create_sales_order(
				cls.name(f"Ghost {n}"),
				account_id=cls.account,
				lines=[{"productid": cls.product, "quantity": 1, "listprice": 10}],
				at=cls.tick(),
			)
			for n in range(2)
		]
		with cls.engine.begin() as conn:
			for n, ghost in enumerate(cls.ghosts):
				conn.execute(
					text("UPDATE vtiger_inventoryproductrel SET productid = :p WHERE id = :id"),
					{"p": 7000 + n, "id": ghost},
				)
		manager = f"manager-{cls.run_id}@example.org"
		if not frappe.db.exists("User", manager):
			user = frappe.get_doc(
				{"doctype": "User", "email": manager, "first_name": "Sync", "send_welcome_email": 0}
			)
			user.append("roles", {"role": MANAGER_ROLE})
			user.insert(ignore_permissions=True)
		cls.manager = manager
		frappe.db.set_value(SETTING_DOCTYPE, cls.connection, "vtiger_url", "https://crm.example.com/")
		cls.log = cls.sync()
		for crmid in cls.ghosts:  # the other classes of the suite share this VTiger database
			cls.addClassCleanup(cls.writer.delete, crmid, at=cls.tick())

	def test_the_log_groups_failures_and_warnings_by_reason_and_links_documents(self):
		log = frappe.get_doc(LOG_DOCTYPE, self.log.name)
		log.run_method("onload")
		reasons = log.get_onload().reasons
		failed = next(r for r in reasons if r["action"] == "Failed")
		self.assertEqual(failed["count"], 2)
		self.assertIn("refers to VTiger product/service #, which does not exist", failed["reason"])
		emails = next(r for r in reasons if r["action"] == "Warning" and "<e-mail>" in r["reason"])
		self.assertEqual(emails["count"], 3)
		prefix = frappe.db.get_value(SETTING_DOCTYPE, self.connection, "id_prefix")
		self.assertTrue(all(d["vtiger_id"].startswith(prefix) for d in emails["documents"]))
		self.assertTrue(all(d["doctype"] == "Contact" and d["name"] for d in emails["documents"]))

	def test_the_form_summarises_the_last_run(self):
		doc = frappe.get_doc(SETTING_DOCTYPE, self.connection)
		doc.run_method("onload")
		summary = doc.get_onload().run_summary
		self.assertEqual(summary["log"], self.log.name)
		self.assertFalse(summary["running"])
		self.assertTrue(summary["text"].startswith("Last run: Partial Success"))
		self.assertIn("2 failed", summary["text"])
		frappe.db.set_value(SETTING_DOCTYPE, self.connection, "status", "Running", update_modified=False)
		self.addCleanup(
			frappe.db.set_value,
			SETTING_DOCTYPE,
			self.connection,
			"status",
			"Partial Success",
			update_modified=False,
		)
		doc = frappe.get_doc(SETTING_DOCTYPE, self.connection)
		doc.run_method("onload")
		self.assertFalse(
			doc.get_onload().run_summary["running"],
			"a run that left no job and no heartbeat behind does not disable Sync Now (which closes it)",
		)
		beat(self.connection, self.log.name)
		self.addCleanup(stop_beating, self.connection)
		doc.run_method("onload")
		self.assertTrue(doc.get_onload().run_summary["running"], "Sync Now and Full Resync are disabled")

	def test_the_timeline_credits_the_sync_and_the_document_shows_its_connection(self):
		customer = self.find("Customer", self.account)
		self.assertEqual(frappe.db.get_value("Customer", customer, "vtiger_connection"), self.connection)
		version = frappe.get_last_doc("Version", filters={"ref_doctype": "Customer", "docname": customer})
		reference = json.loads(version.data)["updater_reference"]
		self.assertEqual((reference["doctype"], reference["docname"]), (LOG_DOCTYPE, self.log.name))

	def test_a_synced_document_opens_its_vtiger_record(self):
		customer = self.find("Customer", self.account)
		self.assertEqual(
			get_vtiger_url("Customer", customer),
			f"https://crm.example.com/index.php?module=Accounts&view=Detail&record={self.account}",
		)
		other = frappe.get_doc(
			{"doctype": "Customer", "customer_name": self.name("Not from VTiger")}
		).insert()
		self.assertIsNone(get_vtiger_url("Customer", other.name))

	def test_a_failed_run_notifies_the_sync_managers_once(self):
		notes = frappe.get_all(
			"Notification Log",
			filters={"document_type": LOG_DOCTYPE, "document_name": self.log.name},
			fields=["for_user", "subject"],
		)
		self.assertEqual([n.for_user for n in notes].count(self.manager), 1, notes)
		self.assertIn("Partial Success", notes[0].subject)

	def test_the_workspace_numbers(self):
		self.assertGreaterEqual(failures_last_7_days()["value"], 2)
		self.assertIsInstance(last_successful_run(), str)
		self.assertTrue(frappe.db.exists("Workspace", "VTiger"))

	def test_the_apps_screen_tile_opens_the_workspace(self):
		"""Issue 21: Frappe matches the tile's route to a workspace by name; a miss sends the tile to Home."""
		from frappe.apps import get_apps

		routes = {app["name"]: app["route"] for app in get_apps()}
		self.assertEqual(routes["vtigercrm_sync"], "/app/vtiger")

	def test_uninstall_takes_everything_of_the_app(self):
		for doctype, fields in CUSTOM_FIELDS.items():
			for field in fields:
				module = frappe.db.get_value(
					"Custom Field", {"dt": doctype, "fieldname": field["fieldname"]}, "module"
				)
				self.assertEqual(module, MODULE, f"{doctype}.{field['fieldname']} goes with the app's module")
		self.assertIn("connection(s)", uninstall_inventory())
		before_uninstall()
		self.assertFalse(frappe.db.exists("Role", MANAGER_ROLE))
		self.assertFalse(frappe.db.count("__Auth", {"doctype": SETTING_DOCTYPE}))
		frappe.db.rollback()  # the suite goes on with the app installed
		self.assertTrue(frappe.db.exists("Role", MANAGER_ROLE))


class TestStateChangingMethodsArePostOnly(FrappeAPITestCase):
	def test_get_is_refused(self):
		for method in (
			"vtigercrm_sync.form_start_sync",
			"vtigercrm_sync.form_create_tax_accounts",
			"vtigercrm_sync.form_fill_units",
			"vtigercrm_sync_log.retry_failed",
		):
			doctype_module, function = method.split(".")
			path = f"{METHODS}.{doctype_module}.{doctype_module}.{function}"
			response = self.get(f"/api/method/{path}", {"sid": self.sid, "name": "x", "log": "x"})
			self.assertEqual(response.status_code, 403, path)
