"""Benchmark of the engine: read + map N VTiger sales orders from MariaDB. Prints figures; asserts nothing.

    python benchmarks/engine.py                      # N = 5,000 and 50,000, standard preset
    python benchmarks/engine.py --sizes 1000 --preset insurance_household
    python benchmarks/engine.py --database my_scratch --runs 5   # median of 5 timed runs per N

For each N it loads VTiger's schema into a scratch database, bulk-inserts N sales orders (with N/5 accounts, N/5
contacts, 1-4 lines each over 70 products and services, and the insurance preset's custom-field columns), then,
in a fresh child process, reads the SalesOrder stream and plans every record. Time is measured in one child (or the
median of ``--runs`` children, as the machine may be busy) and peak memory (tracemalloc, plus the child's peak RSS)
in another, so tracing does not distort the timing.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from vtiger_schema import connect_server, load_database, read_settings

from vtigercrm_sync.config.config import load_handler_config, load_preset
from vtigercrm_sync.database.engine import ConnectionSettings
from vtigercrm_sync.syncer.processor.base import PlanContext
from vtigercrm_sync.syncer.processor.planner import BundlePlanner
from vtigercrm_sync.syncer.services.query import VTigerReader

DEFAULT_DATABASE = "vtigercrm_sync_bench"
START = datetime(2024, 1, 1, 8, 0, 0)
CHUNK = 5000


ENTITY_INSERT = (
	"INSERT INTO vtiger_crmentity (crmid, smcreatorid, smownerid, modifiedby, setype, description, createdtime,"
	" modifiedtime, version, presence, deleted, smgroupid, source, label) VALUES"
	" (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
)


def insert_many(cur, sql: str, rows: list[tuple]) -> None:
	"""Bulk insert in chunks of CHUNK rows (one statement per chunk)."""
	for start in range(0, len(rows), CHUNK):
		cur.executemany(sql, rows[start : start + CHUNK])


def insurance_columns() -> list[str]:
	preset = load_preset("insurance_household")
	names = {s for e in preset.entities for f in e.fields for s in f.sources if s.startswith("cf_")}
	names |= {flt.column for flt in preset.streams.values() if flt}
	return sorted(names)


def fill(n: int, seed: int = 7, first_crmid: int = 100, database: str = DEFAULT_DATABASE) -> None:
	"""Bulk-insert n sales orders the way VTiger stores them (crmentity, module, address, cf and line rows)."""
	settings = read_settings()
	load_database(settings, database)
	conn = connect_server(settings, database)
	rng = random.Random(seed)
	cur = conn.cursor()
	columns = insurance_columns()
	for column in columns:
		cur.execute(f"ALTER TABLE vtiger_salesordercf ADD COLUMN `{column}` VARCHAR(100) DEFAULT ''")
	crmid = first_crmid
	clock = START
	entity_rows: list[tuple] = []

	def entity(setype: str, label: str) -> int:
		nonlocal crmid, clock
		crmid += 1
		clock += timedelta(seconds=rng.choice((0, 0, 1)))  # many ties on one second
		entity_rows.append((crmid, 1, 1, 1, setype, "", clock, clock, 0, 1, 0, 0, "CRM", label))
		return crmid

	products, services = [], []
	for i in range(50):
		products.append(
			(entity("Products", f"Product {i}"), f"PRO{first_crmid}-{i}", f"Product {i}", f"P-{i}")
		)
	for i in range(20):
		services.append((entity("Services", f"Service {i}"), f"SER{first_crmid}-{i}", f"Service {i}"))
	accounts, contacts = [], []
	for i in range(max(1, n // 5)):
		accounts.append(entity("Accounts", f"Account {i}"))
	for i in range(max(1, n // 5)):
		contacts.append((entity("Contacts", f"Contact {i}"), rng.choice(accounts)))
	orders = [
		(entity("SalesOrder", f"Order {i}"), rng.choice(accounts), rng.choice(contacts)[0]) for i in range(n)
	]

	insert_many(
		cur,
		ENTITY_INSERT,
		entity_rows,
	)
	insert_many(
		cur,
		"INSERT INTO vtiger_products (productid, product_no, productname, productcode, unit_price, discontinued,"
		" usageunit, currency_id) VALUES (%s,%s,%s,%s,10,1,'Each',1)",
		products,
	)
	insert_many(
		cur,
		"INSERT INTO vtiger_service (serviceid, service_no, servicename, unit_price, discontinued, service_usageunit,"
		" currency_id) VALUES (%s,%s,%s,20,1,'Hours',1)",
		services,
	)
	insert_many(
		cur,
		"INSERT INTO vtiger_account (accountid, account_no, accountname, parentid, website, email1, employees)"
		" VALUES (%s,%s,%s,0,'','',0)",
		[(a, f"ACC{a}", f"Account Łódź {a}") for a in accounts],
	)
	for table, prefix in (("vtiger_accountbillads", "bill"), ("vtiger_accountshipads", "ship")):
		insert_many(
			cur,
			f"INSERT INTO {table} (accountaddressid, {prefix}_street, {prefix}_city, {prefix}_code, {prefix}_country,"
			f" {prefix}_state, {prefix}_pobox) VALUES (%s,%s,%s,'10001','USA','NY','')",
			[(a, f"{a} Main St", "New York") for a in accounts],
		)
	insert_many(cur, "INSERT INTO vtiger_accountscf (accountid) VALUES (%s)", [(a,) for a in accounts])
	insert_many(
		cur,
		"INSERT INTO vtiger_contactdetails (contactid, contact_no, accountid, salutation, firstname, lastname, email,"
		" phone, mobile, reportsto) VALUES (%s,%s,%s,'Mr.','Jürgen',%s,%s,'555-0100','','0')",
		[(c, f"CON{c}", a, f"Müller {c}", f"c{c}@example.org") for c, a in contacts],
	)
	insert_many(
		cur,
		"INSERT INTO vtiger_contactaddress (contactaddressid, mailingstreet, mailingcity, mailingzip, mailingcountry)"
		" VALUES (%s,'1 Elm St','Boston','02101','USA')",
		[(c,) for c, _ in contacts],
	)
	insert_many(
		cur,
		"INSERT INTO vtiger_contactsubdetails (contactsubscriptionid) VALUES (%s)",
		[(c,) for c, _ in contacts],
	)
	insert_many(cur, "INSERT INTO vtiger_contactscf (contactid) VALUES (%s)", [(c,) for c, _ in contacts])
	order_rows, bill, ship, cf, lines, charges = [], [], [], [], [], []
	for so, account, contact in orders:
		count = rng.randint(1, 4)
		net = 0
		for seq in range(1, count + 1):
			item = rng.choice(products)[0] if rng.random() < 0.7 else rng.choice(services)[0]
			qty, price = rng.randint(1, 5), rng.choice((10, 20, 35.5))
			lines.append((so, item, seq, qty, price, 0, 0, "", "", 0, 4.5, 0, 0, "", 0, 0))
			net += qty * price
		total = round(net * 1.045, 2)
		order_rows.append(
			(
				so,
				f"Order {so}",
				0,
				"",
				f"SO{so}",
				0,
				contact,
				"",
				"",
				0,
				0,
				0,
				total,
				total,
				"individual",
				None,
				None,
				0,
				account,
				"",
				"",
				"Created",
				1,
				1,
				0,
				"null",
				net,
				0,
				"",
			)
		)
		bill.append((so, "New York", "10001", "USA", "NY", f"{so} Main St", ""))
		ship.append((so, "New York", "10001", "USA", "NY", f"{so} Main St", ""))
		values = {c: "" for c in columns}
		values.update(
			{
				"cf_2141": "Active",
				"cf_2059": "2025-01-01",
				"cf_2293": "Ana",
				"cf_2297": f"García {so}",
				"cf_2321": "123-45-6789",
				"cf_2737": "200 Ocean Dr",
				"cf_2739": "Miami",
				"cf_2765": "FL",
				"cf_2743": "33139",
				"cf_1465": "4111111111111111",
				"cf_1473": "12/27",
				"cf_2347": "Luis",
				"cf_2351": "García",
				"cf_2405": "Sofía",
				"cf_2409": "García",
			}
		)
		cf.append((so, *[values[c] for c in columns]))
		charges.append((so, '{"1":{"value":null,"taxes":{"1":0,"2":0,"3":0}}}'))
	insert_many(
		cur,
		"INSERT INTO vtiger_salesorder (salesorderid, subject, potentialid, customerno, salesorder_no, quoteid,"
		" contactid, carrier, pending, adjustment, salescommission, exciseduty, total, subtotal, taxtype,"
		" discount_percent, discount_amount, s_h_amount, accountid, terms_conditions, purchaseorder, sostatus,"
		" currency_id, conversion_rate, enable_recurring, compound_taxes_info, pre_tax_total, s_h_percent, tags)"
		" VALUES (" + ",".join(["%s"] * 29) + ")",
		order_rows,
	)
	for table, key, prefix, rows in (
		("vtiger_sobillads", "sobilladdressid", "bill", bill),
		("vtiger_soshipads", "soshipaddressid", "ship", ship),
	):
		insert_many(
			cur,
			f"INSERT INTO {table} ({key}, {prefix}_city, {prefix}_code, {prefix}_country, {prefix}_state,"
			f" {prefix}_street, {prefix}_pobox) VALUES (%s,%s,%s,%s,%s,%s,%s)",
			rows,
		)
	insert_many(
		cur,
		"INSERT INTO vtiger_salesordercf (salesorderid, "
		+ ", ".join(f"`{c}`" for c in columns)
		+ ") VALUES ("
		+ ",".join(["%s"] * (len(columns) + 1))
		+ ")",
		cf,
	)
	insert_many(
		cur,
		"INSERT INTO vtiger_inventoryproductrel (id, productid, sequence_no, quantity, listprice, discount_percent,"
		" discount_amount, comment, description, incrementondel, tax1, tax2, tax3, image, purchase_cost, margin)"
		" VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
		lines,
	)
	insert_many(cur, "INSERT INTO vtiger_inventorychargesrel (recordid, charges) VALUES (%s,%s)", charges)
	conn.commit()
	conn.close()


def measure(database: str, n: int, preset: str, batch_size: int, trace: bool) -> dict:
	settings = read_settings()
	url = settings.database_url(database)
	reader = VTigerReader.connect(
		ConnectionSettings.from_url(url), load_preset(preset), batch_size=batch_size
	)
	planner = BundlePlanner(
		reader.mapping,
		PlanContext(hash_key=b"bench", defaults={"country": "United States"}),
		load_handler_config(),
	)
	if trace:
		tracemalloc.start()
	started = time.perf_counter()
	until = reader.signpost()
	records = plans = failed = 0
	for batch in reader.iter_changes("SalesOrder", None, until):
		for result in planner.plan_all(batch.bundles):
			records += 1
			plans += len(result.plans)
			failed += result.failed
	elapsed = time.perf_counter() - started
	figures = {"n": n, "records": records, "plans": plans, "failed": failed, "seconds": round(elapsed, 3)}
	if trace:
		figures["traced_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 2)
	figures["peak_rss_mib"] = round(peak_rss_kib() / 1024, 1)
	return figures


def peak_rss_kib() -> int:
	"""This process's own high-water RSS (VmHWM). getrusage's ru_maxrss would also count the parent's peak,
	which Linux copies into a forked child, and the parent just bulk-loaded the database."""
	for line in Path("/proc/self/status").read_text().splitlines():
		if line.startswith("VmHWM:"):
			return int(line.split()[1])
	return 0


def child(database: str, n: int, preset: str, batch_size: int, trace: bool) -> dict:
	command = [
		sys.executable,
		__file__,
		"--database",
		database,
		"--measure",
		str(n),
		"--preset",
		preset,
		"--batch-size",
		str(batch_size),
	]
	output = subprocess.run(
		[*command, *(["--trace"] if trace else [])], capture_output=True, text=True, check=True
	)
	return json.loads(output.stdout)


def main() -> None:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 50000])
	parser.add_argument("--preset", default="standard", choices=("standard", "insurance_household"))
	parser.add_argument("--batch-size", type=int, default=1000)
	parser.add_argument(
		"--database", default=DEFAULT_DATABASE, help="scratch database (dropped and re-created)"
	)
	parser.add_argument("--runs", type=int, default=1, help="timed runs per N; the median is reported")
	parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
	parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
	args = parser.parse_args()
	if args.measure:
		print(json.dumps(measure(args.database, args.measure, args.preset, args.batch_size, args.trace)))
		return
	print(f"preset={args.preset} batch_size={args.batch_size} runs={args.runs} (median)")
	print(
		f"{'N':>7} {'load s':>7} {'read+map s':>10} {'orders/s':>9} {'plans/s':>9} {'peak traced MiB':>15} {'peak RSS MiB':>12}"
	)
	rows = []
	for n in args.sizes:
		started = time.perf_counter()
		fill(n, database=args.database)
		load = time.perf_counter() - started
		runs = [child(args.database, n, args.preset, args.batch_size, trace=False) for _ in range(args.runs)]
		timed = {**runs[0], "seconds": statistics.median(run["seconds"] for run in runs)}
		timed["peak_rss_mib"] = statistics.median(run["peak_rss_mib"] for run in runs)
		traced = child(args.database, n, args.preset, args.batch_size, trace=True)
		rows.append((n, traced["traced_peak_mib"], traced["peak_rss_mib"]))
		print(
			f"{n:>7} {load:>7.1f} {timed['seconds']:>10.2f} {timed['records'] / timed['seconds']:>9.0f}"
			f" {timed['plans'] / timed['seconds']:>9.0f} {traced['traced_peak_mib']:>15.1f} {timed['peak_rss_mib']:>12.1f}"
			f"   (records {timed['records']}, failed {timed['failed']})"
		)
	if len(rows) > 1:
		(n0, t0, r0), (n1, t1, r1) = rows[0], rows[-1]
		print(f"peak memory ratio N={n1} / N={n0}: traced {t1 / t0:.2f}x, RSS {r1 / r0:.2f}x")


if __name__ == "__main__":
	main()
