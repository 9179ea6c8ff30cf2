"""Benchmark of the reconciliation of ids (``syncer/services/reconcile.py``): prints figures; asserts nothing.

    python benchmarks/reconcile.py                  # 100,000 accounts, 100,000 contacts, 50,000 orders
    python benchmarks/reconcile.py --accounts 20000

Loads VTiger's schema into a scratch database (``<VTIGER_TEST_DB>_reconcile``), bulk-inserts the records as VTiger
stores them (1 % of them deleted), and compares them with an "ERPNext" id list that lacks 1 % of the live records,
holds 1 % purged ones and links 1 % of the contacts and orders to the wrong record: the time of each comparison
on VTiger's side (SELECT only), as a reconciliation runs it. The ERPNext side is one indexed SELECT of
``vtiger_id`` per doctype and is not measured here.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from engine import ENTITY_INSERT, insert_many
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from vtiger_schema import connect_server, load_database, read_settings

from vtigercrm_sync.syncer.services.reconcile import compare_ids, link_differences

AT = datetime(2025, 1, 1, 8, 0, 0)


def fill(accounts: int, contacts: int, orders: int, database: str, rng: random.Random):
	"""Insert the records; return (accounts, contacts, orders) as lists of (crmid, reference)."""
	settings = read_settings()
	url = load_database(settings, database)
	conn = connect_server(settings, database)
	cur = conn.cursor()
	crmid = 100
	entity_rows, made = [], {"Accounts": [], "Contacts": [], "SalesOrder": []}
	for module, count in (("Accounts", accounts), ("Contacts", contacts), ("SalesOrder", orders)):
		for _ in range(count):
			crmid += 1
			deleted = 1 if rng.random() < 0.01 else 0
			entity_rows.append(
				(crmid, 1, 1, 1, module, "", AT, AT, 0, 1, deleted, 0, "CRM", f"{module} {crmid}")
			)
			made[module].append(crmid)

	insert_many(
		cur,
		ENTITY_INSERT,
		entity_rows,
	)
	insert_many(
		cur,
		"INSERT INTO vtiger_account (accountid, account_no, accountname) VALUES (%s,%s,%s)",
		[(a, f"ACC{a}", f"Account {a}") for a in made["Accounts"]],
	)
	contact_rows = [(c, f"CON{c}", f"Contact {c}", rng.choice(made["Accounts"])) for c in made["Contacts"]]
	insert_many(
		cur,
		"INSERT INTO vtiger_contactdetails (contactid, contact_no, lastname, accountid) VALUES (%s,%s,%s,%s)",
		contact_rows,
	)
	order_rows = [
		(o, f"SO{o}", f"Order {o}", rng.choice(made["Accounts"]), rng.choice(made["Contacts"]))
		for o in made["SalesOrder"]
	]
	insert_many(
		cur,
		"INSERT INTO vtiger_salesorder (salesorderid, salesorder_no, subject, accountid, contactid)"
		" VALUES (%s,%s,%s,%s,%s)",
		order_rows,
	)
	conn.close()
	return url, made, {c: a for c, _, _, a in contact_rows}, {o: c for o, _, _, _, c in order_rows}


def erpnext_side(ids: list[int], rng: random.Random) -> list[int]:
	"""What ERPNext holds: 1 % of the records missing, 1 % purged ids added."""
	kept = [i for i in ids if rng.random() >= 0.01]
	return kept + [10_000_000 + i for i in range(len(ids) // 100)]


def main() -> None:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument("--accounts", type=int, default=100_000)
	parser.add_argument("--contacts", type=int, default=100_000)
	parser.add_argument("--orders", type=int, default=50_000)
	args = parser.parse_args()
	rng = random.Random(11)
	database = f"{read_settings().database}_reconcile"
	started = time.perf_counter()
	url, made, contact_account, order_contact = fill(args.accounts, args.contacts, args.orders, database, rng)
	print(f"filled {database} in {time.perf_counter() - started:.1f} s")
	known = {module: erpnext_side(ids, rng) for module, ids in made.items()}
	wrong = {c: {a if rng.random() >= 0.01 else 1} for c, a in contact_account.items()}
	wrong_orders = {o: {c} if rng.random() >= 0.01 else set() for o, c in order_contact.items()}
	engine = create_engine(url.set(drivername="mysql+pymysql"))
	with Session(engine) as session:
		started = time.perf_counter()
		only_accounts = compare_ids(session, {"Accounts": known["Accounts"]})
		accounts_seconds = time.perf_counter() - started
		started = time.perf_counter()
		everything = compare_ids(session, known)
		contacts = link_differences(session, "Contacts", wrong)
		orders = link_differences(session, "SalesOrder", wrong_orders)
		all_seconds = time.perf_counter() - started
	print(
		f"{args.accounts:,} accounts: ids compared in {accounts_seconds:.2f} s "
		f"(gone {len(only_accounts.gone['Accounts']):,}, in the Recycle Bin {len(only_accounts.deleted['Accounts']):,},"
		f" missing {len(only_accounts.missing['Accounts']):,})"
	)
	print(
		f"{args.accounts:,} accounts + {args.contacts:,} contacts + {args.orders:,} orders, ids and links: "
		f"{all_seconds:.2f} s (links differing: {len(contacts):,} contacts, {len(orders):,} orders; orphaned "
		f"orders {len(everything.orphaned['SalesOrder']):,})"
	)
	engine.dispose()


if __name__ == "__main__":
	main()
