"""Real VTiger 8.2 data into a fresh ERPNext site: what lands, before and after the tax accounts are mapped.
Prints figures (a Markdown table and the failure reasons); asserts nothing.

It starts the kit's real VTiger CRM 8.2.0 (``../shared/vtiger-server``, through ``tests/vtiger_server.py``; the kit
drops and reloads the VTiger database on start) and fills it through VTiger's own web service, seeded: 30 accounts
with billing and shipping addresses (one is deleted after its 2 orders, which then rightly fail), 59 contacts with
non-ASCII names and e-mail local parts (``chloé.17@…``) and phones with extensions, products and services in the
usage units Each/Pack/Box/Dozen/Lb and Hours/Days/Incidents, 77 sales orders with about 185 lines (fractional
quantities, group and individual tax, discounts, shipping & handling with its tax, adjustments, USD and EUR, orders
of one account with identical and with different addresses). It then syncs that database inline (as the job does
under tests) into the site with the standard preset: first with a connection as the form creates it (no tax rows),
then after the form's "Create Tax Accounts" and a Full Resync, then (a settings change on documents that exist)
after every tax row that Create Tax Accounts mapped to a non-Tax account is remapped to a new Tax account and a Full
Resync; it prints VTiger against what landed, as a Markdown table, and the Sync Log's failure and warning reasons.

Use a fresh site (``frappe-bench site`` re-makes one), run from the bench's ``sites`` directory with its Python:

    export FRAPPE_TEST_SITE=realdata.localhost
    ../shared/frappe-bench/frappe-bench site /path/to/checkout
    cd ~/.cache/frappe15-bench/bench/sites
    ../env/bin/python /path/to/checkout/benchmarks/real_vtiger.py --site realdata.localhost

VTiger runs on VTIGER_PORT (default here 8093) with database VTIGER_DB (vtiger_realdata) and state dir
VTIGER_SERVER_DIR (~/.cache/vtiger82-server-realdata), so it never meets another session's server; it is stopped
at the end unless ``--keep-server``.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import time
from collections import Counter
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(CHECKOUT / "tests"))
os.environ.setdefault("VTIGER_PORT", "8093")
os.environ.setdefault("VTIGER_DB", "vtiger_realdata")
os.environ.setdefault("VTIGER_SERVER_DIR", str(Path.home() / ".cache" / "vtiger82-server-realdata"))

import frappe
from frappe.utils import flt
from sqlalchemy import create_engine, text
from vtiger_inventory import euro_currency
from vtiger_server import VTigerServer, start_server, stop_server

from vtigercrm_sync.constants import LOG_DOCTYPE, LOG_LINE_DOCTYPE, SETTING_DOCTYPE
from vtigercrm_sync.syncer.services.webservice import VTigerWebService, WebServiceSettings

SEED = 20261130
ACCOUNTS, CONTACTS, ORDERS, ORPHAN_ORDERS = 30, 59, 77, 2

COMPANY_WORDS = [
	"Søren's Smørrebrød", "Łukasz Żółć", "Müller & Söhne", "Chloé Créations", "Ærø Bryghus", "Zürich Uhren",
	"Café Noël", "Kraków Stal", "Göteborg Träd", "Ñandú Textil", "Ørsted Fisk", "Škoda Díly", "Bäckerei Groß",
	"Łódź Przędza", "Évora Vinhos", "Dvořák Hudba", "Åre Skidor", "Straße Bau", "Jürgen Möbel", "Fjällräv Ulla",
	"Provençal Huiles", "São Paulo Café", "Kaffee Größe", "Hôtel Étoile", "Ølstue Nørre", "Żabka Sklep",
	"Reykjavík Ís", "Mañana Frutas", "Cœur Bijoux", "Tōkyō Trading",
]  # fmt: skip
SUFFIXES = ["ApS", "Sp. z o.o.", "GmbH", "SARL", "AB", "S.A.", "s.r.o.", "Ltd"]
FIRST_NAMES = [
	"Chloé", "Søren", "Łukasz", "Jürgen", "Zoë", "Åsa", "Ñuria", "Dvořák", "Renée", "Bjørn", "Małgorzata",
	"Émile", "Anaïs", "Håkon", "Grzegorz", "Anna", "Peter", "Ólafur", "Ingrid", "José",
]  # fmt: skip
LAST_NAMES = [
	"Dubois", "Jørgensen", "Wiśniewski", "Müller", "Ærlig", "Nowak", "Brontë", "Gómez", "Straße", "Østergård",
	"Kowalczyk", "Lefèvre", "Smith", "Þórsson", "Núñez",
]  # fmt: skip
PLACES = [
	("Nørrebrogade {n}", "København", "2200", "Danmark"),
	("ul. Floriańska {n}", "Kraków", "31-019", "Polska"),
	("Königstraße {n}", "Stuttgart", "70173", "Deutschland"),
	("Rue de la Paix {n}", "Paris", "75002", "France"),
	("Bahnhofstrasse {n}", "Zürich", "8001", "Schweiz"),
	("Calle Mayor {n}", "Madrid", "28013", "España"),
	("Drottninggatan {n}", "Stockholm", "111 51", "Sverige"),
	("{n} Main Street", "Springfield", "62701", "USA"),
	("Havnegade {n}", "Århus", "8000", "Denmark"),
	("Magazynowa {n}", "Wieliczka", "32-020", "Poland"),
]
PHONES = [
	"+45 12 34 56 {n:02d} ext. 9",
	"+48 601 234 {n:03d}",
	"+49 30 1234{n:03d} x12",
	"(555) 010-{n:04d} ext 7",
	"+33 1 42 68 {n:02d} 00",
	"+41 44 668 18 {n:02d} Durchwahl 3",
]
PRODUCTS = [  # name, usage unit, unit price, taxes (VTiger percentages)
	("Widget Ø", "Each", "10.00", {"tax1": "4.5"}),
	("Schrauben Packung", "Pack", "4.99", {"tax1": "4.5", "tax2": "10"}),
	("Kartong Äpplen", "Box", "33.335", {"tax2": "10"}),
	("Œufs frais", "Dozen", "3.60", {}),
	("Kaffee Größe L", "Lb", "12.99", {"tax1": "4.5"}),
	("Łożysko kulkowe", "Each", "0.995", {"tax1": "4.5", "tax2": "10"}),
	("Caixa Ferramentas", "Box", "80.333", {"tax2": "10"}),
]
SERVICES = [
	("Conseil é", "Hours", "80.00", {"tax3": "12.5"}),
	("Montage vor Ort", "Days", "640.50", {"tax1": "4.5", "tax3": "12.5"}),
	("Support 日本", "Incidents", "45.50", {"tax3": "12.5"}),
]
QUANTITIES = ["1", "2", "3", "5", "10", "2.5", "0.75", "1.5", "2.25", "12", "0.5"]
GROUP_TAXES = [
	{},
	{"tax1": "4.5"},
	{"tax2": "10"},
	{"tax1": "4.5", "tax3": "12.5"},
	{"tax1": "4.5", "tax2": "10"},
]


def half_up(value) -> Decimal:
	return Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)


# ----------------------------------------------------------------------------------------------------------------
# VTiger, filled through its own web service
# ----------------------------------------------------------------------------------------------------------------


def address(prefix: str, place: tuple[str, str, str, str], n: int) -> dict[str, str]:
	street, city, code, country = place
	return {
		f"{prefix}_street": street.format(n=n),
		f"{prefix}_city": city,
		f"{prefix}_code": code,
		f"{prefix}_country": country,
	}


def fill_vtiger(server: VTigerServer) -> dict:
	"""Create the data set through VTiger's web service; returns the ws ids that matter."""
	rng = random.Random(SEED)
	ws = VTigerWebService(WebServiceSettings(server.url, server.username, server.access_key, timeout=120))
	user = ws.login()
	euro = euro_currency(ws)
	usd = ws.query("select id from Currency where currency_code = 'USD'")[0]["id"]

	items = []  # (ws id, taxes)
	for name, unit, price, taxes in PRODUCTS:
		record = ws.create(
			"Products",
			{
				"productname": name,
				"usageunit": unit,
				"unit_price": price,
				"discontinued": "1",
				"qtyinstock": "100",
				"assigned_user_id": user,
				**taxes,
			},
		)
		items.append((record["id"], taxes))
	for name, unit, price, taxes in SERVICES:
		record = ws.create(
			"Services",
			{
				"servicename": name,
				"service_usageunit": unit,
				"unit_price": price,
				"discontinued": "1",
				"assigned_user_id": user,
				**taxes,
			},
		)
		items.append((record["id"], taxes))

	accounts = []  # (ws id, billing fields, shipping fields)
	for i in range(ACCOUNTS):
		bill = address("bill", rng.choice(PLACES), rng.randint(1, 99))
		ship = (
			{k.replace("bill_", "ship_"): v for k, v in bill.items()}
			if rng.random() < 0.3
			else address("ship", rng.choice(PLACES), rng.randint(1, 99))
		)
		name = f"{COMPANY_WORDS[i % len(COMPANY_WORDS)]} {rng.choice(SUFFIXES)}"
		record = ws.create(
			"Accounts",
			{
				"accountname": name,
				"assigned_user_id": user,
				"phone": rng.choice(PHONES).format(n=i),
				"website": f"https://example-{i}.org",
				**bill,
				**ship,
			},
		)
		accounts.append((record["id"], bill, ship))
	live_accounts, orphan = accounts[:-1], accounts[-1]

	contacts_of: dict[str, list[str]] = {}
	for i in range(CONTACTS):
		first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
		account = live_accounts[i % len(live_accounts)][0]
		fields = {
			"firstname": first,
			"lastname": last,
			"email": f"{first.lower()}.{i}@example.org",
			"phone": rng.choice(PHONES).format(n=i),
			"account_id": account,
			"assigned_user_id": user,
			**{
				k.replace("bill_", "mailing").replace("mailingcode", "mailingzip"): v
				for k, v in address("bill", rng.choice(PLACES), i).items()
			},
		}
		if rng.random() < 0.4:
			fields["mobile"] = rng.choice(PHONES).format(n=i + 50)
		contacts_of.setdefault(account, []).append(ws.create("Contacts", fields)["id"])

	orders, lines = [], 0
	site_addresses: dict[str, dict[str, str]] = {}
	for i in range(ORDERS):
		account, bill, ship = orphan if i >= ORDERS - ORPHAN_ORDERS else live_accounts[i % len(live_accounts)]
		kind = rng.random()
		if kind < 0.5:  # the account's own addresses
			order_bill, order_ship = bill, ship
		elif kind < 0.8:  # a delivery site of the account, the same on each of its orders
			order_bill = bill
			order_ship = site_addresses.setdefault(
				account, address("ship", rng.choice(PLACES), 100 + len(site_addresses))
			)
		else:  # both different, one-off
			order_bill = address("bill", rng.choice(PLACES), 200 + i)
			order_ship = address("ship", rng.choice(PLACES), 300 + i)
		taxtype = "individual" if rng.random() < 0.4 else "group"
		group_taxes = rng.choice(GROUP_TAXES)
		line_items = []
		for _ in range(rng.choice([1, 1, 2, 3, 3, 3, 4])):
			item, taxes = rng.choice(items)
			line = {
				"productid": item,
				"quantity": rng.choice(QUANTITIES),
				"listprice": f"{rng.uniform(0.5, 150):.3f}",
				**(taxes if taxtype == "individual" else group_taxes),
			}
			if rng.random() < 0.2:
				line["discount_percent"] = rng.choice(["5", "10", "12.5"])
			elif rng.random() < 0.1:
				line["discount_amount"] = "1.25"
			line_items.append(line)
		order = {
			"subject": f"Bestellung {i + 1} — {rng.choice(['Frühjahr', 'Été', 'Zima', 'Høst'])}",
			"account_id": account,
			"sostatus": rng.choice(["Created", "Approved", "Delivered"]),
			"invoicestatus": "AutoCreated",
			"assigned_user_id": user,
			"productid": line_items[0]["productid"],
			"hdnTaxType": taxtype,
			"LineItems": line_items,
			**order_bill,
			**order_ship,
		}
		if contacts_of.get(account) and rng.random() < 0.85:
			order["contact_id"] = rng.choice(contacts_of[account])
		if rng.random() < 0.3:
			order.update(currency_id=euro, conversion_rate="0.92")
		else:
			order["currency_id"] = usd
		discount = rng.random()
		if discount < 0.25:
			order["hdnDiscountPercent"] = rng.choice(["5", "7.5", "10"])
		elif discount < 0.45:
			order["hdnDiscountAmount"] = rng.choice(["7.77", "2.50", "10.01"])
		if rng.random() < 0.45:
			order["shipping_&_handling"] = rng.choice(["10.10", "5", "12.345"])
			tax = rng.choice(["shtax1", "shtax2", "shtax3", None])
			if tax:
				order[f"shipping_&_handling_{tax}"] = {"shtax1": "4.5", "shtax2": "10", "shtax3": "12.5"}[tax]
		if rng.random() < 0.35:
			order["txtAdjustment"] = rng.choice(["-0.335", "1.01", "0.005", "-2.50"])
		if rng.random() < 0.5:
			order["duedate"] = f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
		orders.append(ws.create("SalesOrder", order)["id"])
		lines += len(line_items)

	# An account deleted in VTiger after its orders were written: its orders stay, and rightly cannot land.
	ws._call("POST", "delete", {"id": orphan[0]}, orphan[0])
	return {"orders": orders, "lines": lines, "orphan": orphan[0]}


