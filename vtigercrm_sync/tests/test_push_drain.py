"""The outbox drained as production drains it: jobs queued after the commit and run by real ``bench worker``
processes, several drains at once, rows that always fail, and a write-back backlog, against the kit's real VTiger."""

from __future__ import annotations

import json
import time

import frappe
from frappe.installer import update_site_config
from frappe.utils import now_datetime
from frappe.utils.background_jobs import get_queue
from sqlalchemy import text

from vtigercrm_sync.config.config import read_json
from vtigercrm_sync.constants import (
	LOG_DOCTYPE,
	LOG_LINE_DOCTYPE,
	OUTBOX_DOCTYPE,
	SETTING_DOCTYPE,
	STATUS_RUNNING,
)
from vtigercrm_sync.syncer.push.outbox import DRAIN_BATCH, DRAIN_METHOD, MAX_ATTEMPTS, queue_drain_job
from vtigercrm_sync.syncer.push.pusher import drain, queue_landed_writebacks
from vtigercrm_sync.tests.twoway import (
	HouseholdTestCase,
	TwoWayTestCase,
	only_creator,
)
from vtigercrm_sync.tests.utils import CHECKOUT_TESTS, kill_worker, lines_of, start_worker, wait_for

assert CHECKOUT_TESTS.is_dir()  # importing utils put the checkout's tests/ on sys.path

from vtiger_server import VTigerUI
from vtiger_writer import VTigerWriter

WAIT_SECONDS = 150
BACKLOG_FIELDS = ("name", "customer_name", "customer_type", "creation", "modified", "owner", "modified_by")
BACKLOG_FIELDS += ("vtiger_id", "vtiger_connection", "vtiger_module")


