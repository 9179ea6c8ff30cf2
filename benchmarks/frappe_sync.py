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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import frappe
from engine import fill
from frappe.installer import update_site_config
from frappe.utils.background_jobs import get_redis_conn
from rq import Worker
from sqlalchemy import create_engine, text
from vtiger_schema import read_settings

from vtigercrm_sync.constants import CHUNK_DOCTYPE, LOG_DOCTYPE, SETTING_DOCTYPE, STATUS_QUEUED, job_id
from vtigercrm_sync.syncer.run.job import run_sync
from vtigercrm_sync.syncer.run.stages import QUEUE

DATABASE = f"{read_settings().database}_bench_frappe"
"""VTiger's scratch database: sessions sharing one MariaDB each set VTIGER_TEST_DB to a name of their own."""
NAIVE_ORDER = ("Customer", "Contact", "Address", "Sales Order")
LINKS = {
	"Sales Order": ("customer", "contact_person", "customer_address", "shipping_address_name"),
	"Customer": ("customer_primary_contact", "customer_primary_address"),
}


class Workers:
	"""Real ``bench worker`` processes on the long and the app's queue, and the peak RSS of them and their horses."""

	def __init__(self, count: int):
		env = {key: value for key, value in os.environ.items() if key != "CI"}
		command = [sys.executable, "-m", "frappe.utils.bench_helper", "frappe", "worker"]
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
			"tax_accounts": [
				{"vtiger_tax": tax, "account_head": account} for tax in ("tax1", "tax2", "tax3")
			],
		}
	)
	doc.flags.ignore_permissions = True
	doc.insert()
	frappe.db.commit()
	return doc.name


def sync(connection: str, full: bool) -> tuple[float, frappe._dict]:
	"""Start a run as Sync Now does and wait for its log's final status."""
	before = frappe.db.get_value(SETTING_DOCTYPE, connection, "last_log")
	started = time.perf_counter()
	frappe.get_doc(SETTING_DOCTYPE, connection).queue_run("CLI", full, "Administrator")
	frappe.db.commit()
	while True:
		time.sleep(0.05)
		frappe.db.rollback()
		log = frappe.db.get_value(SETTING_DOCTYPE, connection, "last_log")
		if log and log != before:
			row = frappe.db.get_value(LOG_DOCTYPE, log, ["*"], as_dict=True)
			if row.status not in ("Queued", "Running"):
				return time.perf_counter() - started, row


def naive(connection: str) -> tuple[float, int, int]:
	"""Write the connection's documents again with a plain insert loop; (seconds, documents, orders)."""
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
	written = 0
	started = time.perf_counter()
	for doctype in NAIVE_ORDER:
		for source in sources[doctype]:
			doc = frappe.copy_doc(source)
			for field in [f for f in doc.as_dict() if f.startswith("vtiger_")]:
				doc.set(field, None)
			if doctype == "Customer":
				doc.customer_name = f"{source.customer_name} naive"
			for field in LINKS.get(doctype, ()):
				doc.set(field, copies.get(doc.get(field)))
			for row in doc.get("links") or []:
				row.link_name = copies.get(row.link_name, row.link_name)
			doc.insert()
			if source.docstatus == 1:
				doc.submit()
			copies[source.name] = doc.name
			written += 1
			if written % 50 == 0:
				frappe.db.commit()
	frappe.db.commit()
	return time.perf_counter() - started, written, len(sources["Sales Order"])


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


def first_sync(connection: str, workers: int) -> tuple[float, frappe._dict, int]:
	"""A connection's first sync with ``workers`` workers; (seconds, log, peak RSS KiB)."""
	pool = Workers(workers)
	try:
		elapsed, log = sync(connection, full=False)
	finally:
		pool.stop()
	print(f"  first sync, {workers} worker(s): {log.status}, created {log.created}, failed {log.failed}")
	return elapsed, log, pool.peak_kib


