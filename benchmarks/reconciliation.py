"""Benchmark of the VTiger Reconciliation report at N orders. Prints figures; asserts nothing.

Run from the bench's ``sites`` directory with the bench's Python, e.g.:

    cd ~/.cache/frappe15-bench/bench/sites
    ../env/bin/python /path/to/checkout/benchmarks/reconciliation.py --site test.localhost --sizes 5000 50000

For each N it fills VTiger with ``benchmarks/engine.py``'s data (N orders, N/5 accounts and contacts) and gives a
connection of its own the documents a sync would have left — each record's Customer, Contact or Sales Order with
VTiger's totals, currency and lines — bulk-inserted rather than synced (a first sync of 50,000 orders takes hours,
and the report reads only these fields). 1 % of the orders get another total in ERPNext and 1 % of the records
no document, so the report has differences to list. It then times the report (median of 3) and prints what it
found.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import frappe
from engine import fill
from frappe_sync import DATABASE, make_connection
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from vtiger_schema import read_settings

from vtigercrm_sync.constants import SETTING_DOCTYPE
from vtigercrm_sync.syncer.services.audit import order_money, record_states
from vtigercrm_sync.vtigercrm_sync.report.vtiger_reconciliation.vtiger_reconciliation import execute

STREAMS = {"Accounts": "Customer", "Contacts": "Contact", "SalesOrder": "Sales Order"}


def documents_for(connection: str, seed: int) -> int:
	"""Bulk-insert the documents a sync of the VTiger data would have made; returns how many."""
	prefix = frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix")
	rng = random.Random(seed)
	engine = create_engine(read_settings().database_url(DATABASE))
	with Session(engine) as session:
		states = {module: record_states(session, module) for module in STREAMS}
		money = order_money(session)
	engine.dispose()
	now, written = frappe.utils.now(), 0
	common = {"creation": now, "modified": now, "owner": "Administrator", "modified_by": "Administrator"}
	for module, doctype in STREAMS.items():
		docs, items = [], []
		for crmid in sorted(states[module]):
			if rng.random() < 0.01:
				continue  # a record ERPNext lacks
			name = f"BENCH-{connection[-6:]}-{crmid}"
			doc = {
				**common,
				"name": name,
				"vtiger_id": f"{prefix}{crmid}",
				"vtiger_connection": connection,
				"vtiger_module": module,
				"docstatus": 0,
			}
			if doctype == "Sales Order":
				vtiger = money[crmid]
				total = vtiger.total + (1 if rng.random() < 0.01 else 0)
				doc.update(grand_total=total, currency=vtiger.currency or "USD")
				items += [
					{
						**common,
						"name": f"{name}-{i}",
						"parent": name,
						"parenttype": doctype,
						"parentfield": "items",
					}
					for i in range(vtiger.lines)
				]
			docs.append(doc)
		_bulk(doctype, docs)
		_bulk("Sales Order Item", items)
		written += len(docs)
	frappe.db.commit()
	return written


def _bulk(doctype: str, rows: list[dict]) -> None:
	if rows:
		fields = list(rows[0])
		frappe.db.bulk_insert(doctype, fields, [[row[f] for f in fields] for row in rows], chunk_size=5000)


def main() -> None:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument("--site", required=True)
	parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
	args = parser.parse_args()
	frappe.init(site=args.site, sites_path=".")
	frappe.connect()
	frappe.set_user("Administrator")
	company = frappe.db.get_single_value("Global Defaults", "default_company")
	for n in args.sizes:
		first = random.randint(10, 900) * 1_000_000
		fill(n, first_crmid=first, database=DATABASE)
		connection = make_connection(f"Reconciliation {n} {first}", company)
		documents = documents_for(connection, first)
		times, rows = [], []
		for _ in range(3):
			started = time.perf_counter()
			rows = execute({"connection": connection})[1]
			times.append(time.perf_counter() - started)
		kinds: dict[str, int] = {}
		for row in rows:
			kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
		found = ", ".join(f"{count} {kind}" for kind, count in sorted(kinds.items()))
		print(
			f"N = {n} orders ({documents} documents): report {statistics.median(times):.2f} s "
			f"(median of 3; runs {', '.join(f'{t:.2f}' for t in times)}); {len(rows)} rows: {found}"
		)


if __name__ == "__main__":
	main()