class DrainTestCase(TwoWayTestCase):
	"""Helpers: synced accounts, a backlog of write-backs, the drain jobs queued, waiting for workers."""

	def accounts(self, *names: str) -> list[tuple[int, str]]:
		"""Accounts made through the web service and pulled: (crmid, Customer) each."""
		made = [
			self.client.create(
				"Accounts", {"accountname": self.name(n), "assigned_user_id": self.client.user_id}
			)
			for n in names
		]
		self.sync()
		crmids = [self.client.crmid_of(account["id"]) for account in made]
		return [(crmid, self.find("Customer", crmid)) for crmid in crmids]

	def backlog(self, count: int) -> list[str]:
		"""``count`` Customers that landed from VTiger Accounts before the write-back was ticked, and their
		write-backs queued as ticking it queues them. The accounts are written with the exact rows VTiger writes
		(the web service would take minutes) and the Customers in one statement; both go when the test ends, so no
		later pull reads them."""
		writer = VTigerWriter(self.engine)
		crmids = [writer.create_account(self.name(f"Backlog {n}")) for n in range(count)]
		self.addCleanup(self.purge, crmids)
		prefix = frappe.db.get_value(SETTING_DOCTYPE, self.connection, "id_prefix") or ""
		now = now_datetime()
		names = [self.name(f"Backlog {n}") for n in range(count)]
		frappe.db.bulk_insert(
			"Customer",
			BACKLOG_FIELDS,
			[
				(
					name,
					name,
					"Company",
					now,
					now,
					"Administrator",
					"Administrator",
					f"{prefix}{crmid}",
					self.connection,
					"Accounts",
				)
				for name, crmid in zip(names, crmids, strict=True)
			],
		)
		self.assertGreaterEqual(queue_landed_writebacks(self.connection), count)  # and those synced before
		return names

	def start_backlog_drain(self, count: int):
		"""A worker drains a backlog of ``count`` write-backs, queued as ticking the write-back queues it."""
		self.in_background()
		worker = start_worker(self, "short")
		self.backlog(count)
		frappe.db.commit()  # the backlog's drain job is queued on commit
		self.wait_for("the drain to start", lambda: self.outbox(kind="Status", status="Sent"))
		return worker

	def purge(self, crmids: list[int]):
		with self.engine.begin() as conn:
			for table, column in (("vtiger_modtracker_basic", "crmid"), ("vtiger_crmentity", "crmid")):
				conn.execute(text(f"DELETE FROM {table} WHERE {column} IN :ids"), {"ids": tuple(crmids)})
		frappe.db.set_value(
			OUTBOX_DOCTYPE,
			{"connection": self.connection, "status": ("in", ("Pending", "Sending"))},
			"status",
			"Superseded",
		)
		frappe.db.commit()

	def in_background(self):
		"""Captures queue their drain job on commit, as outside tests; no job another run left waits."""
		get_queue("short").empty()
		frappe.flags.vtigercrm_sync_drain_in_background = True
		self.addCleanup(setattr, frappe.flags, "vtigercrm_sync_drain_in_background", False)

	def queued_drains(self) -> list[str]:
		prefix = f"{frappe.local.site}::vtigercrm_sync_push::{self.connection}"
		return [job for job in get_queue("short").get_job_ids() if job.startswith(prefix)]

	def wait_for(self, what: str, condition, timeout: float = WAIT_SECONDS):
		return wait_for(self, what, condition, timeout)

	def outbox(self, **filters) -> list:
		return frappe.get_all(
			OUTBOX_DOCTYPE,
			filters={"connection": self.connection, **filters},
			fields=["name", "kind", "status", "attempts", "log", "sent_at", "last_error", "reference_name"],
			order_by="creation asc, name asc",
		)

	def edit_website(self, customer: str, website: str):
		doc = frappe.get_doc("Customer", customer)
		doc.website = website
		doc.save()
		frappe.db.commit()

	def kill_once_written(self, doctype: str, name: str, written):
		"""Hold the lock of a document the drain writes right after its web service call, start a worker's drain,
		and SIGKILL the worker once ``written()`` (VTiger has what the call wrote) answers; returns that answer.
		The killed drain's outcome never commits."""
		frappe.db.sql(f"SELECT name FROM `tab{doctype}` WHERE name = %s FOR UPDATE", name)
		get_queue("short").empty()
		worker = start_worker(self, "short")
		frappe.enqueue(
			DRAIN_METHOD,
			queue="short",
			job_id=f"test-killed-{self.run_id}-{name}",
			connection=self.connection,
		)
		deadline = time.monotonic() + 60
		while not (found := written()):
			self.assertLess(time.monotonic(), deadline, f"VTiger was not written before {doctype} {name}")
			time.sleep(0.2)
		kill_worker(worker)
		frappe.db.rollback()  # the lock goes
		return found

	def release_stale_claims(self):
		"""A drain after the claim timeout (made 1 s) releases the claims of drains that died."""
		update_site_config("vtigercrm_sync_push_claim_seconds", 1)
		self.addCleanup(update_site_config, "vtigercrm_sync_push_claim_seconds", "None")
		time.sleep(1.1)
		return drain(self.connection)

	def make_due(self, row: str):
		"""The row's next attempt is now rather than after its wait."""
		frappe.db.set_value(OUTBOX_DOCTYPE, row, "next_attempt_at", now_datetime())
		frappe.db.commit()

	def assert_push_logs_ended(self):
		logs = frappe.get_all(
			LOG_DOCTYPE, filters={"connection": self.connection, "trigger": "Push"}, fields=["name", "status"]
		)
		self.assertTrue(logs)
		self.assertFalse([log for log in logs if log.status == STATUS_RUNNING], "every Push log ends")


