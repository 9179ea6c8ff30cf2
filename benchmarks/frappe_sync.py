"""Benchmark of syncs into a bench site, against a naive insert loop. Prints figures; asserts nothing.

Run from the bench's ``sites`` directory with the bench's Python, e.g.:

    cd ~/.cache/frappe15-bench/bench/sites
    ../env/bin/python /path/to/checkout/benchmarks/frappe_sync.py --site test.localhost --n 1000

On one generated VTiger data set (``benchmarks/engine.py``'s: N orders, N/5 accounts and contacts, 1-4 lines each)
it measures, in this order:

- ``naive``: the same Customers, Contacts, Addresses and Sales Orders a sync writes, written again by a plain loop of
  ``doc.insert()`` (and ``submit()`` where the sync submitted), links pointed at the loop's own copies: ERPNext's
  own cost per document, the floor;
- ``sync, 1 worker`` and ``sync, 2 workers``: a first sync of a connection of its own, started as Sync Now starts it
  and run by real ``bench worker`` processes on the app's queue;
- ``unchanged incremental``, ``unchanged full resync`` and ``k changed of N`` on the 2-worker connection;
- the peak RSS of any worker or work horse (sampled every 0.1 s) during a first sync of N and of 5N orders.

The last line reads ``speedup: 1 worker R1x, 2 workers R2x naive; full resync Sx faster than first sync``.

``--resyncs`` instead runs a first sync of N on 2 workers and then an unchanged incremental run, an unchanged full
resync, Rebuild All (which reads and plans every record, as a full resync did before fingerprints) and k changed,
each with the records it read and left unread.

``--parallel W`` instead runs one first sync of N orders on W workers (chunks of ``--chunk-records``) and prints its
duration, the groups of records its chunks wrote again after a deadlock or a lock wait (the run's own count, with
the deadlocks InnoDB counted on the whole server meanwhile beside it), the chunks that ran more than once (target 0),
the failures (target 0) and the machine's load average, e.g. ``--parallel 4 --n 2000 --chunk-records 25``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import frappe
from engine import fill
from frappe.installer import update_site_config
from frappe.utils.background_jobs import get_redis_conn
from rq import Worker
from sqlalchemy import create_engine, text
from vtiger_schema import connect_server, read_settings

from vtigercrm_sync.constants import LOG_DOCTYPE, LOG_LINE_DOCTYPE, SETTING_DOCTYPE
from vtigercrm_sync.syncer.observer.log_lines import chunks_of
from vtigercrm_sync.syncer.run.job import run_sync
from vtigercrm_sync.syncer.run.stages import QUEUE

DATABASE = f"{read_settings().database}_bench_frappe"
"""Per VTiger test database, so benches of several checkouts on one MariaDB do not fill each other's."""
NAIVE_ORDER = ("Item", "Customer", "Contact", "Address", "Sales Order")
LINKS = {
	"Sales Order": ("customer", "contact_person", "customer_address", "shipping_address_name"),
	"Customer": ("customer_primary_contact", "customer_primary_address"),
}
KINDS = ("Customer", "Contact", "Address", "Item", "Sales Order", "Sales Order, submitted")
SUBMITTED = "Approved"
"""The VTiger status of every other generated order, which the benchmark's connections submit."""
TICKS = os.sysconf("SC_CLK_TCK")
NOT_PRODUCTION = ("CI", "PYTHONDONTWRITEBYTECODE")
"""Left out of the workers' environment. Without bytecode written, each job's work horse (a fresh fork) compiled
every module of Frappe and ERPNext it imports from source, about 0.3 s a job, which a production bench (and this
benchmark's own naive loop, in one process) does not pay."""


