"""Shared set-up of the Frappe suite: a real VTiger database beside the test site, and a connection to it.

The VTiger database is loaded from ``schema.sql`` with the pytest suite's loader and filled with the same
VTiger-faithful writer (both live in the checkout's ``tests/``; settings come from the same environment
variables). Its crmid counter starts at a random height per class, so documents synced by an earlier run of the
suite never collide with this run's VTiger ids.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import frappe
import pymysql
import requests
from frappe.tests.utils import FrappeTestCase
from frappe.utils.background_jobs import create_job_id, get_redis_conn
from rq import Worker
from sqlalchemy import create_engine, text

from vtigercrm_sync.constants import LOG_DOCTYPE, LOG_LINE_DOCTYPE, SETTING_DOCTYPE
from vtigercrm_sync.database.engine import dispose_engines
from vtigercrm_sync.syncer.observer import log_lines

CHECKOUT_TESTS = Path(__file__).resolve().parents[2] / "tests"
if str(CHECKOUT_TESTS) not in sys.path:
	sys.path.insert(0, str(CHECKOUT_TESTS))

from vtiger_schema import load_database, read_settings
from vtiger_writer import VTigerWriter

DATABASE = os.environ.get("VTIGER_FRAPPE_TEST_DB") or "vtigercrm_sync_frappe_test"
"""The suite's VTiger database; sessions sharing one MariaDB each set VTIGER_FRAPPE_TEST_DB to a name of their own
(two suites reloading one database under each other fail at random)."""
_loaded_urls: dict = {}
_clock = [datetime(2025, 1, 1, 8, 0, 0)]
"""VTiger's clock for every class of the suite: it only moves forward, as a real server's does, so a record
written by a later test is never older than what an earlier sync already read."""


def children_of(pid: int) -> list[int]:
	"""Processes whose parent is ``pid`` (RQ's work horse calls setsid, so it is not in the worker's group)."""
	children = []
	for entry in os.listdir("/proc"):
		if entry.isdigit():
			try:
				with open(f"/proc/{entry}/stat") as stat:
					if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
						children.append(int(entry))
			except OSError:
				continue
	return children


def kill_worker(worker: subprocess.Popen) -> None:
	"""SIGKILL a worker and its work horse, without a word, as the OOM killer or a lost host would."""
	for pid in (*children_of(worker.pid), worker.pid):
		try:
			os.kill(pid, signal.SIGKILL)
		except ProcessLookupError:
			continue
	worker.wait()


def start_worker(test: FrappeTestCase, queues: str) -> subprocess.Popen:
	"""A real ``bench worker`` on this site, stopped when the test ends.

	It runs without ``CI`` in its environment: Frappe's job runner turns ``in_test`` on when ``CI`` is set, and
	the jobs a worker enqueues would then run inline in that worker instead of going to the queue."""
	return start_workers(test, queues, 1)[0]


def start_workers(test: FrappeTestCase, queues: str, count: int) -> list[subprocess.Popen]:
	"""``count`` real ``bench worker`` processes started at once (:func:`start_worker`), each registered with
	Redis before this returns."""
	workers = [
		subprocess.Popen(
			[sys.executable, "-m", "frappe.utils.bench_helper", "frappe", "worker", "--queue", queues],
			cwd=frappe.local.sites_path,
			env={key: value for key, value in os.environ.items() if key != "CI"},
			start_new_session=True,
			stdout=subprocess.DEVNULL,
			stderr=subprocess.DEVNULL,
		)
		for _ in range(count)
	]
	for worker in workers:
		test.addCleanup(lambda worker=worker: worker.poll() is None and kill_worker(worker))
	deadline = time.monotonic() + 60
	while not {w.pid for w in workers} <= {w.pid for w in Worker.all(connection=get_redis_conn())}:
		for worker in workers:
			test.assertIsNone(worker.poll(), f"a worker for {queues} exited (are its queues configured?)")
		test.assertLess(time.monotonic(), deadline, "the workers did not register with Redis")
		time.sleep(0.2)
	return workers


def wait_for(test: FrappeTestCase, what: str, condition: Callable[[], object], timeout: float = 180):
	"""What ``condition`` returns once it is true, asked every 0.3 s in a fresh snapshot (with the workers'
	commits); fails ``test`` after ``timeout`` seconds."""
	deadline = time.monotonic() + timeout
	while True:
		frappe.db.rollback()
		found = condition()
		if found:
			return found
		test.assertLess(time.monotonic(), deadline, f"timed out waiting for {what}")
		time.sleep(0.3)


def workers_running(workers: list[subprocess.Popen], job_ids: set[str]) -> dict[str, int]:
	"""Job id (as given to ``frappe.enqueue``) -> the pid of the worker of ``workers`` running it now, for the
	jobs of ``job_ids``. Redis may be shared with other benches: their workers are not looked at."""
	pids, running = {w.pid for w in workers}, {}
	ids = {create_job_id(job_id): job_id for job_id in job_ids}
	for worker in Worker.all(connection=get_redis_conn()):
		current = worker.pid in pids and worker.get_current_job_id()
		if current in ids:
			running[ids[current]] = worker.pid
	return running


class Held:
	"""A MariaDB session of its own for a test: another user's transaction holding row locks, or an
	administrator's ``LOCK TABLES``. ``site`` connects to the site's database (with its own credentials),
	``url`` to another database of the server (VTiger's)."""

	def __init__(self, url=None):
		if url is None:
			conf = frappe.conf
			url = frappe._dict(
				host=conf.db_host or "127.0.0.1",
				port=conf.db_port,
				username=conf.db_name,
				password=conf.db_password,
				database=conf.db_name,
			)
		self.database = url.database
		self.db = pymysql.connect(
			host=url.host,
			port=int(url.port or 3306),
			user=url.username,
			password=url.password or "",
			database=url.database,
			autocommit=False,
		)

	def sql(self, query: str, args=None) -> tuple:
		with self.db.cursor() as cursor:
			cursor.execute(query, args)
			return cursor.fetchall()

	@property
	def thread_id(self) -> int:
		return self.db.thread_id()

	def ballast(self, rows: int = 5000) -> None:
		"""Make this transaction heavy (undo log entries in a temporary table of its own), so InnoDB rolls back
		the other, lighter side of a deadlock it is part of."""
		self.sql(
			"CREATE TEMPORARY TABLE IF NOT EXISTS ballast (id INT PRIMARY KEY, pad CHAR(50)) ENGINE=InnoDB"
		)
		with self.db.cursor() as cursor:
			cursor.executemany("INSERT INTO ballast VALUES (%s, 'ballast')", [(n,) for n in range(rows)])

	def close(self) -> None:
		try:
			self.db.rollback()
			self.sql("UNLOCK TABLES")
		finally:
			self.db.close()


def start_web_server(test: FrappeTestCase) -> str:
	"""The site served over HTTP on 127.0.0.1 by a process of its own (werkzeug, as ``bench serve`` runs Frappe's
	WSGI application), stopped when the test ends; its URL. Requests to it run as a Desk user's do: in a web
	worker's thread, not in the test's process."""
	with socket.socket() as probe:
		probe.bind(("127.0.0.1", 0))
		port = probe.getsockname()[1]
	serve = (
		"import sys, frappe.app; from werkzeug.serving import run_simple; "
		"frappe.app._site = sys.argv[1]; "
		"run_simple('127.0.0.1', int(sys.argv[2]), frappe.app.application, threaded=True)"
	)
	server = subprocess.Popen(
		[sys.executable, "-c", serve, frappe.local.site, str(port)],
		cwd=frappe.local.sites_path,
		env={key: value for key, value in os.environ.items() if key != "CI"},
		start_new_session=True,
		stdout=subprocess.DEVNULL,
		stderr=subprocess.DEVNULL,
	)
	test.addCleanup(lambda: server.poll() is None and (os.killpg(server.pid, signal.SIGTERM), server.wait()))
	url = f"http://127.0.0.1:{port}"
	deadline = time.monotonic() + 60
	while True:
		test.assertIsNone(server.poll(), "the web server exited")
		try:
			if requests.get(f"{url}/api/method/ping", timeout=5).ok:
				return url
		except requests.ConnectionError:
			pass
		test.assertLess(time.monotonic(), deadline, "the web server did not answer")
		time.sleep(0.3)


def api_token(user: str = "Administrator") -> str:
	"""An ``Authorization`` header value for ``user``'s (new) API key and secret."""
	doc = frappe.get_doc("User", user)
	doc.api_key = doc.api_key or frappe.generate_hash(length=15)
	secret = frappe.generate_hash(length=15)
	doc.api_secret = secret
	doc.save(ignore_permissions=True)
	frappe.db.commit()
	return f"token {doc.api_key}:{secret}"


class Session(threading.Thread):
	"""Another Frappe session on this site, in a thread of its own (a desk user, a second job)."""

	def __init__(self, work: Callable[[], object]):
		super().__init__(daemon=True)
		self.work, self.site, self.sites_path = work, frappe.local.site, frappe.local.sites_path
		self.result: object = None
		self.error: BaseException | None = None
		self.start()

	def run(self):
		frappe.init(site=self.site, sites_path=self.sites_path)
		frappe.connect()
		frappe.set_user("Administrator")
		try:
			self.result = self.work()
			frappe.db.commit()
		except BaseException as exc:
			self.error = exc
			frappe.db.rollback()
		finally:
			frappe.destroy()

	def outcome(self, timeout: float = 120):
		self.join(timeout)
		if self.error:
			raise self.error
		return self.result


def lines_of(log, **filters) -> list[frappe._dict]:
	"""Every line of a log (its name or the document), in the order they were written: what a test asserts on
	(the form reads them a page at a time)."""
	return frappe.get_all(
		LOG_LINE_DOCTYPE,
		filters={"log": getattr(log, "name", log), **filters},
		fields=["*"],
		order_by="name asc",
		limit=0,
	)


def chunks_of(log, fields: list[str] | None = None, **filters) -> list[frappe._dict]:
	"""A log's chunks (its name or the document), in the order they were cut."""
	return log_lines.chunks_of(getattr(log, "name", log), fields, **filters)


def vtiger_database_url(database: str = DATABASE):
	"""Load the VTiger schema into ``database`` once per process and return its URL."""
	if database not in _loaded_urls:
		_loaded_urls[database] = load_database(read_settings(), database)
	return _loaded_urls[database]


class VTigerSyncTestCase(FrappeTestCase):
	"""A connection to a fresh VTiger database, a writer for it, and helpers to run and inspect syncs."""

	preset = "standard"
	database = DATABASE
	"""A class that changes what the whole VTiger install defines (its base currency, say) takes its own."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.url = vtiger_database_url(cls.database)
		cls.engine = create_engine(cls.url)
		with cls.engine.begin() as conn:
			start = random.randint(10, 90) * 1_000_000 + random.randint(0, 999_999)
			conn.execute(text("UPDATE vtiger_crmentity_seq SET id = GREATEST(id, :start)"), {"start": start})
			conn.execute(
				text("UPDATE vtiger_modentity_num SET cur_id = :start WHERE active = 1"), {"start": start}
			)
		cls.writer = VTigerWriter(cls.engine)
		cls.run_id = uuid.uuid4().hex[:6]
		cls.company = (
			frappe.db.get_single_value("Global Defaults", "default_company")
			or frappe.get_all("Company", pluck="name", limit=1)[0]
		)
		cls.tax_account = frappe.db.get_value(
			"Account", {"company": cls.company, "account_type": "Tax", "is_group": 0}, "name"
		)
		cls.prepare_vtiger()
		cls.connection = cls.make_connection()

	@classmethod
	def prepare_vtiger(cls):
		"""Shape the VTiger database (custom fields, say) before the connection validates its mapping."""

	@classmethod
	def tearDownClass(cls):
		cls.engine.dispose()
		dispose_engines()
		super().tearDownClass()

	@classmethod
	def make_connection(cls, **overrides):
		settings = cls.url
		doc = frappe.get_doc(
			{
				"doctype": SETTING_DOCTYPE,
				"title": f"VTiger {cls.__name__} {cls.run_id}",
				"enabled": 1,
				"host": settings.host,
				"port": settings.port or 3306,
				"database_name": settings.database,
				"db_user": settings.username,
				"db_password": settings.password or "",
				"mapping_preset": cls.preset,
				"company": cls.company,
				"default_country": "United States",
				"delivery_days": 7,
				"deleted_record_action": "Disable",
				"tax_accounts": [
					{"vtiger_tax": key, "account_head": cls.tax_account}
					for key in (
						"tax1",
						"tax2",
						"tax3",
						"shipping",
						"shtax1",
						"shtax2",
						"shtax3",
						"adjustment",
					)
				],
				**overrides,
			}
		)
		doc.flags.ignore_permissions = True
		doc.insert()
		frappe.db.commit()
		return doc.name

	@classmethod
	def tick(cls) -> datetime:
		_clock[0] += timedelta(seconds=1)
		return _clock[0]

	@classmethod
	def name(cls, text_: str) -> str:
		"""A name unique to this run, so customers of earlier runs are never adopted by accident."""
		return f"{text_} {cls.run_id}"

	def vtiger_value(self, sql: str, **params):
		with self.engine.connect() as conn:
			return conn.execute(text(sql), params).scalar()

	@classmethod
	def sync(cls, full: bool = False, connection: str | None = None, rebuild: bool = False):
		"""Run a sync inline, as the job does, and return its log (``rebuild``: Rebuild All, which reads the
		records whose fingerprint did not move too, failures waiting on a reason included)."""
		from vtigercrm_sync.syncer.run.job import run_sync

		run_sync(
			connection or cls.connection, trigger="CLI", full=full, user="Administrator", rebuild=rebuild
		)
		log_name = frappe.db.get_value(SETTING_DOCTYPE, connection or cls.connection, "last_log")
		return frappe.get_doc(LOG_DOCTYPE, log_name)

	def find(self, doctype: str, vtiger_id, connection: str | None = None) -> str | None:
		"""The document synced from a VTiger id (crmid[:role]) through this class's connection."""
		prefix = frappe.db.get_value(SETTING_DOCTYPE, connection or self.connection, "id_prefix")
		return frappe.db.get_value(doctype, {"vtiger_id": f"{prefix}{vtiger_id}"}, "name")

	def written_by(self, log) -> list[tuple[str, str]]:
		"""(doctype, vtiger_id) of every synced document this connection's run created or changed."""
		prefix = frappe.db.get_value(SETTING_DOCTYPE, log.connection, "id_prefix")
		return [
			(doctype, row.vtiger_id)
			for doctype in ("Customer", "Contact", "Address", "Item", "Sales Order")
			for row in frappe.get_all(
				doctype,
				filters={"modified": (">=", log.started_at), "vtiger_id": ("like", f"{prefix}%")},
				fields=["vtiger_id"],
			)
		]

	def set_connection(self, **values):
		"""Change the connection for one test; the old values come back afterwards."""
		old = frappe.db.get_value(SETTING_DOCTYPE, self.connection, list(values), as_dict=True)
		frappe.db.set_value(SETTING_DOCTYPE, self.connection, values)
		self.addCleanup(frappe.db.set_value, SETTING_DOCTYPE, self.connection, dict(old))

	def links_of(self, doctype: str, name: str) -> set[tuple[str, str]]:
		return {(row.link_doctype, row.link_name) for row in frappe.get_doc(doctype, name).links}


def sales_user(email: str) -> str:
	"""A Sales User (reads Customers and Sales Orders, not the app's connections), made once."""
	if not frappe.db.exists("User", email):
		user = frappe.get_doc(
			{"doctype": "User", "email": email, "first_name": "Sales", "send_welcome_email": 0}
		)
		user.append("roles", {"role": "Sales User"})
		user.insert(ignore_permissions=True)
	return email