class TestDrainJobs(DrainTestCase):
	"""A change captured while a drain runs is sent without the scheduler; a transaction queues one job."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.db.set_value(SETTING_DOCTYPE, cls.connection, {"push_edits": 1, "push_status": 1})
		frappe.db.commit()

	def test_several_captures_in_one_transaction_queue_one_job(self):
		synced = self.accounts("One Job A", "One Job B", "One Job C")
		drain(self.connection)  # their write-backs
		self.in_background()
		for n, (_crmid, customer) in enumerate(synced):
			doc = frappe.get_doc("Customer", customer)
			doc.website = f"one-job-{n}.example.org"
			doc.save()
		self.assertEqual(self.queued_drains(), [], "nothing is queued before the commit")
		frappe.db.commit()
		self.assertEqual(len(self.queued_drains()), 1, "three captures, one drain job")
		drain(self.connection)
		self.assertEqual({row.status for row in self.outbox(kind="Edit")}, {"Sent"})

	def test_edits_saved_while_a_drain_runs_are_all_sent_without_the_scheduler(self):
		synced = self.accounts("While A", "While B", "While C", "While D")
		drain(self.connection)
		self.start_backlog_drain(300)
		for n, (_crmid, customer) in enumerate(synced):
			still_running = self.outbox(kind="Status", status=("in", ("Pending", "Sending")))
			self.assertTrue(still_running, f"edit {n} is saved while the drain still has write-backs to send")
			self.edit_website(customer, f"while-{n}.example.org")
			time.sleep(0.7)

		self.wait_for(
			"every edit to be sent",
			lambda: {row.status for row in self.outbox(kind="Edit")} == {"Sent"},
		)
		for n, (crmid, _customer) in enumerate(synced):
			self.assertEqual(
				self.vtiger_value("SELECT website FROM vtiger_account WHERE accountid = :id", id=crmid),
				f"while-{n}.example.org",
			)
		self.wait_for(
			"the backlog to be sent", lambda: not self.outbox(status=("in", ("Pending", "Sending")))
		)
		self.wait_for("the last drain to end", lambda: not self.running_logs())
		self.assert_push_logs_ended()

	def running_logs(self) -> list:
		return frappe.get_all(
			LOG_DOCTYPE, filters={"connection": self.connection, "trigger": "Push", "status": STATUS_RUNNING}
		)


class TestConcurrentDrains(DrainTestCase):
	"""Three real workers drain the same connection at once: each row is sent once, each Account made once."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.db.set_value(SETTING_DOCTYPE, cls.connection, "push_edits", 1)
		frappe.db.commit()

	def test_three_workers_draining_at_once_create_one_account_each(self):
		only_creator(self, self.connection)
		names = [self.name(f"Parallel Ltd {n}") for n in range(6)]
		for name in names:
			frappe.get_doc(
				{"doctype": "Customer", "customer_name": name, "customer_type": "Company"}
			).insert()
		frappe.db.commit()
		self.assertEqual(len(self.outbox(kind="Create", status="Pending")), len(names))
		get_queue("short").empty()
		workers = [start_worker(self, "short") for _ in range(3)]
		for n in range(len(workers)):
			frappe.enqueue(
				"vtigercrm_sync.syncer.push.pusher.drain",
				queue="short",
				job_id=f"test-parallel-drain-{self.run_id}-{n}",
				connection=self.connection,
			)

		self.wait_for(
			"the three drains to create every account",
			lambda: not self.outbox(kind="Create", status=("in", ("Pending", "Sending"))),
		)
		rows = self.outbox(kind="Create")
		self.assertEqual({(row.status, row.attempts) for row in rows}, {("Sent", 0)}, rows)
		for name in names:
			self.assertEqual(
				self.vtiger_value(
					"SELECT COUNT(*) FROM vtiger_account a JOIN vtiger_crmentity e ON e.crmid = a.accountid "
					"WHERE a.accountname = :name AND e.deleted = 0",
					name=name,
				),
				1,
				f"one VTiger Account for {name}",
			)
			created = frappe.get_all(
				LOG_LINE_DOCTYPE,
				filters={"target_name": name, "message": ("like", "Created VTiger Account%")},
			)
			self.assertEqual(len(created), 1, f"one create call for {name}")
		self.wait_for(
			"the drains to end",
			lambda: (
				not frappe.get_all(
					LOG_DOCTYPE,
					filters={"connection": self.connection, "trigger": "Push", "status": STATUS_RUNNING},
				)
			),
		)
		self.assert_push_logs_ended()