# ----------------------------------------------------------------------------------------------------------------
# ERPNext
# ----------------------------------------------------------------------------------------------------------------


def make_connection(server: VTigerServer) -> str:
	"""A connection as the form creates it: the required fields, the company and a default country; no tax
	rows (the form's validation fills the unit table from VTiger's usage units)."""
	url = server.database_url()
	company = (
		frappe.db.get_single_value("Global Defaults", "default_company")
		or frappe.get_all("Company", pluck="name", limit=1)[0]
	)
	doc = frappe.get_doc(
		{
			"doctype": SETTING_DOCTYPE,
			"title": f"Real VTiger {int(time.time())}",
			"host": url.host,
			"port": url.port or 3306,
			"database_name": url.database,
			"db_user": url.username,
			"db_password": url.password or "",
			"mapping_preset": "standard",
			"company": company,
			"default_country": "United States",
		}
	)
	doc.insert()
	frappe.db.commit()
	return doc.name


def run(connection: str, full: bool):
	from vtigercrm_sync.syncer.run.job import run_sync

	started = time.perf_counter()
	run_sync(connection, trigger="CLI", full=full, user="Administrator")
	frappe.db.commit()
	log = frappe.get_doc(LOG_DOCTYPE, frappe.db.get_value(SETTING_DOCTYPE, connection, "last_log"))
	return log, time.perf_counter() - started


