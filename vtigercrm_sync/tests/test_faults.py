"""Runs survive real faults: a time-out, a killed worker, a killed VTiger connection, held locks, competing jobs,
a form saved mid-run, and a VTiger clock in another time zone.

Every fault here is the real thing, injected from outside the code under test: RQ's own SIGALRM death penalty, a
``bench worker`` process killed with SIGKILL, ``KILL CONNECTION`` from a second MariaDB session, row locks and named
locks held by other sessions. Afterwards each test checks documents, watermarks, statuses and log lines, and that a
re-run completes with no duplicate and no missing document.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import frappe
import pymysql
from frappe.installer import update_site_config
from rq.timeouts import JobTimeoutException, UnixSignalDeathPenalty
from sqlalchemy import text

from vtigercrm_sync.constants import CHUNK_DOCTYPE, LOG_DOCTYPE, SETTING_DOCTYPE
from vtigercrm_sync.syncer.run.job import retry_records
from vtigercrm_sync.syncer.run.state import RunRefused, prefix_lock
from vtigercrm_sync.syncer.services.query import Watermark
from vtigercrm_sync.tests.utils import (
	DATABASE,
	Held,
	Session,
	VTigerSyncTestCase,
	chunks_of,
	kill_worker,
	lines_of,
	start_worker,
)

ORDERS = 100
ACCOUNTS = 10


class TestFaults(VTigerSyncTestCase):
	database = DATABASE + "_faults"  # one per checkout: VTIGER_FRAPPE_TEST_DB

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		w = cls.writer
		cls.product = w.create_product(cls.name("Fault widget"), unit_price=10, at=cls.tick())
		cls.service = w.create_service(cls.name("Fault service"), unit_price=20, at=cls.tick())
		cls.accounts = [
			w.create_account(
				cls.name(f"Fault Co {n}"), bill={"street": f"{n} Main St", "city": "Łódź"}, at=cls.tick()
			)
			for n in range(ACCOUNTS)
		]
		cls.contacts = [
			w.create_contact(f"Kontakt {n}", firstname="Zoë", account_id=account, at=cls.tick())
			for n, account in enumerate(cls.accounts)
		]
		cls.orders = [
			w.create_sales_order(
				cls.name(f"Fault order {n}"),
				account_id=cls.accounts[n % ACCOUNTS],
				contact_id=cls.contacts[n % ACCOUNTS],
				lines=[
					{"productid": cls.product, "quantity": 1 + n % 3, "listprice": 10, "tax1": 4.5},
					{"productid": cls.service, "quantity": 1, "listprice": 20, "tax1": 4.5},
				],
				at=cls.tick(),
			)
			for n in range(ORDERS)
		]

	def fresh_connection(self, label: str) -> str:
		"""A connection of its own (its own id prefix), reading the whole VTiger database from the start."""
		return self.make_connection(title=f"{label} {self.run_id}", batch_size=20)

	def order_counts(self, connection: str) -> dict[int, int]:
		"""crmid -> how many Sales Orders carry it, for every VTiger order."""
		prefix = frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix")
		counts = {order: 0 for order in self.orders}
		for vtiger_id in frappe.get_all(
			"Sales Order", filters={"vtiger_id": ("like", f"{prefix}%")}, pluck="vtiger_id"
		):
			crmid = int(vtiger_id.removeprefix(prefix))
			if crmid in counts:
				counts[crmid] += 1
		return counts

	def assert_watermark_is_what_was_committed(self, connection: str):
		"""Every order up to the stream's watermark is in ERPNext; the watermark never passed one that is not."""
		watermark = Watermark.parse(
			frappe.db.get_value(SETTING_DOCTYPE, connection, "watermark_sales_orders")
		)
		counts = self.order_counts(connection)
		with self.engine.connect() as conn:
			keys = conn.execute(
				text("SELECT crmid, modifiedtime FROM vtiger_crmentity WHERE setype = 'SalesOrder'")
			).all()
		behind = [
			crmid
			for crmid, modified in keys
			if crmid in counts and watermark and Watermark(modified, crmid) <= watermark and not counts[crmid]
		]
		self.assertEqual(behind, [], "the watermark passed orders that were not committed")
		return watermark

	def order_chunk_after_a_commit(self, holder: Held, connection: str, prefix: str) -> str | None:
		"""The connection's running order chunk, row-locked in ``holder``'s transaction, once some of its orders
		are committed; else None (and nothing held)."""
		holder.db.rollback()
		(landed,) = holder.sql("SELECT COUNT(*) FROM `tabSales Order` WHERE vtiger_id LIKE %s", f"{prefix}%")
		if not landed[0]:
			return None
		rows = holder.sql(
			f"SELECT c.name FROM `tab{CHUNK_DOCTYPE}` c JOIN `tab{LOG_DOCTYPE}` l ON l.name = c.log "
			"WHERE l.connection = %s AND c.module = 'SalesOrder' AND c.status = 'Running' FOR UPDATE",
			connection,
		)
		return rows[0][0] if rows else None

	def waits_to_update(self, doctype: str, holder: Held) -> bool:
		"""Whether another session of the site updates a row of ``doctype`` while ``holder`` holds it: the
		statement stays in the server's process list until the lock is released."""
		return bool(
			self.vtiger_value(
				"SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = :db AND ID != :holder "
				"AND STATE = 'Updating' AND INFO LIKE :statement",
				db=holder.database,
				holder=holder.thread_id,
				statement=f"UPDATE `tab{doctype}` %",
			)
		)

	def assert_complete(self, connection: str):
		counts = self.order_counts(connection)
		self.assertEqual(
			{crmid: n for crmid, n in counts.items() if n != 1}, {}, "every order exactly once, none missing"
		)

	def test_a_real_time_out_ends_the_run_timed_out_at_the_last_commit(self):
		"""RQ's death penalty strikes while the run is held mid-stage: another session holds its order chunk's row
		after the chunk's first group committed, so the next group waits there when the job's time is up."""
		connection = self.fresh_connection("Time-out")
		prefix = frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix")
		holder, job = Held(), threading.main_thread().ident
		self.addCleanup(holder.close)

		def strike_while_held():
			deadline = time.monotonic() + 120
			try:
				while not (chunk := self.order_chunk_after_a_commit(holder, connection, prefix)):
					self.assertLess(time.monotonic(), deadline, "no order chunk committed a group")
					time.sleep(0.05)
				while not self.waits_to_update(CHUNK_DOCTYPE, holder):
					self.assertLess(time.monotonic(), deadline, f"the run's next group never needed {chunk}")
					time.sleep(0.05)
				signal.pthread_kill(job, signal.SIGALRM)  # the job's time is up: what RQ's timer sends
			finally:
				holder.db.rollback()

		striker = Session(strike_while_held)
		try:
			with UnixSignalDeathPenalty(600, JobTimeoutException, job_id="vtigercrm-sync-test"):
				log = self.sync(connection=connection)
		finally:
			striker.outcome()
		self.assertEqual(log.status, "Timed Out", log.error_summary)
		self.assertIn("time limit", log.error_summary)
		self.assertFalse(log.ended_at is None)
		self.assertEqual(frappe.db.get_value(SETTING_DOCTYPE, connection, "status"), "Timed Out")
		self.assert_watermark_is_what_was_committed(connection)
		landed = sum(self.order_counts(connection).values())
		self.assertLess(landed, ORDERS, "the run was cut short")

		again = self.sync(connection=connection)
		self.assertEqual(again.status, "Success", again.error_summary)
		self.assert_complete(connection)

	def test_a_killed_worker_s_chunk_is_run_again_and_the_run_completes(self):
		connection = self.fresh_connection("Killed worker")
		update_site_config("vtigercrm_sync_heartbeat_seconds", 3)
		self.addCleanup(update_site_config, "vtigercrm_sync_heartbeat_seconds", "None")
		worker = start_worker(self, "long")
		frappe.get_doc(SETTING_DOCTYPE, connection).queue_run("Button", False, "Administrator")
		frappe.db.commit()  # the job is queued on commit, for a real worker
		deadline = time.monotonic() + 120
		while sum(self.order_counts(connection).values()) < 15:
			self.assertLess(time.monotonic(), deadline, "the worker did not get far enough")
			time.sleep(0.5)
			frappe.db.rollback()  # see the worker's commits
		kill_worker(worker)
		frappe.db.rollback()
		dead_log = frappe.db.get_value(SETTING_DOCTYPE, connection, "last_log")
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, dead_log, "status"), "Running")
		time.sleep(4)  # the heartbeat runs out

		killed = chunks_of(dead_log, ["name", "done_key"], status="Running")
		self.assertEqual(len(killed), 1, "the killed chunk is left Running")
		self.assert_watermark_is_what_was_committed(connection)

		left = frappe.db.get_value(LOG_DOCTYPE, dead_log, "total_records") - sum(
			chunk.records_read for chunk in chunks_of(dead_log, ["records_read"])
		)
		answer = frappe.get_doc(SETTING_DOCTYPE, connection).start_sync()  # Sync Now: runs inline under test
		self.assertEqual(
			(answer["status"], answer["log"], answer["left"]), ("resumed", dead_log, left), answer
		)
		self.assertIn(
			f"{left} record(s) left", answer["message"], "Sync Now says it resumed the run, and what is left"
		)
		self.assertIn(dead_log, answer["message"])
		dead = frappe.get_doc(LOG_DOCTYPE, dead_log)
		self.assertEqual(dead.status, "Success", dead.error_summary)
		self.assertTrue(dead.ended_at)
		chunk = frappe.get_doc(CHUNK_DOCTYPE, killed[0].name)
		self.assertEqual((chunk.status, chunk.attempts), ("Done", 2), "the killed chunk ran again, once")
		self.assertEqual(dead.records_read, dead.total_records, "each record of the window counted once")
		self.assertEqual(frappe.db.get_value(SETTING_DOCTYPE, connection, "last_log"), dead_log)
		new_log = self.sync(connection=connection)
		self.assertNotEqual(new_log.name, dead_log)
		self.assertEqual(new_log.status, "Success", new_log.error_summary)
		self.assertEqual(new_log.created, 0)
		self.assert_complete(connection)

	def test_a_killed_vtiger_connection_fails_with_the_reason_and_the_rerun_completes(self):
		connection = self.fresh_connection("Killed connection")
		database = self.url.database

		def killer():
			server = pymysql.connect(
				host=self.url.host,
				port=self.url.port or 3306,
				user=self.url.username,
				password=self.url.password or "",
				autocommit=True,
			)
			try:
				deadline = time.monotonic() + 60
				while time.monotonic() < deadline and not frappe.db.get_value(
					SETTING_DOCTYPE, connection, "watermark_sales_orders"
				):
					time.sleep(0.2)
					frappe.db.rollback()
				killed = 0
				stop = time.monotonic() + 3
				with server.cursor() as cursor:
					while time.monotonic() < stop:
						cursor.execute(
							"SELECT id FROM information_schema.processlist WHERE db = %s AND id <> CONNECTION_ID()",
							(database,),
						)
						for (thread_id,) in cursor.fetchall():
							try:
								cursor.execute(f"KILL CONNECTION {int(thread_id)}")
								killed += 1
							except pymysql.MySQLError:
								pass
						time.sleep(0.05)
				return killed
			finally:
				server.close()

		session = Session(killer)
		log = self.sync(connection=connection)
		self.assertGreater(session.outcome(), 0, "the VTiger connection was killed")
		self.engine.dispose()
		self.assertIn(log.status, ("Success", "Partial Success", "Failed"))
		if log.status == "Failed":
			self.assertIn("VTiger", log.error_summary)
		self.assert_watermark_is_what_was_committed(connection)
		again = self.sync(connection=connection)
		self.assertEqual(again.status, "Success", again.error_summary)
		self.assert_complete(connection)

	def test_a_locked_customer_waits_and_the_desk_keeps_working(self):
		connection = self.fresh_connection("Locked")
		self.assertEqual(self.sync(connection=connection).status, "Success")
		prefix = frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix")
		account = self.accounts[0]
		customer = frappe.db.get_value("Customer", {"vtiger_id": f"{prefix}{account}"})
		self.writer.update(account, at=self.tick(), accountname=self.name("Fault Co renamed"))
		new_orders = [
			self.writer.create_sales_order(
				self.name(f"During the lock {n}"),
				account_id=self.accounts[1],
				lines=[{"productid": self.product, "quantity": 1, "listprice": 10}],
				at=self.tick(),
			)
			for n in range(3)
		]
		released = threading.Event()

		def desk_user_holds_the_customer():
			frappe.db.sql("SELECT name FROM `tabCustomer` WHERE name = %s FOR UPDATE", customer)
			time.sleep(6)
			released.set()

		def desk_user_creates_an_order():
			time.sleep(2)
			started = time.monotonic()
			so = frappe.get_doc(
				{
					"doctype": "Sales Order",
					"customer": frappe.db.get_value("Customer", {"vtiger_id": f"{prefix}{self.accounts[2]}"}),
					"company": self.company,
					"transaction_date": "2025-06-01",
					"delivery_date": "2025-06-10",
					"items": [
						{
							"item_code": frappe.db.get_value(
								"Item", {"vtiger_id": f"{prefix}{self.product}"}
							),
							"qty": 1,
							"rate": 5,
						}
					],
				}
			).insert(ignore_permissions=True)
			frappe.db.commit()
			return so.name, time.monotonic() - started

		holder = Session(desk_user_holds_the_customer)
		time.sleep(0.5)
		creator = Session(desk_user_creates_an_order)
		log = self.sync(connection=connection)
		holder.outcome()
		name, seconds = creator.outcome()
		self.assertTrue(frappe.db.exists("Sales Order", name))
		self.assertLess(seconds, 5, "a desk user's order waited on the run")
		self.assertTrue(released.is_set())
		self.assertEqual(log.failed, 0, [(l.action, l.message) for l in lines_of(log)])
		self.assertEqual(
			frappe.db.get_value("Customer", customer, "customer_name"), self.name("Fault Co renamed")
		)
		for order in new_orders:
			self.assertTrue(frappe.db.exists("Sales Order", {"vtiger_id": f"{prefix}{order}"}))

	def test_a_record_whose_planning_raises_fails_alone_and_the_run_goes_on(self):
		connection = self.fresh_connection("Unplannable")
		self.configure_chunks(25)
		broken = self.writer.create_sales_order(
			self.name("Malformed charges"),
			account_id=self.accounts[4],
			lines=[{"productid": self.product, "quantity": 1, "listprice": 10}],
			at=self.tick(),
		)
		later = self.writer.create_account(self.name("Saved after the broken order"), at=self.tick())
		self.addCleanup(self.delete_in_vtiger, broken)
		with self.engine.begin() as conn:  # a charge that is a bare amount, not {"value": …, "taxes": …}
			conn.execute(
				text("UPDATE vtiger_inventorychargesrel SET charges = :c WHERE recordid = :id"),
				{"c": '{"1":"10.00"}', "id": broken},
			)
		log = self.sync(connection=connection)
		failed = [(line.vtiger_record, line.message) for line in lines_of(log) if line.action == "Failed"]
		self.assertEqual([record for record, _message in failed], [broken], failed)
		self.assertIn("Could not be planned", failed[0][1])
		self.assertEqual((log.status, log.failed), ("Partial Success", 1), log.error_summary)
		self.assertEqual(log.records_read, log.total_records)
		self.assertTrue(self.find("Customer", later, connection), "the stream after it still ran")
		self.assertIsNone(self.find("Sales Order", broken, connection))
		self.assert_complete(connection)
		again = self.sync(connection=connection)
		self.assertNotEqual(again.status, "Failed", "the record does not stop the next run either")

	def test_a_lock_on_another_chunk_s_row_never_stops_a_chunk_s_commits(self):
		"""A group commit touches its own chunk row only: another session (or chunk) holding a lock on a
		sibling chunk's row does not make it wait, time out or deadlock (a log total summed by a cross-row
		subquery on every commit did)."""
		connection = self.fresh_connection("Sibling lock")
		self.configure_chunks(20)
		holding = threading.Event()

		def hold_the_accounts_chunk():
			deadline = time.monotonic() + 60
			while True:
				frappe.db.rollback()
				log = frappe.db.get_value(SETTING_DOCTYPE, connection, "last_log")
				rows = log and chunks_of(log, ["name", "module"])
				if rows and any(row.module == "SalesOrder" for row in rows):
					break
				self.assertLess(time.monotonic(), deadline, "the run reached no order chunk")
				time.sleep(0.05)
			frappe.db.sql(f"SELECT name FROM `tab{CHUNK_DOCTYPE}` WHERE name = %s FOR UPDATE", rows[0].name)
			holding.set()
			time.sleep(8)  # longer than the run's lock wait (3 s), while the order chunks commit

		holder = Session(hold_the_accounts_chunk)
		log = self.sync(connection=connection)
		holder.outcome()
		self.assertTrue(holding.is_set(), "the chunk row was held while orders were written")
		self.assertEqual(log.status, "Success", log.error_summary)
		self.assertEqual((log.failed, log.records_read), (0, log.total_records))
		self.assertEqual({chunk.attempts for chunk in chunks_of(log)}, {1})
		self.assert_complete(connection)

	def delete_in_vtiger(self, crmid: int) -> None:
		"""Gone for the tests after this one, which expect no failure."""
		with self.engine.begin() as conn:
			conn.execute(text("UPDATE vtiger_crmentity SET deleted = 1 WHERE crmid = :id"), {"id": crmid})

	def configure_chunks(self, records: int) -> None:
		update_site_config("vtigercrm_sync_chunk_records", records)
		self.addCleanup(update_site_config, "vtigercrm_sync_chunk_records", "None")

	def test_a_retry_while_another_job_writes_the_same_documents_is_refused(self):
		connection = self.fresh_connection("Competing")
		broken = self.writer.create_sales_order(
			self.name("Broken for retry"),
			account_id=self.accounts[3],
			lines=[{"productid": self.product, "quantity": 1, "listprice": 10}],
			at=self.tick(),
		)
		with self.engine.begin() as conn:
			conn.execute(
				text("UPDATE vtiger_inventoryproductrel SET productid = 1 WHERE id = :id"), {"id": broken}
			)
		log = self.sync(connection=connection)
		self.assertIn(broken, [line.vtiger_record for line in lines_of(log) if line.action == "Failed"])
		with self.engine.begin() as conn:
			conn.execute(
				text("UPDATE vtiger_inventoryproductrel SET productid = :p WHERE id = :id"),
				{"p": self.product, "id": broken},
			)
		prefix = frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix")
		holding = threading.Event()

		def scheduled_run_holds_the_prefix():
			with prefix_lock(prefix, "VTSL-scheduled"):
				holding.set()
				time.sleep(8)

		other = Session(scheduled_run_holds_the_prefix)
		self.assertTrue(holding.wait(30))
		state = frappe.db.get_value(SETTING_DOCTYPE, connection, ["status", "last_log", "last_run_at"])
		with self.assertRaisesRegex(
			RunRefused, "VTSL-scheduled is writing the documents of VTiger ID prefix"
		):
			retry_records(connection, log.failed_records(), log.name, "Administrator")
		self.assertFalse(
			frappe.db.exists(LOG_DOCTYPE, {"retry_of": log.name}), "a refused retry creates no log"
		)
		self.assertEqual(
			frappe.db.get_value(SETTING_DOCTYPE, connection, ["status", "last_log", "last_run_at"]),
			state,
			"a refused retry leaves the connection as it was",
		)
		self.assertIsNone(self.find("Sales Order", broken, connection))
		other.outcome()
		self.assertEqual(
			retry_records(connection, log.failed_records(), log.name, "Administrator"), "Success"
		)
		self.assertTrue(self.find("Sales Order", broken, connection))

	def test_a_form_saved_during_a_run_keeps_the_runs_watermarks(self):
		connection = self.fresh_connection("Saved form")
		opened = frappe.get_doc(SETTING_DOCTYPE, connection)  # the form, opened before the run

		def save_the_form_mid_run():
			deadline = time.monotonic() + 60
			while not frappe.db.get_value(SETTING_DOCTYPE, connection, "watermark_sales_orders"):
				self.assertLess(time.monotonic(), deadline)
				time.sleep(0.2)
				frappe.db.rollback()
			form = frappe.get_doc(opened.as_dict())  # the stale copy: no watermarks, status Never Run
			form.delivery_days = 9
			form.save(ignore_permissions=True)
			return frappe.db.get_value(SETTING_DOCTYPE, connection, "watermark_sales_orders")

		saver = Session(save_the_form_mid_run)
		log = self.sync(connection=connection)
		self.assertTrue(saver.outcome(), "the form was saved while the run had committed a watermark")
		frappe.db.rollback()  # the saver may commit after this session's last commit: read past its snapshot
		doc = frappe.get_doc(SETTING_DOCTYPE, connection)
		self.assertEqual(doc.delivery_days, 9, "the form's own change is kept")
		self.assertEqual(doc.status, "Success")
		self.assertEqual(doc.last_log, log.name)
		after = frappe.parse_json(log.watermark_after)
		self.assertEqual(doc.watermark_sales_orders, after["SalesOrder"])
		self.assertEqual(doc.watermark_accounts, after["Accounts"])
		self.assert_complete(connection)

	def test_a_vtiger_clock_in_another_time_zone_loses_and_delays_nothing(self):
		zone = "Pacific/Kiritimati"  # UTC+14: VTiger's clock runs ahead of the database's
		ahead = self.fresh_connection("Clock ahead")
		frappe.db.set_value(SETTING_DOCTYPE, ahead, "vtiger_time_zone", zone)
		naive = self.fresh_connection("Clock naive")
		self.sync(connection=ahead)
		self.sync(connection=naive)
		vtiger_now = datetime.now(timezone.utc).astimezone(ZoneInfo(zone)).replace(tzinfo=None, microsecond=0)
		fresh = self.writer.create_account(
			self.name("Saved just now in VTiger"), at=vtiger_now - timedelta(seconds=2)
		)
		log = self.sync(connection=ahead)
		self.assertTrue(self.find("Customer", fresh, ahead), [(l.action, l.message) for l in lines_of(log)])
		self.sync(connection=naive)
		self.assertIsNone(
			self.find("Customer", fresh, naive),
			"without the time zone, a record VTiger just saved waits 14 hours",
		)