class TestDeadDrain(DrainTestCase):
	"""A worker killed while it sends a row leaves a claim and a Running log; both are recovered."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.db.set_value(SETTING_DOCTYPE, cls.connection, "push_status", 1)
		frappe.db.commit()

	def test_a_claim_left_by_a_killed_worker_is_released_as_an_attempt_and_sent_again(self):
		stuck = self.kill_while_sending(self.start_backlog_drain(150))
		dead_log = stuck.log
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, dead_log, "status"), STATUS_RUNNING)
		drain(self.connection)  # the rest of the backlog; the claim is young, so its row is left alone
		self.assertEqual(frappe.db.get_value(OUTBOX_DOCTYPE, stuck.name, "status"), "Sending")

		self.release_stale_claims()

		row = frappe.get_doc(OUTBOX_DOCTYPE, stuck.name)
		self.assertEqual((row.status, row.attempts), ("Pending", 1), "released as a failed attempt")
		self.assertIn("stopped before it ended", row.last_error)
		dead = frappe.get_doc(LOG_DOCTYPE, dead_log)
		self.assertEqual(dead.status, "Failed")
		self.assertIn(("Retrying", stuck.reference_name), [(l.action, l.target_name) for l in lines_of(dead)])
		self.make_due(stuck.name)
		drain(self.connection)
		self.assertEqual(frappe.db.get_value(OUTBOX_DOCTYPE, stuck.name, "status"), "Sent")
		self.assertFalse(self.outbox(status=("in", ("Pending", "Sending"))))
		self.assert_push_logs_ended()

	def test_a_drain_killed_between_two_rows_has_its_log_ended_by_the_next_release(self):
		self.accounts("Between A", "Between B")  # their names' write-backs are queued as they land
		first, second = self.outbox(status="Pending")[:2]  # in the order a drain sends them

		def claiming_the_second() -> bool:  # the drain sent the first and waits for the lock this test holds
			return bool(
				self.vtiger_value(
					"SELECT COUNT(*) FROM information_schema.innodb_trx WHERE trx_state = 'LOCK WAIT' "
					"AND trx_query LIKE '%Sync Outbox%'"
				)
			)

		self.kill_once_written(OUTBOX_DOCTYPE, second.name, claiming_the_second)
		self.assertEqual(
			[row.status for row in self.outbox(name=("in", (first.name, second.name)))], ["Sent", "Pending"]
		)
		dead = frappe.db.get_value(OUTBOX_DOCTYPE, first.name, "log")
		self.assertEqual(
			frappe.db.get_value(LOG_DOCTYPE, dead, "status"), STATUS_RUNNING, "no claim to release"
		)

		self.release_stale_claims()

		dead = frappe.get_doc(LOG_DOCTYPE, dead)
		self.assertEqual(dead.status, "Failed")
		self.assertIn("stopped before it ended", dead.error_summary)
		self.assertEqual(frappe.db.get_value(OUTBOX_DOCTYPE, second.name, "status"), "Sent")
		self.assert_push_logs_ended()

	def kill_while_sending(self, worker) -> dict:
		"""SIGKILL the worker while it holds a claim; returns the row. A kill that lands between two rows (the
		worker spends most of its time in web service calls) is tried again with a new worker."""
		for _attempt in range(5):
			self.wait_for("a row being sent", lambda: self.outbox(status="Sending"))
			kill_worker(worker)
			frappe.db.rollback()  # read past wait_for's snapshot: the row may have been sent before the kill
			stuck = self.outbox(status="Sending")
			if stuck:
				return stuck[0]
			worker = start_worker(self, "short")
			queue_drain_job(self.connection)
		self.fail("no kill landed while a row was being sent")


class TestCreateSentAgain(DrainTestCase):
	"""A worker SIGKILLed after VTiger created a new Customer's Account (or its Contact), before ERPNext linked it:
	the row is sent again and links what the killed attempt made. VTiger's duplicate prevention is off for
	Accounts, as an install may have it (Contacts have none in the kit), so nothing in VTiger refuses a second."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.db.set_value(SETTING_DOCTYPE, cls.connection, "push_edits", 1)
		frappe.db.commit()

	def setUp(self):
		only_creator(self, self.connection)
		unique = [
			row["fieldid"]
			for row in self.vtiger_rows(
				"SELECT f.fieldid FROM vtiger_field f JOIN vtiger_tab t ON t.tabid = f.tabid "
				"WHERE t.name = 'Accounts' AND f.isunique = 1"
			)
		]
		ui = VTigerUI(self.server)
		ui.duplicate_prevention("Accounts", False, unique)
		self.addCleanup(ui.duplicate_prevention, "Accounts", True, unique)

	def test_a_create_killed_after_vtiger_made_the_account_links_it_when_sent_again(self):
		customer, crmid = self.kill_after_vtiger_made("Customer")
		self.assertFalse(self.contacts_of(crmid), "killed before the Contact was made")
		lines = self.send_again(customer)
		self.assert_linked_once(customer)
		self.assertIn("made by an earlier attempt", lines[0])
		self.assertTrue(lines[1].startswith("Created VTiger Contact"), lines)

	def test_a_create_killed_after_vtiger_made_the_contact_links_both_when_sent_again(self):
		customer, crmid = self.kill_after_vtiger_made("Contact")
		self.assertEqual(len(self.contacts_of(crmid)), 1)
		lines = self.send_again(customer)
		self.assert_linked_once(customer)
		self.assertEqual(["made by an earlier attempt" in line for line in lines], [True, True], lines)

	def kill_after_vtiger_made(self, held: str) -> tuple[str, int]:
		"""A new Customer whose drain runs in a worker while this test holds the lock of the ``held`` document
		(the Customer, or its Contact), which the drain writes right after VTiger's create returns: the worker
		is SIGKILLed once VTiger has the record. Returns the Customer and the Account's crmid."""
		doc = frappe.get_doc(
			{
				"doctype": "Customer",
				"customer_name": self.name(f"Zabity {held} Sp"),
				"customer_type": "Company",
				"website": "zabity.example.org",
				"first_name": "Kasia",
				"last_name": "Zabita",
				"email_id": f"kasia.{held.lower()}.{self.run_id}@example.org",
			}
		).insert()
		frappe.db.commit()
		name = doc.name if held == "Customer" else doc.customer_primary_contact

		def made() -> list[int]:
			accounts = self.accounts_named(doc.customer_name)
			return accounts if held == "Customer" or (accounts and self.contacts_of(accounts[0])) else []

		accounts = self.kill_once_written(held, name, made)
		[row] = self.outbox(kind="Create", reference_name=doc.name)
		self.assertEqual(row.status, "Sending", "killed while it held the claim")
		self.assertFalse(frappe.db.get_value("Customer", doc.name, "vtiger_id"))
		return doc.name, accounts[0]

	def send_again(self, customer: str) -> list[str]:
		"""The Customer is edited meanwhile (which queues nothing: it is not linked yet); the claim is released and
		the row sent again. Returns the resend's log messages."""
		doc = frappe.get_doc("Customer", customer)
		doc.website = "zabity-2.example.org"
		doc.save()
		frappe.db.commit()
		self.release_stale_claims()
		[row] = self.outbox(kind="Create", reference_name=customer)
		self.assertEqual((row.status, row.attempts), ("Pending", 1), "released as a failed attempt")
		self.make_due(row.name)
		log = drain(self.connection)
		row = frappe.get_doc(OUTBOX_DOCTYPE, row.name)
		self.assertEqual(row.status, "Sent", row.last_error)
		return [line.message for line in lines_of(log)]

	def assert_linked_once(self, customer: str):
		doc = frappe.get_doc("Customer", customer)
		accounts = self.accounts_named(doc.customer_name)
		self.assertEqual(len(accounts), 1, "one VTiger Account for the Customer")
		self.assertEqual(int(doc.vtiger_id.rpartition("/")[2]), accounts[0])
		self.assertEqual(
			self.vtiger_value("SELECT website FROM vtiger_account WHERE accountid = :id", id=accounts[0]),
			"zabity-2.example.org",
			"the Account has what the Customer was edited to since",
		)
		contacts = self.contacts_of(accounts[0])
		self.assertEqual(len(contacts), 1, "one VTiger Contact for the Customer")
		contact = frappe.db.get_value("Contact", doc.customer_primary_contact, "vtiger_id")
		self.assertEqual(int(contact.rpartition("/")[2]), contacts[0])

	def accounts_named(self, name: str) -> list[int]:
		return [
			row["accountid"]
			for row in self.vtiger_rows(
				"SELECT a.accountid FROM vtiger_account a JOIN vtiger_crmentity e ON e.crmid = a.accountid "
				"WHERE a.accountname = :name AND e.deleted = 0 ORDER BY a.accountid",
				name=name,
			)
		]

	def contacts_of(self, account: int) -> list[int]:
		return [
			row["contactid"]
			for row in self.vtiger_rows(
				"SELECT c.contactid FROM vtiger_contactdetails c JOIN vtiger_crmentity e ON e.crmid = c.contactid "
				"WHERE c.accountid = :id AND e.deleted = 0 ORDER BY c.contactid",
				id=account,
			)
		]