def parallel(n: int, workers: int, company: str) -> None:
	"""One first sync of n orders on ``workers`` workers: duration, groups written again after a deadlock or a lock
	wait (the run's own count, and InnoDB's deadlocks on the whole server meanwhile), chunks re-run, failures."""
	(connection,) = fresh_data(n, company, f"{workers} workers")
	deadlocks, load = _innodb_deadlocks(), os.getloadavg()
	elapsed, log, _peak = first_sync(connection, workers)
	load = [max(a, b) for a, b in zip(load, os.getloadavg(), strict=True)]
	chunks = frappe.get_all(
		CHUNK_DOCTYPE,
		filters={"parent": log.name},
		fields=["status", "attempts", "enqueued", "lock_retries"],
	)
	rerun = sum(max(c.attempts - 1, c.enqueued or 0, 0) for c in chunks)
	failed = sum(c.status != "Done" for c in chunks)
	print(
		f"{workers} workers, {n} orders, {len(chunks)} chunks: {elapsed:.1f}s, {log.status}; groups retried after "
		f"a deadlock or lock wait {sum(c.lock_retries or 0 for c in chunks)} (InnoDB deadlocks on the server "
		f"meanwhile, any database: {_innodb_deadlocks() - deadlocks}), chunks re-run {rerun}, failed chunks "
		f"{failed}, failed records {log.failed}; read {log.records_read} of {log.total_records}; load average "
		f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min, the higher of start and end)"
	)


def _innodb_deadlocks() -> int:
	"""InnoDB's count of deadlocks on this server (MariaDB's ``Innodb_deadlocks``), for a difference."""
	row = frappe.db.sql("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'")
	return int(row[0][1]) if row else 0


def fresh_data(n: int, company: str, *labels: str) -> list[str]:
	"""Fill VTiger with n orders (the same data for each n) and make a connection per label."""
	first = random.randint(10, 900) * 1_000_000
	fill(n, first_crmid=first, database=DATABASE)
	return [make_connection(f"Benchmark {label} {first}", company) for label in labels]


def report(label: str, seconds: float, documents: int, orders: int, floor: float | None = None) -> None:
	ratio = f"  {floor / seconds:5.2f}x naive" if floor else ""
	print(
		f"{label:<24}{seconds:8.1f}s  {documents / seconds:7.1f} documents/s  {orders / seconds:6.1f} orders/s{ratio}",
		flush=True,
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
	parser.add_argument("--profile-out", help="with --profile, also save the whole profile to this file")
	parser.add_argument(
		"--rss-only", action="store_true", help="only the peak RSS of first syncs of N and 5N"
	)
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
		if args.rss_only:
			peaks = [first_sync(fresh_data(size, company, f"RSS {size}")[0], 1)[2] for size in (n, 5 * n)]
			print(
				f"peak RSS of a worker or horse: {peaks[0] / 1024:.1f} MiB at N = {n}, {peaks[1] / 1024:.1f} MiB "
				f"at 5N = {5 * n} ({peaks[1] / peaks[0]:.2f}x)"
			)
			return
		one_worker, two_workers = fresh_data(n, company, "1 worker", "2 workers")
		one, _log, peak_n = first_sync(one_worker, 1)
		floor, docs, orders = naive(one_worker)
		report("naive", floor, docs, orders)
		report("sync, 1 worker", one, docs, orders, floor)
		two, _log, _peak = first_sync(two_workers, 2)
		report("sync, 2 workers", two, docs, orders, floor)

		pool = Workers(2)
		try:
			quiet, _log = sync(two_workers, full=False)
			print(f"{'unchanged incremental':<24}{quiet:8.2f}s  {two / quiet:7.1f}x faster than first sync")
			full, _log = sync(two_workers, full=True)
			print(f"{'unchanged full resync':<24}{full:8.2f}s  {two / full:7.1f}x faster than first sync")
			touch_orders(args.k)
			changed, log_k = sync(two_workers, full=False)
			bound = 3 * args.k / n * two + 1
			print(
				f"{f'k = {args.k} changed of {n}':<24}{changed:8.2f}s  {changed / two:.4f} of first sync "
				f"(bound 3k/N x first + 1 s = {bound:.2f}s; updated {log_k.updated})"
			)
		finally:
			pool.stop()

		(five,) = fresh_data(5 * n, company, "5N")
		_t, _log, peak_5n = first_sync(five, 1)
		print(
			f"peak RSS of a worker or horse: {peak_n / 1024:.1f} MiB at N = {n}, {peak_5n / 1024:.1f} MiB at "
			f"5N = {5 * n} ({peak_5n / peak_n:.2f}x)"
		)
		print(
			f"speedup: 1 worker {floor / one:.2f}x, 2 workers {floor / two:.2f}x naive; "
			f"full resync {two / full:.0f}x faster than first sync"
		)
	finally:
		update_site_config("workers", "None", site_config_path=common)
		update_site_config("vtigercrm_sync_chunk_records", "None")
		frappe.destroy()


if __name__ == "__main__":
	main()
