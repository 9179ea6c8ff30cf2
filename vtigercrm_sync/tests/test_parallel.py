"""A run spread over real ``bench worker`` processes writes what a serial run writes.

Two workers consume the app's queue; a chunk's worker is killed mid-stage with SIGKILL; orders of one account and
one product are spread over many chunks, so chunks race to create the same customer and item. A second
connection (its own id prefix) syncs the same VTiger data serially, in this process, as a bench with one worker
would, and both must end with the same documents and totals.
"""

from __future__ import annotations

import os
import threading
import time

import frappe
from frappe.installer import update_site_config
from frappe.utils.background_jobs import get_redis_conn
from rq import Worker

from vtigercrm_sync.constants import CHUNK_DOCTYPE, LOG_DOCTYPE, SETTING_DOCTYPE, STATUS_QUEUED, job_id
from vtigercrm_sync.syncer.handler.stages import QUEUE
from vtigercrm_sync.syncer.services.query import Watermark
from vtigercrm_sync.tests.utils import Session, VTigerSyncTestCase, kill_worker, start_worker

ORDERS = 60
ACCOUNTS = 4
SYNCED = ("Customer", "Contact", "Address", "Item", "Sales Order")


class TestParallelRun(VTigerSyncTestCase):
	database = "vtigercrm_sync_frappe_parallel"

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		w = cls.writer
		cls.products = [
			w.create_product(cls.name("Shared widget"), unit_price=12.5, at=cls.tick()),
			w.create_service(cls.name("Shared service"), unit_price=40, at=cls.tick()),
		]
		cls.accounts = [
			w.create_account(
				cls.name(f"Çhunk Co {n}"), bill={"street": f"{n} Rue d'Été", "city": "Köln"}, at=cls.tick()
			)
			for n in range(ACCOUNTS)
		]
		cls.contacts = [
			w.create_contact(f"Ñúñez {n}", firstname="Íñigo", account_id=account, at=cls.tick())
			for n, account in enumerate(cls.accounts)
		]
		cls.orders = [
			w.create_sales_order(
				cls.name(f"Chunk order {n}"),
				account_id=cls.accounts[n % ACCOUNTS],
				contact_id=cls.contacts[n % ACCOUNTS],
				lines=[
					{"productid": cls.products[0], "quantity": 1.5 + n % 3, "listprice": 12.5, "tax1": 4.5},
					{"productid": cls.products[1], "quantity": 1, "listprice": 40, "tax1": 4.5},
				],
				at=cls.tick(),
			)
			for n in range(ORDERS)
		]

	def setUp(self):
		self.configure("vtigercrm_sync_chunk_records", 10)
		self.configure("vtigercrm_sync_heartbeat_seconds", 3)
		# workers read the bench's common config only
		common = os.path.join(frappe.local.sites_path, "common_site_config.json")
		self.configure("workers", {QUEUE: {"timeout": 1800}}, common)

	def configure(self, key: str, value, path: str | None = None):
		update_site_config(key, value, site_config_path=path)

		def remove():
			update_site_config(key, "None", site_config_path=path)
			frappe.local.conf.pop(key, None)

		self.addCleanup(remove)

	def synced(self, connection: str) -> dict[str, dict[str, tuple]]:
		"""doctype -> VTiger id without the connection's prefix -> (how many documents, grand total)."""
		prefix = frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix")
		found: dict[str, dict[str, tuple]] = {}
		for doctype in SYNCED:
			fields = ["vtiger_id", "grand_total"] if doctype == "Sales Order" else ["vtiger_id"]
			rows = frappe.get_all(doctype, filters={"vtiger_id": ("like", f"{prefix}%")}, fields=fields)
			ids = found.setdefault(doctype, {})
			for row in rows:
				key = row.vtiger_id.removeprefix(prefix)
				count, _total = ids.get(key, (0, None))
				ids[key] = (count + 1, row.get("grand_total"))
		return found

	def chunk_rows(self, log: str, **filters) -> list:
		return frappe.get_all(
			CHUNK_DOCTYPE,
			filters={"parent": log, "parenttype": LOG_DOCTYPE, **filters},
			fields=["name", "stage", "module", "status", "since_key", "done_key", "until_key", "attempts"],
			order_by="idx asc",
		)

	def wait_for(self, what: str, condition, timeout: float = 180):
		deadline = time.monotonic() + timeout
		while True:
			frappe.db.rollback()  # see the workers' commits
			found = condition()
			if found:
				return found
			self.assertLess(time.monotonic(), deadline, f"timed out waiting for {what}")
			time.sleep(0.3)

	def test_two_workers_write_what_a_serial_run_writes_and_a_killed_chunk_runs_again(self):
		parallel = self.make_connection(title=f"Parallel {self.run_id}", batch_size=5)
		workers = [start_worker(self, f"long,{QUEUE}") for _ in range(2)]
		frappe.get_doc(SETTING_DOCTYPE, parallel).queue_run("Button", False, "Administrator")
		frappe.db.commit()  # the job is queued on commit, for a real worker
		log = self.wait_for(
			"the run's log", lambda: frappe.db.get_value(SETTING_DOCTYPE, parallel, "last_log")
		)

		def a_worker_on_an_order_chunk():
			order_chunks = {
				row.name for row in self.chunk_rows(log, module="SalesOrder", stage="Own", status="Running")
			}
			for worker in Worker.all(connection=get_redis_conn()):
				current = worker.get_current_job()
				if current and current.kwargs.get("kwargs", {}).get("chunk") in order_chunks:
					return worker.pid, current

		pid, job = self.wait_for("a worker running an order chunk", a_worker_on_an_order_chunk)
		kill_worker(next(worker for worker in workers if worker.pid == pid))
		chunk = job.kwargs["kwargs"]["chunk"]
		self.assertEqual(
			job.origin.rpartition(":")[2],
			QUEUE,
			"chunks go to the app's queue when the bench has workers for it",
		)

		def drained():
			rows = self.chunk_rows(log, module="SalesOrder", stage="Own")
			others = [row for row in rows if row.name != chunk]
			return all(row.status == "Done" for row in others) and rows

		rows = self.wait_for("the other worker to finish every other chunk", drained)
		self.assertGreaterEqual(len(rows), ORDERS // 10, "the orders are spread over several chunks")
		victim = next(row for row in rows if row.name == chunk)
		self.assertEqual(victim.status, "Running", "the killed chunk is left Running")
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, log, "status"), "Running")
		watermark = Watermark.parse(frappe.db.get_value(SETTING_DOCTYPE, parallel, "watermark_sales_orders"))
		self.assertIn(watermark.crmid if watermark else None, {None, *self.orders}, "an order's key, or none")
		limit = Watermark.parse(victim.done_key or victim.since_key or None)
		self.assertTrue(
			watermark is None if limit is None else watermark <= limit,
			f"the watermark {watermark} passed the unfinished chunk, which committed up to {limit}",
		)

		time.sleep(4)  # the killed chunk's heartbeat runs out
		answer = frappe.get_doc(SETTING_DOCTYPE, parallel).start_sync()  # Sync Now resumes the dead chunk
		self.assertEqual((answer["status"], answer["log"]), ("resumed", log), answer)
		run = frappe.get_doc(LOG_DOCTYPE, log)
		self.assertEqual(run.status, "Success", run.error_summary)
		self.assertEqual(run.records_read, run.total_records, "each record of the window counted once")
		self.assertEqual(run.records_read, ORDERS + 2 * ACCOUNTS)
		victim = frappe.get_doc(CHUNK_DOCTYPE, victim.name)
		self.assertEqual((victim.status, victim.attempts), ("Done", 2), "the killed chunk ran again, once")
		self.assertTrue(
			all(row.status == "Done" for row in self.chunk_rows(log)), "every chunk of every stage ended Done"
		)

		serial = self.make_connection(title=f"Serial {self.run_id}", batch_size=5)
		self.assertEqual(self.sync(connection=serial).status, "Success")
		written, expected = self.synced(parallel), self.synced(serial)
		self.assertEqual(written, expected, "the same documents, once each, with the same grand totals")
		self.assertEqual(len(expected["Sales Order"]), ORDERS)
		self.assertEqual(len(expected["Customer"]), ACCOUNTS)
		self.assertEqual(len(expected["Item"]), len(self.products))

	def test_a_customer_created_by_another_job_meanwhile_is_found_not_duplicated(self):
		connection = self.make_connection(title=f"Create or find {self.run_id}", batch_size=5)
		prefix = frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix")
		inserted = threading.Event()

		def another_job_creates_the_customer():
			frappe.get_doc(
				{
					"doctype": "Customer",
					"customer_name": self.name("Çhunk Co 0"),
					"vtiger_id": f"{prefix}{self.accounts[0]}",
				}
			).insert(ignore_permissions=True)
			inserted.set()
			time.sleep(3)  # uncommitted while the run reaches the same customer
			frappe.db.commit()

		other = Session(another_job_creates_the_customer)
		self.assertTrue(inserted.wait(60), "the other job inserted its customer")
		log = self.sync(connection=connection)
		other.outcome()

		self.assertEqual(log.status, "Success", log.error_summary)
		self.assertEqual(log.failed, 0)
		customers = frappe.get_all(
			"Customer", filters={"vtiger_id": f"{prefix}{self.accounts[0]}"}, pluck="name"
		)
		self.assertEqual(len(customers), 1, "one customer, found by its VTiger id")
		orders = frappe.get_all(
			"Sales Order",
			filters={"vtiger_id": ("like", f"{prefix}%"), "customer": customers[0]},
			pluck="name",
		)
		self.assertEqual(len(orders), ORDERS // ACCOUNTS, "every order of that account landed on it")