class TestEditSentAgain(DrainTestCase):
	"""A worker SIGKILLed after VTiger took an edit, before ERPNext recorded it: the edit sent again finds VTiger
	already holding ERPNext's value, which is no conflict under any rule, and the next pulls write nothing."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.db.set_value(
			SETTING_DOCTYPE, cls.connection, {"push_edits": 1, "conflict_rule": "VTiger wins"}
		)
		frappe.db.commit()

	def test_an_edit_killed_after_vtiger_took_it_is_sent_again_without_a_conflict(self):
		[(crmid, customer)] = self.accounts("Resent Co")
		doc = frappe.get_doc("Customer", customer)
		doc.website = "resent.example.org"
		doc.save()
		frappe.db.commit()

		self.kill_once_written("Customer", customer, lambda: self.website(crmid) == "resent.example.org")
		[row] = self.outbox(kind="Edit", reference_name=customer)
		self.assertEqual(row.status, "Sending", "killed while it held the claim")
		self.release_stale_claims()
		self.make_due(row.name)
		log = drain(self.connection)

		self.assertEqual(
			[(line.action, line.message) for line in lines_of(log)],
			[("Pushed", "VTiger already had ERPNext's values")],
		)
		self.assertEqual(frappe.db.get_value(OUTBOX_DOCTYPE, row.name, ["status", "attempts"]), ("Sent", 1))
		self.assertEqual(self.website(crmid), "resent.example.org")
		for run in range(2):
			pulled = self.sync()
			self.assertFalse(
				pulled.updated or pulled.failed, (run, [(l.action, l.message) for l in lines_of(pulled)])
			)
		self.assertEqual(frappe.db.get_value("Customer", customer, "website"), "resent.example.org")

		doc = frappe.get_doc("Customer", customer)  # the next edit is judged against the value sent
		doc.website = "resent-2.example.org"
		doc.save()
		frappe.db.commit()
		self.assertEqual([line.action for line in lines_of(drain(self.connection))], ["Pushed"])
		self.assertEqual(self.website(crmid), "resent-2.example.org")

	def website(self, crmid: int) -> str:
		return self.vtiger_value("SELECT website FROM vtiger_account WHERE accountid = :id", id=crmid)


class PoisonTestCase(DrainTestCase):
	def drain_until_given_up(self, poison: str) -> list[str]:
		"""Drain while the poison row has attempts left, making it due each time; returns the Push logs."""
		logs = []
		for _attempt in range(MAX_ATTEMPTS):
			logs.append(drain(self.connection))
			frappe.db.set_value(OUTBOX_DOCTYPE, poison, "next_attempt_at", now_datetime())
			frappe.db.commit()
		return logs

	def assert_fails_alone(self, poison: str, reason: str, logs: list[str]):
		row = frappe.get_doc(OUTBOX_DOCTYPE, poison)
		self.assertEqual((row.status, row.attempts), ("Failed", MAX_ATTEMPTS))
		self.assertIn(reason, row.last_error)
		first = frappe.get_doc(LOG_DOCTYPE, logs[0])
		self.assertEqual(first.status, "Partial Success", [(l.action, l.message) for l in lines_of(first)])
		self.assertEqual([line.action for line in lines_of(first)], ["Retrying", "Pushed"])
		self.assertIn(reason, lines_of(first)[0].message)
		last = frappe.get_doc(LOG_DOCTYPE, logs[-1])
		self.assertEqual((last.status, [line.action for line in lines_of(last)]), ("Failed", ["Failed"]))
		self.assert_push_logs_ended()


class TestPoisonCreate(HouseholdTestCase, PoisonTestCase):
	"""A Create row on a connection whose customers do not come from VTiger Accounts (the insurance shape)."""

	def test_a_create_row_fails_alone_and_the_edit_behind_it_is_sent(self):
		crmid, columns, _values = self.policy("Poison Household")

		only_creator(self, self.connection)
		frappe.get_doc(
			{"doctype": "Customer", "customer_name": self.name("Nova Família"), "customer_type": "Company"}
		).insert()
		dependent = frappe.get_doc("Contact", self.find("Contact", f"{crmid}:dependent-1"))
		dependent.first_name = "Bianca"
		dependent.save()
		frappe.db.commit()
		[poison, edit] = self.outbox(status="Pending")
		self.assertEqual((poison.kind, edit.kind), ("Create", "Edit"))

		logs = self.drain_until_given_up(poison.name)

		self.assert_fails_alone(poison.name, "The mapping writes no Customer from VTiger Accounts", logs)
		self.assertEqual(frappe.db.get_value(OUTBOX_DOCTYPE, edit.name, "status"), "Sent")
		self.assertEqual(
			self.vtiger_value(
				f"SELECT {columns['HH Dep 1 First']} FROM vtiger_salesordercf WHERE salesorderid = :id",
				id=crmid,
			),
			"Bianca",
		)


class TestPoisonEdit(PoisonTestCase):
	"""An edit of a field the mapping stopped pushing after the edit was captured."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.db.set_value(SETTING_DOCTYPE, cls.connection, "push_edits", 1)
		frappe.db.commit()

	def test_an_edit_of_a_field_no_longer_pushed_fails_alone_and_the_rows_behind_it_are_sent(self):
		[(_crmid, first), (second_crmid, second)] = self.accounts("Unpushed Co", "Renamed Co")
		self.edit_website(first, "unpushed.example.org")
		renamed = frappe.get_doc("Customer", second)
		renamed.customer_name = self.name("Renamed Çompany")
		renamed.save()
		frappe.db.commit()
		[poison, edit] = self.outbox(status="Pending")
		self.assertEqual((poison.reference_name, edit.reference_name), (first, second))

		mapping = read_json("salesorder.json")
		del mapping["entities"]["customer"]["fields"]["website"]["push"]
		doc = frappe.get_doc(SETTING_DOCTYPE, self.connection)
		doc.update({"mapping_preset": "custom", "custom_mapping": json.dumps(mapping)})
		doc.save(ignore_permissions=True)
		frappe.db.commit()

		logs = self.drain_until_given_up(poison.name)

		self.assert_fails_alone(poison.name, "The mapping no longer pushes website", logs)
		self.assertEqual(frappe.db.get_value(OUTBOX_DOCTYPE, edit.name, "status"), "Sent")
		# given up, the edit no longer holds: the next pull reads the record again, though VTiger did not change it
		self.assertEqual(frappe.db.get_value(OUTBOX_DOCTYPE, poison.name, "read_again"), 1)
		self.sync()
		self.assertFalse(frappe.db.get_value("Customer", first, "website"), "VTiger's (empty) website")
		self.assertEqual(frappe.db.get_value(OUTBOX_DOCTYPE, poison.name, "read_again"), 0)
		self.assertEqual(
			self.vtiger_value(
				"SELECT accountname FROM vtiger_account WHERE accountid = :id", id=second_crmid
			),
			self.name("Renamed Çompany"),
		)