def remap_to_tax_accounts(connection: str) -> tuple[list[str], set[str]]:
	"""A settings change on documents that exist: every tax row mapped to an account that is not a Tax account
	is remapped to a new Tax account under the company's "Duties and Taxes" (as a user fixing the mapping would).
	Returns the remapped VTiger keys and the Sales Orders that carry one of them (Full Resync must rewrite them)."""
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	parent = frappe.db.get_value(
		"Account", {"company": doc.company, "account_type": "Tax", "is_group": 1}, "name"
	) or frappe.db.get_value("Account", {"company": doc.company, "account_name": "Duties and Taxes"}, "name")
	remapped = []
	for row in doc.tax_accounts:
		if frappe.db.get_value("Account", row.account_head, "account_type") in ("Tax", "Chargeable"):
			continue
		name = f"{frappe.db.get_value('Account', row.account_head, 'account_name')} Tax (VTiger)"
		account = frappe.db.get_value("Account", {"company": doc.company, "account_name": name}, "name")
		if not account:
			account = (
				frappe.get_doc(
					{
						"doctype": "Account",
						"account_name": name,
						"company": doc.company,
						"parent_account": parent,
						"account_type": "Tax",
					}
				)
				.insert()
				.name
			)
		row.account_head = account
		remapped.append(row.vtiger_tax)
	carrying = set(
		frappe.get_all(
			"Sales Taxes and Charges",
			filters={"parenttype": "Sales Order", "vtiger_tax": ("in", remapped or [""])},
			pluck="parent",
		)
	)
	doc.save()
	frappe.db.commit()
	return remapped, carrying


