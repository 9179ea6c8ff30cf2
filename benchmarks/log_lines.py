"""Benchmark of opening a Sync Log of many lines. Prints figures; asserts nothing.

Run from the bench's ``sites`` directory with the bench's Python, e.g.:

    cd ~/.cache/frappe15-bench/bench/sites
    ../env/bin/python /path/to/checkout/benchmarks/log_lines.py --site test.localhost --lines 50000

It makes a log with N lines, bulk-inserted the way the installed version stores them (child rows of the log before
issue 16, rows of the line doctype after): a quarter Failed over 40 reasons, a quarter Warnings over 10, the rest
Skipped and Filtered. Then it times, median of 3, what opening the log's form costs on the server (``getdoc``: the
document and its onload, the grouped summary included, plus the first page of lines where lines are paged), the
grouped summary alone, and reading the failed records as Retry failed records does, and the size of the form's
response. Running it with the previous version installed gives the "before" figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import frappe
from frappe.desk.form.load import getdoc
from frappe.utils import now_datetime

from vtigercrm_sync.constants import LOG_DOCTYPE, LOG_LINE_DOCTYPE

ACTIONS = ("Failed", "Warning", "Skipped", "Filtered")


def line(n: int) -> dict:
	action = ACTIONS[n % 4]
	crmid = 1_000_000 + n
	message = {
		"Failed": f"SalesOrder #{crmid}, sales_order.items[1].field{n % 40}: value '{n}' refused",
		"Warning": f"SalesOrder #{crmid}, sales_order.contact{n % 10}: x{n}@example.com refused",
		"Skipped": "",
		"Filtered": f"status 'Cancelled' is filtered out ({n})",
	}[action]
	return {
		"vtiger_module": "SalesOrder",
		"vtiger_id": f"so/{crmid}",
		"vtiger_record": crmid,
		"entity": "sales_order",
		"target_doctype": "Sales Order",
		"target_name": f"SAL-ORD-{crmid}",
		"action": action,
		"message": message,
	}


def make_log(n: int) -> str:
	log = frappe.get_doc(
		{"doctype": LOG_DOCTYPE, "status": "Partial Success", "trigger": "CLI", "started_at": now_datetime()}
	).insert(ignore_permissions=True)
	lines = [line(i) for i in range(n)]
	if frappe.get_meta(LOG_LINE_DOCTYPE).istable:  # the previous version: child rows of the log
		now, fields = now_datetime(), list(lines[0])
		frappe.db.bulk_insert(
			LOG_LINE_DOCTYPE,
			["name", "parent", "parenttype", "parentfield", "idx", "creation", "modified", *fields],
			[
				[frappe.generate_hash(length=12), log.name, LOG_DOCTYPE, "lines", i, now, now]
				+ [row[f] for f in fields]
				for i, row in enumerate(lines, start=1)
			],
			chunk_size=5000,
		)
	else:
		from vtigercrm_sync.syncer.observer.log_lines import insert_lines

		insert_lines(log.name, lines)
	frappe.db.commit()
	return log.name


def open_form(log: str) -> int:
	"""What the form's load asks of the server; the size of its response."""
	frappe.clear_document_cache(LOG_DOCTYPE, log)
	frappe.local.response = frappe._dict(docs=[])
	getdoc(LOG_DOCTYPE, log)
	size = len(json.dumps([doc.as_dict() for doc in frappe.local.response.docs], default=str))
	if not frappe.get_meta(LOG_LINE_DOCTYPE).istable:
		from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_log.vtigercrm_sync_log import get_lines

		size += len(json.dumps(get_lines(log), default=str))
	return size


def timed(work, runs: int = 3) -> tuple[float, object]:
	times, result = [], None
	for _ in range(runs):
		started = time.perf_counter()
		result = work()
		times.append(time.perf_counter() - started)
	return statistics.median(times), result


def main() -> None:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument("--site", required=True)
	parser.add_argument("--lines", type=int, nargs="+", default=[50000])
	args = parser.parse_args()
	frappe.init(site=args.site, sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")
	storage = "child table" if frappe.get_meta(LOG_LINE_DOCTYPE).istable else "doctype of its own"
	for n in args.lines:
		started = time.perf_counter()
		log = make_log(n)
		filled = time.perf_counter() - started
		opened, size = timed(lambda: open_form(log))
		grouped, groups = timed(lambda: frappe.get_doc(LOG_DOCTYPE, log).reasons())
		failed, records = timed(lambda: frappe.get_doc(LOG_DOCTYPE, log).failed_records())
		print(
			f"{n} lines ({storage}; inserted in {filled:.1f} s): open the form {opened:.3f} s, "
			f"{size / 1024:.0f} KiB sent; grouped summary {grouped:.3f} s ({len(groups)} groups); "
			f"failed records {failed:.3f} s ({len(records)}) — medians of 3"
		)
		frappe.db.rollback()


if __name__ == "__main__":
	main()