class TestWriteBackBacklog(DrainTestCase):
	"""Ticking the write-back on a connection with thousands of records must not hold back users' edits."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		frappe.db.set_value(SETTING_DOCTYPE, cls.connection, {"push_edits": 1, "push_status": 1})
		frappe.db.commit()

	def test_two_thousand_write_backs_do_not_delay_a_later_edit_by_more_than_one_drain(self):
		[(crmid, customer)] = self.accounts("Urgent Co")
		drain(self.connection)
		self.start_backlog_drain(2000)
		running = frappe.db.get_value(
			LOG_DOCTYPE, {"connection": self.connection, "trigger": "Push", "status": STATUS_RUNNING}
		)
		self.edit_website(customer, "urgent.example.org")
		saved = now_datetime()

		edit = self.wait_for(
			"the edit to be sent", lambda: [row for row in self.outbox(kind="Edit") if row.status == "Sent"]
		)[0]
		self.assertEqual(
			self.vtiger_value("SELECT website FROM vtiger_account WHERE accountid = :id", id=crmid),
			"urgent.example.org",
		)
		self.assertIn(
			edit.log, {running, *self.logs_started_after(saved)}, "sent by the drain running, or the next"
		)
		behind = frappe.db.count(
			OUTBOX_DOCTYPE,
			{"connection": self.connection, "kind": "Status", "sent_at": ("between", (saved, edit.sent_at))},
		)
		self.assertLessEqual(behind, DRAIN_BATCH, "the edit waited one batch of write-backs at most")
		self.assertTrue(
			self.outbox(kind="Status", status=("in", ("Pending", "Sending"))),
			"the edit went before the rest of the backlog",
		)

	def logs_started_after(self, when) -> list[str]:
		return frappe.get_all(
			LOG_DOCTYPE,
			filters={"connection": self.connection, "trigger": "Push", "started_at": (">=", when)},
			pluck="name",
		)