def written_since(log) -> dict[str, set[str]]:
	"""Synced documents (by doctype) modified since the run started."""
	prefix = frappe.db.get_value(SETTING_DOCTYPE, log.connection, "id_prefix")
	return {
		doctype: set(
			frappe.get_all(
				doctype,
				filters={"modified": (">=", log.started_at), "vtiger_id": ("like", f"{prefix}%")},
				pluck="name",
			)
		)
		for doctype in ("Customer", "Contact", "Address", "Item", "Sales Order")
	}


def vtiger_facts(engine) -> dict:
	with engine.connect() as conn:
		live = "JOIN vtiger_crmentity e ON e.crmid = {} AND e.deleted = 0"
		contacts = conn.execute(
			text(f"SELECT c.contactid FROM vtiger_contactdetails c {live.format('c.contactid')}")
		).scalars()
		accounts = conn.execute(
			text(f"SELECT a.accountid FROM vtiger_account a {live.format('a.accountid')}")
		).scalars()
		orders = conn.execute(
			text(
				"SELECT s.salesorderid, s.accountid, s.total, s.pre_tax_total, s.taxtype FROM vtiger_salesorder s "
				+ live.format("s.salesorderid")
			)
		).all()
		lines = conn.execute(
			text(
				f"SELECT COUNT(*) FROM vtiger_inventoryproductrel r JOIN vtiger_salesorder s "
				f"ON s.salesorderid = r.id {live.format('s.salesorderid')}"
			)
		).scalar()
	accounts = set(accounts)
	return {
		"contacts": list(contacts),
		"accounts": sorted(accounts),
		"orders": {row.salesorderid: row for row in orders if row.accountid in accounts},
		"orphan_orders": [row.salesorderid for row in orders if row.accountid not in accounts],
		"lines": lines,
	}