class Workers:
	"""Real ``bench worker`` processes on the long and the app's queue, and the peak RSS of them and their horses."""

	def __init__(self, count: int, times: str | None = None):
		env = {key: value for key, value in os.environ.items() if key not in NOT_PRODUCTION}
		command = [sys.executable, "-m", "frappe.utils.bench_helper", "frappe", "worker"]
		if times:  # time each document the workers write (timed_worker.py)
			env["VTIGERCRM_SYNC_BENCH_TIMES"] = times
			command[1:3] = [str(Path(__file__).resolve().parent / "timed_worker.py")]
		self.processes = [
			subprocess.Popen(
				[*command, "--queue", f"long,{QUEUE}"],
				env=env,
				start_new_session=True,
				stdout=subprocess.DEVNULL,
				stderr=subprocess.DEVNULL,
			)
			for _ in range(count)
		]
		pids = {p.pid for p in self.processes}
		while not pids <= {w.pid for w in Worker.all(connection=get_redis_conn())}:
			time.sleep(0.2)
		self.peak_kib, self._stop = 0, threading.Event()
		threading.Thread(target=self._sample, daemon=True).start()

	def _sample(self) -> None:
		while not self._stop.wait(0.1):
			for pid in self._family():
				self.peak_kib = max(self.peak_kib, _rss_kib(pid))

	def _family(self) -> list[int]:
		parents = {p.pid for p in self.processes}
		family = list(parents)
		for entry in os.listdir("/proc"):
			if entry.isdigit():
				try:
					with open(f"/proc/{entry}/stat") as stat:
						if int(stat.read().rsplit(")", 1)[1].split()[1]) in parents:
							family.append(int(entry))
				except OSError:
					continue
		return family

	def cpu_seconds(self) -> float:
		"""CPU time of the workers, of their horses that ended (reaped: the workers' children's time) and of
		those still running."""
		parents = {p.pid for p in self.processes}
		return sum(_cpu_seconds(pid, children=pid in parents) for pid in self._family())

	def stop(self) -> None:
		self._stop.set()
		for process in self.processes:
			os.killpg(process.pid, 15)
			process.wait()


def _rss_kib(pid: int) -> int:
	try:
		with open(f"/proc/{pid}/status") as status:
			return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
	except (OSError, StopIteration):
		return 0


def _cpu_seconds(pid: int | str, children: bool = False) -> float:
	"""utime + stime of a process, or of a thread (``PID/task/TID``), from ``/proc``; with its reaped
	children's when asked."""
	try:
		with open(f"/proc/{pid}/stat") as stat:
			fields = stat.read().rsplit(")", 1)[1].split()
	except OSError:
		return 0.0
	ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
	return ticks / TICKS


class Meter:
	"""What one measured stretch costs: the CPU seconds MariaDB's threads spent serving the site's and the
	VTiger database's connections (MariaDB is shared by other benches and tests, so only threads whose
	``information_schema.PROCESSLIST`` row names one of these databases are counted, sampled every 0.2 s), and
	the machine's 1-minute load average over the stretch."""

	def __init__(self, databases: tuple[str, ...]):
		self.databases = databases
		self.connection = connect_server(read_settings())
		self.server = _mariadb_pid()
		self.mariadb, self.loads = 0.0, []
		self._last: dict[int, float] = {}
		self._stop = threading.Event()
		self._thread = threading.Thread(target=self._sample, daemon=True)
		self._thread.start()

	def _sample(self) -> None:
		ticks = 0
		while True:
			stopping = self._stop.wait(0.2)
			with self.connection.cursor() as cursor:
				cursor.execute(
					"SELECT TID FROM information_schema.PROCESSLIST WHERE DB IN %s", (self.databases,)
				)
				tids = [row[0] for row in cursor.fetchall()]
			now = {tid: _cpu_seconds(f"{self.server}/task/{tid}") for tid in tids if self.server}
			self.mariadb += sum(
				max(cpu - self._last[tid], 0) for tid, cpu in now.items() if tid in self._last
			)
			self._last = now
			ticks += 1
			if ticks % 5 == 1 or stopping:
				self.loads.append(os.getloadavg()[0])
			if stopping:
				return

	def stop(self) -> tuple[float, float]:
		"""(MariaDB's CPU seconds, mean load average)."""
		self._stop.set()
		self._thread.join()
		self.connection.close()
		return self.mariadb, sum(self.loads) / len(self.loads)


