"""Benchmark of a full sync inside a bench site. Prints figures; asserts nothing.

Run from the bench's ``sites`` directory with the bench's Python, e.g.:

    cd /opt/bench/sites && ../env/bin/python /path/to/checkout/benchmarks/frappe_sync.py --site vtiger.test --n 1000

It fills a scratch VTiger database with N sales orders (see ``benchmarks/engine.py``; crmids start at a random height so
documents of earlier runs are never reused), creates a VTigerCRM Sync connection to it, runs one full sync inline (as
the background job does) and then a second, unchanged run, and prints bundles per second and the re-run's time.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import frappe
from engine import DATABASE, fill
from vtiger_schema import read_settings

from vtigercrm_sync.constants import LOG_DOCTYPE, SETTING_DOCTYPE
from vtigercrm_sync.syncer.handler.job import run_sync


def connection(title: str, company: str) -> str:
	url = read_settings().database_url(DATABASE)
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
			"batch_size": 500,
		}
	)
	doc.flags.ignore_permissions = True
	doc.insert()
	frappe.db.commit()
	return doc.name


def timed_run(name: str) -> tuple[float, frappe._dict]:
	started = time.perf_counter()
	run_sync(name, trigger="CLI", full=True, user="Administrator")
	elapsed = time.perf_counter() - started
	log = frappe.get_doc(LOG_DOCTYPE, frappe.db.get_value(SETTING_DOCTYPE, name, "last_log"))
	return elapsed, log


def main() -> None:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument("--site", required=True)
	parser.add_argument("--n", type=int, default=1000)
	args = parser.parse_args()
	first = random.randint(10, 900) * 1_000_000
	started = time.perf_counter()
	fill(args.n, first_crmid=first)
	print(f"VTiger filled with {args.n} orders in {time.perf_counter() - started:.1f}s")
	frappe.init(site=args.site, sites_path=".")
	frappe.connect()
	try:
		frappe.set_user("Administrator")
		company = frappe.db.get_single_value("Global Defaults", "default_company")
		name = connection(f"Benchmark {first}", company)
		elapsed, log = timed_run(name)
		print(
			f"first run:  {elapsed:7.1f}s  {args.n / elapsed:6.1f} bundles/s  status {log.status}  "
			f"created {log.created} updated {log.updated} skipped {log.skipped} failed {log.failed}"
		)
		elapsed, log = timed_run(name)
		print(
			f"unchanged:  {elapsed:7.1f}s  {args.n / elapsed:6.1f} bundles/s  status {log.status}  "
			f"created {log.created} updated {log.updated} skipped {log.skipped} failed {log.failed}"
		)
	finally:
		frappe.destroy()


if __name__ == "__main__":
	main()
