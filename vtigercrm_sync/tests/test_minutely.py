"""The *Every minute (changes only)* schedule on the real VTiger 8.2 server: the scheduler's every-minute job
(``tasks.start_changed_syncs``) starts a run only when VTiger changed something after the watermarks (saved
through its web service), writes nothing when it did not, never starts one while a run is queued or on, and with
*Only the Sync Uses This User* does not take the saves of the connection's own web service user for changes."""

from __future__ import annotations

import time

import frappe

from vtigercrm_sync.constants import LOG_DOCTYPE, SCHEDULE_CHANGES, SETTING_DOCTYPE, STATUS_QUEUED
from vtigercrm_sync.syncer.run.state import queue_connection
from vtigercrm_sync.syncer.services.webservice import VTigerWebService, WebServiceSettings
from vtigercrm_sync.tasks import start_changed_syncs
from vtigercrm_sync.tests.twoway import TwoWayTestCase
from vtigercrm_sync.tests.utils import CHECKOUT_TESTS

assert CHECKOUT_TESTS.is_dir()  # importing utils put the checkout's tests/ on sys.path

from vtiger_server import create_user


class TestEveryMinuteChangesOnly(TwoWayTestCase):
	@classmethod
	def make_connection(cls, **overrides) -> str:
		return super().make_connection(schedule=SCHEDULE_CHANGES, **overrides)

	def setUp(self):
		self.account = self.client.create(
			"Accounts",
			{
				"accountname": self.name(f"Minutely {frappe.generate_hash(length=4)}"),
				"assigned_user_id": self.client.user_id,
			},
		)["id"]
		self.sync()

	def logs(self) -> list[str]:
		frappe.db.rollback()
		return frappe.get_all(LOG_DOCTYPE, filters={"connection": self.connection}, pluck="name")

	def website(self) -> str | None:
		return frappe.db.get_value(
			"Customer", self.find("Customer", int(self.account.split("x")[1])), "website"
		)

	def test_a_check_that_finds_nothing_writes_nothing(self):
		before = self.logs()
		start_changed_syncs()
		start_changed_syncs()
		self.assertEqual(self.logs(), before)

	def test_a_save_in_vtiger_starts_a_run_that_brings_it(self):
		before = self.logs()
		self.client.revise({"id": self.account, "website": "minutely.example.org"})
		time.sleep(1.1)  # a run reads what VTiger stamped strictly before its start, to the second
		start_changed_syncs()
		new = set(self.logs()) - set(before)
		self.assertEqual(len(new), 1)
		log = frappe.get_doc(LOG_DOCTYPE, new.pop())
		self.assertEqual(log.trigger, "Schedule")
		self.assertEqual(self.website(), "minutely.example.org")
		after = self.logs()
		start_changed_syncs()  # nothing since: no second run
		self.assertEqual(self.logs(), after)

	def test_no_run_starts_while_one_is_queued(self):
		self.client.revise({"id": self.account, "website": "while-queued.example.org"})
		self.assertTrue(queue_connection(self.connection))  # the state machine's claim, as Sync Now makes it
		frappe.db.commit()
		try:
			before = self.logs()
			start_changed_syncs()
			self.assertEqual(self.logs(), before)
			self.assertEqual(frappe.db.get_value(SETTING_DOCTYPE, self.connection, "status"), STATUS_QUEUED)
		finally:
			frappe.db.set_value(SETTING_DOCTYPE, self.connection, "status", "Success")
			frappe.db.commit()
		time.sleep(1.1)
		start_changed_syncs()
		self.assertEqual(self.website(), "while-queued.example.org")

	def test_the_saves_of_the_syncs_own_user_are_not_changes(self):
		user = f"sync{self.run_id}{frappe.generate_hash(length=4)}".lower()
		user_id = create_user(self.server, user, role_id="H5", password="Sync@12345")
		key = self.vtiger_value("SELECT accesskey FROM vtiger_users WHERE id = :id", id=user_id)
		own = VTigerWebService(WebServiceSettings(self.server.url, user, key))
		frappe.db.set_value(
			SETTING_DOCTYPE, self.connection, {"vtiger_user": user, "vtiger_user_dedicated": 1}
		)
		frappe.db.commit()
		try:
			before = self.logs()
			own.revise({"id": self.account, "website": "pushed.example.org"})
			start_changed_syncs()
			self.assertEqual(self.logs(), before)

			self.client.revise({"id": self.account, "website": "edited.example.org"})  # a person's edit
			time.sleep(1.1)
			start_changed_syncs()
			self.assertEqual(len(set(self.logs()) - set(before)), 1)
			self.assertEqual(self.website(), "edited.example.org")
		finally:
			frappe.db.set_value(
				SETTING_DOCTYPE,
				self.connection,
				{"vtiger_user": self.server.username, "vtiger_user_dedicated": 0},
			)
			frappe.db.commit()

	def test_a_vtiger_that_cannot_be_checked_is_logged_once_not_every_minute(self):
		title = f"VTigerCRM Sync {self.connection} could not check VTiger for changes"
		port = frappe.db.get_value(SETTING_DOCTYPE, self.connection, "port")
		frappe.db.set_value(SETTING_DOCTYPE, self.connection, "port", 9)  # nothing listens there
		frappe.db.commit()
		try:
			before = self.logs()
			for _minute in range(3):
				start_changed_syncs()
			self.assertEqual(self.logs(), before)
			self.assertEqual(frappe.db.count("Error Log", {"method": title}), 1)
		finally:
			frappe.db.set_value(SETTING_DOCTYPE, self.connection, "port", port)
			frappe.db.commit()
			frappe.cache.delete_value(f"vtigercrm_sync_check_failing::{self.connection}")