def _mariadb_pid() -> int | None:
	"""The MariaDB server's process on this host; None (its CPU time counts as 0) when it runs elsewhere."""
	for entry in os.listdir("/proc"):
		try:
			if entry.isdigit() and open(f"/proc/{entry}/comm").read().strip() in ("mariadbd", "mysqld"):
				return int(entry)
		except OSError:
			continue
	return None


def _databases() -> tuple[str, ...]:
	return (frappe.conf.db_name, DATABASE)


def make_connection(title: str, company: str) -> str:
	url = read_settings().database_url(DATABASE)
	account = frappe.db.get_value("Account", {"company": company, "account_type": "Tax", "is_group": 0})
	doc = frappe.get_doc(
		{
			"doctype": SETTING_DOCTYPE,
			"title": title,
			"host": url.host,
			"port": url.port or 3306,
			"database_name": DATABASE,
			"db_user": url.username,
			"db_password": url.password or "",
			"mapping_preset": "standard",
			"company": company,
			"default_country": "United States",
			"submit_statuses": SUBMITTED,
			"tax_accounts": [
				{"vtiger_tax": tax, "account_head": account} for tax in ("tax1", "tax2", "tax3")
			],
		}
	)
	doc.flags.ignore_permissions = True
	doc.insert()
	frappe.db.commit()
	return doc.name


def sync(connection: str, full: bool, rebuild: bool = False) -> tuple[float, frappe._dict]:
	"""Start a run as Sync Now does (Rebuild All with ``rebuild``) and wait for its log's final status."""
	before = frappe.db.get_value(SETTING_DOCTYPE, connection, "last_log")
	started = time.perf_counter()
	frappe.get_doc(SETTING_DOCTYPE, connection).queue_run("CLI", full, "Administrator", rebuild=rebuild)
	frappe.db.commit()
	while True:
		time.sleep(0.1)
		frappe.db.rollback()
		log = frappe.db.get_value(SETTING_DOCTYPE, connection, "last_log")
		if log and log != before:
			row = frappe.db.get_value(LOG_DOCTYPE, log, ["*"], as_dict=True)
			if row.status not in ("Queued", "Running"):
				return time.perf_counter() - started, row


@dataclass
class Measured:
	"""One measured stretch: its wall time, documents and orders written, CPU seconds (the writing processes
	and MariaDB's threads serving them), mean load average, and seconds spent per kind of document."""

	seconds: float
	documents: int
	orders: int
	cpu: float
	mariadb: float
	load: float
	kinds: dict[str, list[float]]
	log: frappe._dict | None = None
	peak_kib: int = 0

	def cpu_per_order(self) -> float:
		return (self.cpu + self.mariadb) / self.orders