def measure(connection: str, facts: dict) -> dict:
	prefix = frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix")

	def find(doctype: str, key) -> str | None:
		return frappe.db.get_value(doctype, {"vtiger_id": f"{prefix}{key}"}, "name")

	contacts = sum(1 for crmid in facts["contacts"] if find("Contact", crmid))
	landed, equal, off = 0, 0, []
	for crmid, order in facts["orders"].items():
		name = find("Sales Order", crmid)
		if not name:
			continue
		landed += 1
		so = frappe.db.get_value("Sales Order", name, ["grand_total", "net_total"], as_dict=True)
		grand = Decimal(str(flt(so.grand_total, 2)))
		if grand == half_up(order.total):
			equal += 1
		else:
			off.append(
				f"{crmid} ({order.taxtype} tax): VTiger total {half_up(order.total)} (pre-tax "
				f"{Decimal(str(order.pre_tax_total)).normalize()}) → ERPNext grand total {grand} (net total "
				f"{flt(so.net_total, 2)})"
			)
	addresses = Counter()
	for vtiger_id in frappe.get_all("Address", {"vtiger_id": ("like", f"{prefix}%")}, pluck="vtiger_id"):
		crmid = int(vtiger_id[len(prefix) :].split(":")[0])
		addresses["orders" if crmid in facts["orders"] else "accounts and contacts"] += 1
	primary = 0
	for crmid in facts["accounts"]:
		customer = find("Customer", crmid)
		billing = find("Address", f"{crmid}:billing")
		if customer and billing:
			primary += frappe.db.get_value("Customer", customer, "customer_primary_address") == billing
	return {
		"contacts": contacts,
		"orders": landed,
		"equal": equal,
		"off": off,
		"primary": primary,
		"customers": sum(1 for crmid in facts["accounts"] if find("Customer", crmid)),
		"addresses": sum(addresses.values()),
		"address_split": addresses,
	}


def reasons(log, action: str = "Failed") -> Counter:
	"""The log's lines of one action, grouped by message with numbers, quoted values and e-mails masked."""
	grouped = Counter()
	for line in frappe.get_all(
		LOG_LINE_DOCTYPE, {"log": log.name, "action": action}, ["vtiger_module", "message"], order_by="name"
	):
		message = re.sub(r"\S+@\S+", "<e-mail>", line.message or "")
		message = re.sub(
			r"applies .*? to this order", "applies <its taxes and charges> to this order", message
		)
		message = re.sub(r"\d+(?:[.,]\d+)*", "#", message)
		grouped[f"{line.vtiger_module or ''}: {message[:240]}"] += 1
	return grouped