def naive(connection: str) -> Measured:
	"""Write the connection's documents again with a plain insert loop (``submit()`` where the sync submitted),
	links pointed at the loop's own copies; each document timed, by kind."""
	prefix = frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix")
	sources = {
		doctype: [
			frappe.get_doc(doctype, name)
			for name in frappe.get_all(
				doctype, filters={"vtiger_id": ("like", f"{prefix}%")}, pluck="name", order_by="creation asc"
			)
		]
		for doctype in NAIVE_ORDER
	}
	copies: dict[str, str] = {}
	kinds: dict[str, list[float]] = {kind: [] for kind in KINDS}
	meter = Meter(_databases())
	cpu = time.thread_time()
	started = time.perf_counter()
	for doctype in NAIVE_ORDER:
		for source in sources[doctype]:
			began = time.perf_counter()
			doc = frappe.copy_doc(source)
			for field in [f for f in doc.as_dict() if f.startswith("vtiger_")]:
				doc.set(field, None)
			if doctype == "Customer":
				doc.customer_name = f"{source.customer_name} naive"
			if doctype == "Item":
				doc.item_code = f"{source.item_code} naive"
			if doctype == "Contact":  # else the next sync adopts the copy by its match key, the e-mail
				for row in doc.get("email_ids") or []:
					row.email_id = f"naive.{row.email_id}"
				doc.email_id = doc.email_id and f"naive.{doc.email_id}"
			for field in LINKS.get(doctype, ()):
				doc.set(field, copies.get(doc.get(field)))
			for row in doc.get("links") or []:
				row.link_name = copies.get(row.link_name, row.link_name)
			for row in doc.get("items") or []:
				row.item_code = copies.get(row.item_code, row.item_code)
			doc.insert()
			if source.docstatus == 1:
				doc.submit()
			copies[source.name] = doc.name
			kinds[_kind(doctype, source.docstatus)].append(time.perf_counter() - began)
			if sum(map(len, kinds.values())) % 50 == 0:
				frappe.db.commit()
	frappe.db.commit()
	elapsed, cpu = time.perf_counter() - started, time.thread_time() - cpu
	mariadb, load = meter.stop()
	documents = sum(map(len, kinds.values()))
	return Measured(elapsed, documents, len(sources["Sales Order"]), cpu, mariadb, load, kinds)


def _kind(doctype: str, docstatus: int) -> str:
	return "Sales Order, submitted" if doctype == "Sales Order" and docstatus == 1 else doctype


def written_kinds(times: str) -> dict[str, list[float]]:
	"""Seconds per document the sync created or updated, by kind, as the timed workers wrote them down."""
	kinds: dict[str, list[float]] = {kind: [] for kind in KINDS}
	with open(times) as lines:
		for line in lines:
			kind, seconds, action = line.rstrip("\n").split("\t")
			if action in ("Created", "Updated"):
				kinds[kind].append(float(seconds))
	return kinds


def touch_orders(k: int) -> None:
	"""Change k orders in VTiger as its UI would: a new terms text and a new modifiedtime."""
	engine = create_engine(read_settings().database_url(DATABASE))
	with engine.begin() as conn:
		ids = conn.execute(
			text("SELECT crmid FROM vtiger_crmentity WHERE setype = 'SalesOrder' AND deleted = 0 LIMIT :k"),
			{"k": k},
		).scalars()
		for crmid in list(ids):
			conn.execute(
				text("UPDATE vtiger_salesorder SET terms_conditions = :t WHERE salesorderid = :id"),
				{"t": f"Terms changed {time.time()}", "id": crmid},
			)
			conn.execute(
				text(
					"UPDATE vtiger_crmentity SET modifiedtime = NOW() - INTERVAL 2 SECOND WHERE crmid = :id"
				),
				{"id": crmid},
			)
	engine.dispose()


def first_sync(connection: str, workers: int) -> Measured:
	"""A connection's first sync with ``workers`` workers: its time, CPU, load and peak RSS (and, on one
	worker, its seconds per document by kind)."""
	times = f"/tmp/vtigercrm_sync_bench_times_{os.getpid()}_{workers}"
	if os.path.exists(times):
		os.remove(times)
	pool = Workers(workers, times)
	try:
		meter = Meter(_databases())
		cpu, waits = pool.cpu_seconds(), _row_lock_waits()
		elapsed, log = sync(connection, full=False)
		waits = [after - before for after, before in zip(_row_lock_waits(), waits, strict=True)]
		time.sleep(0.5)  # the last job returns
		cpu = pool.cpu_seconds() - cpu
		mariadb, load = meter.stop()
	finally:
		pool.stop()
	print(
		f"  first sync, {workers} worker(s): {log.status}, created {log.created}, updated {log.updated}, "
		f"failed {log.failed}; row lock waits {waits[0]} ({waits[1] / 1000:.1f} s) on the whole server"
	)
	orders = frappe.db.count(
		"Sales Order",
		{"vtiger_id": ("like", f"{frappe.db.get_value(SETTING_DOCTYPE, connection, 'id_prefix')}%")},
	)
	kinds = written_kinds(times)
	os.remove(times)
	documents = log.created + log.updated
	return Measured(elapsed, documents, orders, cpu, mariadb, load, kinds, log, pool.peak_kib)


def resyncs(n: int, k: int, company: str) -> None:
	"""A first sync of n orders on 2 workers, then re-runs of it: unchanged incremental, unchanged full resync
	(records whose fingerprint did not move are not read), Rebuild All (every record read and planned, as every
	full resync did before fingerprints) and k changed; each with the records it read and left unread."""
	(connection,) = fresh_data(n, company, "resyncs")
	pool = Workers(2)
	try:
		first, log = sync(connection, full=False)
		print(f"{'first sync, 2 workers':<24}{first:8.2f}s  created {log.created}, failed {log.failed}")
		for label, full, rebuild in (
			("unchanged incremental", False, False),
			("unchanged full resync", True, False),
			("rebuild all", True, True),
			("unchanged full resync", True, False),
		):
			elapsed, log = sync(connection, full=full, rebuild=rebuild)
			print(
				f"{label:<24}{elapsed:8.2f}s  {first / elapsed:7.1f}x faster than first sync; read "
				f"{log.records_read}, unchanged {log.unchanged}, written {log.created + log.updated}"
			)
		touch_orders(k)
		changed, log = sync(connection, full=True)
		print(
			f"{f'k = {k} changed, full':<24}{changed:8.2f}s  read {log.records_read}, unchanged "
			f"{log.unchanged}, updated {log.updated}"
		)
	finally:
		pool.stop()
	print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def parallel(n: int, workers: int, company: str) -> None:
	"""One first sync of n orders on ``workers`` workers: duration, groups written again after a deadlock or a lock
	wait (the run's own count, and InnoDB's deadlocks on the whole server meanwhile), chunks re-run, failures."""
	(connection,) = fresh_data(n, company, f"{workers} workers")
	deadlocks = _innodb_deadlocks()
	run = first_sync(connection, workers)
	elapsed, log = run.seconds, run.log
	chunks = chunks_of(log.name, ["status", "attempts", "enqueued", "lock_retries"])
	rerun = sum(max(c.attempts - 1, c.enqueued or 0, 0) for c in chunks)
	failed = sum(c.status != "Done" for c in chunks)
	print(
		f"{workers} workers, {n} orders, {len(chunks)} chunks: {elapsed:.1f}s, {log.status}; groups retried after "
		f"a deadlock or lock wait {sum(c.lock_retries or 0 for c in chunks)} (InnoDB deadlocks on the server "
		f"meanwhile, any database: {_innodb_deadlocks() - deadlocks}), chunks re-run {rerun}, failed chunks "
		f"{failed}, failed records {log.failed}; read {log.records_read} of {log.total_records}; created "
		f"{log.created}, updated {log.updated}; CPU {run.cpu_per_order():.3f} s/order, load {run.load:.1f}"
	)
	for row in frappe.get_all(
		LOG_LINE_DOCTYPE,
		filters={"log": log.name, "action": ("in", ("Updated", "Failed"))},
		fields=["action", "target_doctype", "entity", "count(*) as documents"],
		group_by="action, target_doctype, entity",
	):
		print(f"  {row.action}: {row.documents} {row.target_doctype} ({row.entity})")


def _row_lock_waits() -> tuple[int, int]:
	"""InnoDB's count of row lock waits and their milliseconds on this server (every database), for a
	difference."""
	status = dict(frappe.db.sql("SHOW GLOBAL STATUS LIKE 'Innodb_row_lock_time%'"))
	waits = frappe.db.sql("SHOW GLOBAL STATUS LIKE 'Innodb_row_lock_waits'")
	return int(waits[0][1]) if waits else 0, int(status.get("Innodb_row_lock_time", 0))