def print_report(vt: dict, facts: dict, passes: list[tuple[str, object, float, dict]]) -> None:
	n_orders, n_contacts = len(facts["orders"]), len(facts["contacts"])
	header = "| | VTiger | " + " | ".join(label for label, *_ in passes) + " |"
	print(header)
	print("|---|---|" + "---|" * len(passes))

	def row(label: str, vtiger, cells) -> None:
		print(f"| {label} | {vtiger} | " + " | ".join(cells) + " |")

	row(
		"contacts landed / live contacts", n_contacts, [f"{m['contacts']} / {n_contacts}" for *_, m in passes]
	)
	row(
		f"sales orders landed / orders of live accounts ({len(facts['orphan_orders'])} more belong to a deleted "
		"account and rightly fail)",
		f"{n_orders} ({vt['lines']} lines)",
		[f"{m['orders']} / {n_orders}" for *_, m in passes],
	)
	row(
		"orders whose grand total equals VTiger's total rounded half-up to 2 decimals",
		"all",
		[f"{m['equal']} of {m['orders']} landed ({m['equal']} / {n_orders})" for *_, m in passes],
	)
	row(
		"customers whose primary address is their account's billing address",
		len(facts["accounts"]),
		[f"{m['primary']} / {m['customers']} landed" for *_, m in passes],
	)
	row(
		f"Address documents (for {len(facts['accounts'])} accounts, {n_contacts} contacts, {n_orders} orders)",
		"—",
		[
			f"{m['addresses']} ({m['address_split']['accounts and contacts']} of accounts and contacts, "
			f"{m['address_split']['orders']} of orders)"
			for *_, m in passes
		],
	)
	row(
		"the run: created / updated / skipped / failed (warnings)",
		"—",
		[
			f"{log.created} / {log.updated} / {log.skipped} / {log.failed} "
			f"({frappe.db.count(LOG_LINE_DOCTYPE, {'log': log.name, 'action': 'Warning'})}), {seconds:.1f} s"
			for _, log, seconds, _ in passes
		],
	)
	row(
		"documents the Full Resync rewrote (updated + created)",
		"—",
		["—"] + [f"{m['rewrite']}" for *_, m in passes[1:]],
	)
	for label, log, _, measured in passes:
		print(f"\n**Failures, {label}** (log {log.name}, status {log.status})\n")
		grouped = reasons(log)
		if not grouped:
			print("none")
		else:
			print("| lines | reason |\n|---|---|")
			for reason, count in grouped.most_common():
				print(f"| {count} | {reason.replace('|', '/')} |")
		warnings = reasons(log, "Warning")
		if warnings:
			print(f"\n**Warnings, {label}**\n\n| lines | reason |\n|---|---|")
			for reason, count in warnings.most_common():
				print(f"| {count} | {reason.replace('|', '/')} |")
		if measured["off"]:
			print(f"\n**Grand totals off, {label}** ({len(measured['off'])})\n")
			for line in measured["off"]:
				print(f"- {line}")


def main() -> None:
	parser = argparse.ArgumentParser(
		description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
	)
	parser.add_argument("--site", required=True)
	parser.add_argument("--keep-server", action="store_true", help="leave VTiger running at the end")
	args = parser.parse_args()

	started = time.perf_counter()
	server = start_server()
	try:
		print(f"VTiger 8.2 at {server.url}, database {server.database}", flush=True)
		vt = fill_vtiger(server)
		print(
			f"filled through the web service in {time.perf_counter() - started:.0f} s: "
			f"{len(vt['orders'])} orders, {vt['lines']} lines",
			flush=True,
		)
		engine = create_engine(server.database_url())
		facts = vtiger_facts(engine)
		engine.dispose()

		frappe.init(site=args.site, sites_path=".")
		frappe.connect()
		frappe.set_user("Administrator")
		frappe.flags.in_test = True  # the run's chunks run in this process, as under tests
		from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync import (
			form_create_tax_accounts,
		)

		connection = make_connection(server)
		passes = []
		log, seconds = run(connection, full=False)
		passes.append(("as the form creates it (no tax rows)", log, seconds, measure(connection, facts)))
		created = form_create_tax_accounts(connection)
		frappe.db.commit()
		print(f"Create Tax Accounts: {created}", flush=True)
		log, seconds = run(connection, full=True)
		measured = measure(connection, facts)
		written = written_since(log)
		measured["rewrite"] = (
			f"{log.updated} updated + {log.created} created (the orders pass 1 refused); documents modified: "
			+ ", ".join(f"{len(names)} {doctype}" for doctype, names in written.items() if names)
		)
		passes.append(("Create Tax Accounts, then Full Resync", log, seconds, measured))
		remapped, carrying = remap_to_tax_accounts(connection)
		print(
			f"remapped to new Tax accounts: {remapped}; Sales Orders carrying them: {len(carrying)}",
			flush=True,
		)
		log, seconds = run(connection, full=True)
		measured = measure(connection, facts)
		written = written_since(log)
		measured["rewrite"] = (
			f"{log.updated} updated + {log.created} created; {len(written['Sales Order'] & carrying)} of the "
			f"{len(carrying)} orders carrying {', '.join(remapped) or 'them'} rewritten, "
			f"{len(written['Sales Order'] - carrying)} other orders and "
			f"{sum(len(n) for d, n in written.items() if d != 'Sales Order')} other documents modified"
		)
		passes.append(
			("then non-Tax accounts remapped to new Tax accounts, Full Resync", log, seconds, measured)
		)
		print()
		print_report(vt, facts, passes)
		frappe.destroy()
	finally:
		if not args.keep_server:
			stop_server()


if __name__ == "__main__":
	main()