def _innodb_deadlocks() -> int:
	"""InnoDB's count of deadlocks on this server (MariaDB's ``Innodb_deadlocks``), for a difference."""
	row = frappe.db.sql("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")
	return int(row[0][1]) if row else 0


def fresh_data(n: int, company: str, *labels: str) -> list[str]:
	"""Fill VTiger with n orders (the same data for each n) and make a connection per label."""
	first = random.randint(10, 900) * 1_000_000
	fill(n, first_crmid=first, database=DATABASE)
	engine = create_engine(read_settings().database_url(DATABASE))
	with engine.begin() as conn:
		conn.execute(
			text("UPDATE vtiger_salesorder SET sostatus = :status WHERE salesorderid % 2 = 0"),
			{"status": SUBMITTED},
		)
	engine.dispose()
	return [make_connection(f"Benchmark {label} {first}", company) for label in labels]


def report(label: str, run: Measured, floor: Measured | None = None) -> None:
	ratio = f"  {floor.seconds / run.seconds:5.2f}x naive" if floor else ""
	print(
		f"{label:<24}{run.seconds:8.1f}s  {run.documents / run.seconds:7.1f} documents/s  "
		f"{run.orders / run.seconds:6.1f} orders/s  CPU {run.cpu_per_order():.3f} s/order (MariaDB "
		f"{run.mariadb / run.orders:.3f})  load {run.load:.1f}{ratio}",
		flush=True,
	)


def report_kinds(floor: Measured, one: Measured) -> None:
	"""Milliseconds per document by kind, the naive loop against a one-worker sync."""
	print(f"{'ms per document':<24}{'naive':>8}{'sync':>8}{'sync/naive':>12}  documents")
	for kind in KINDS:
		naive_times, sync_times = floor.kinds.get(kind) or [], one.kinds.get(kind) or []
		if not naive_times and not sync_times:
			continue
		naive_ms = 1000 * sum(naive_times) / max(len(naive_times), 1)
		sync_ms = 1000 * sum(sync_times) / max(len(sync_times), 1)
		ratio = f"{sync_ms / naive_ms:11.2f}x" if naive_ms else f"{'':>12}"
		print(f"{kind:<24}{naive_ms:8.1f}{sync_ms:8.1f}{ratio}  {len(naive_times)} / {len(sync_times)}")
	charged = sum(map(sum, one.kinds.values()))
	print(
		f"{'sync outside documents':<24}{'':>8}{1000 * (one.seconds - charged) / one.orders:8.1f}"
		f"  ms per order (reading, planning, skipping what is written, commits, stages)"
	)


def profile(n: int, out: str | None = None) -> None:
	"""A first sync of n orders run serially in this process (chunk jobs inline), under cProfile: the top 15
	functions by cumulative time, and all of them in ``out`` (for ``python -m pstats``) when given."""
	frappe.set_user("Administrator")
	(connection,) = fresh_data(n, frappe.db.get_single_value("Global Defaults", "default_company"), "profile")
	frappe.flags.in_test = True  # the run's chunk jobs run inline, as on a bench with one worker
	profiler = cProfile.Profile()
	started = time.perf_counter()
	profiler.runcall(run_sync, connection, trigger="CLI", full=False, user="Administrator")
	elapsed = time.perf_counter() - started
	log = frappe.db.get_value(
		LOG_DOCTYPE, frappe.db.get_value(SETTING_DOCTYPE, connection, "last_log"), ["*"], as_dict=True
	)
	print(f"profiled first sync of {n} orders: {elapsed:.1f}s, {log.status}, created {log.created}")
	pstats.Stats(profiler).sort_stats("cumulative").print_stats(15)
	if out:
		profiler.dump_stats(out)
	frappe.destroy()


def main() -> None:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument("--site", required=True)
	parser.add_argument("--n", type=int, default=1000)
	parser.add_argument("--k", type=int, default=10)
	parser.add_argument("--chunk-records", type=int, default=250)
	parser.add_argument(
		"--profile", action="store_true", help="profile a first sync of N in this process instead"
	)
	parser.add_argument("--parallel", type=int, help="one first sync of N on this many workers instead")
	parser.add_argument(
		"--resyncs", action="store_true", help="only a first sync of N on 2 workers and its re-runs"
	)
	parser.add_argument("--profile-out", help="with --profile, also save the whole profile to this file")
	parser.add_argument(
		"--rss-only", action="store_true", help="only the peak RSS of first syncs of N and 5N"
	)
	parser.add_argument("--skip-5n", action="store_true", help="without the first sync of 5N (peak RSS)")
	args = parser.parse_args()
	frappe.init(site=args.site, sites_path=".")
	frappe.connect()
	if args.profile:
		profile(args.n, args.profile_out)
		return
	common = os.path.join(frappe.local.sites_path, "common_site_config.json")
	update_site_config("workers", {QUEUE: {"timeout": 14400}}, site_config_path=common)
	update_site_config("vtigercrm_sync_chunk_records", args.chunk_records)
	try:
		frappe.set_user("Administrator")
		company = frappe.db.get_single_value("Global Defaults", "default_company")
		n = args.n
		if args.parallel:
			parallel(n, args.parallel, company)
			return
		if args.resyncs:
			resyncs(n, args.k, company)
			return
		if args.rss_only:
			peaks = [
				first_sync(fresh_data(size, company, f"RSS {size}")[0], 1).peak_kib for size in (n, 5 * n)
			]
			print(
				f"peak RSS of a worker or horse: {peaks[0] / 1024:.1f} MiB at N = {n}, {peaks[1] / 1024:.1f} MiB "
				f"at 5N = {5 * n} ({peaks[1] / peaks[0]:.2f}x)"
			)
			return
		one_worker, two_workers = fresh_data(n, company, "1 worker", "2 workers")
		one = first_sync(one_worker, 1)
		floor = naive(one_worker)
		two = first_sync(two_workers, 2)
		report("naive", floor)
		report("sync, 1 worker", one, floor)
		report("sync, 2 workers", two, floor)
		print(
			f"CPU per order, 2 workers / 1 worker: {two.cpu_per_order() / one.cpu_per_order():.2f}x "
			f"(target 1.1x at most)"
		)
		report_kinds(floor, one)
		peak_n = one.peak_kib

		pool = Workers(2)
		try:
			quiet, _log = sync(two_workers, full=False)
			print(
				f"{'unchanged incremental':<24}{quiet:8.2f}s  {two.seconds / quiet:7.1f}x faster than first sync"
			)
			full, _log = sync(two_workers, full=True)
			print(
				f"{'unchanged full resync':<24}{full:8.2f}s  {two.seconds / full:7.1f}x faster than first sync"
			)
			touch_orders(args.k)
			changed, log_k = sync(two_workers, full=False)
			bound = 3 * args.k / n * two.seconds + 1
			print(
				f"{f'k = {args.k} changed of {n}':<24}{changed:8.2f}s  {changed / two.seconds:.4f} of first sync "
				f"(bound 3k/N x first + 1 s = {bound:.2f}s; updated {log_k.updated})"
			)
		finally:
			pool.stop()

		if not args.skip_5n:
			(five,) = fresh_data(5 * n, company, "5N")
			peak_5n = first_sync(five, 1).peak_kib
			print(
				f"peak RSS of a worker or horse: {peak_n / 1024:.1f} MiB at N = {n}, {peak_5n / 1024:.1f} MiB at "
				f"5N = {5 * n} ({peak_5n / peak_n:.2f}x)"
			)
		print(
			f"speedup: 1 worker {floor.seconds / one.seconds:.2f}x, 2 workers {floor.seconds / two.seconds:.2f}x "
			f"naive; full resync {two.seconds / full:.0f}x faster than first sync"
		)
	finally:
		update_site_config("workers", "None", site_config_path=common)
		update_site_config("vtigercrm_sync_chunk_records", "None")
		frappe.destroy()


if __name__ == "__main__":
	main()
