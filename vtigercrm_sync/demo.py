"""A small VTiger data set in SQLite, so ``vtigercrm-sync preview --demo`` runs with no server at all.

The tables come from the package's own models plus the insurance preset's custom-field columns, and the rows
follow VTiger's conventions (0 for "no reference", '' for empty text, NULL dates, a soft-deleted record, a
contact with no account, non-ASCII names) so the preview shows what a real install produces.
"""

from __future__ import annotations

import json
import re
import warnings
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, create_engine, insert, text
from sqlalchemy import exc as sa_exc

from vtigercrm_sync import models as m
from vtigercrm_sync.config.loader import load_preset
from vtigercrm_sync.database.base import Base
from vtigercrm_sync.syncer.processor.sales_order import order_totals

BASE_TIME = datetime(2025, 3, 1, 9, 0, 0)
CF_COLUMN = re.compile(r"cf_\d+")
TABIDS = {"Contacts": 4, "Accounts": 6, "Products": 14, "SalesOrder": 22, "Services": 35}
INSURANCE_LABELS = {
	"cf_2141": "Policy Status",
	"cf_2059": "Effective Date",
	"cf_2115": "FFM App ID",
	"cf_2803": "FFM Subscriber ID",
	"cf_2037": "Plan Name",
	"cf_2293": "Owner First Name",
	"cf_2297": "Owner Last Name",
	"cf_1465": "Card Number",
	"cf_1473": "Card Expiry",
}


def demo_engine() -> Engine:
	"""A fresh in-memory VTiger with a handful of records of every kind the sync reads."""
	warnings.filterwarnings("ignore", category=sa_exc.SAWarning, message=".*Decimal.*")
	engine = create_engine("sqlite://")
	cf_columns = sorted(
		{
			name
			for preset in ("insurance_household",)
			for entity in load_preset(preset).entities
			for spec in entity.fields
			for name in spec.sources
			if name.startswith("cf_")
		}
	)
	Base.metadata.create_all(engine)
	with engine.begin() as conn:
		for column in cf_columns:
			if not CF_COLUMN.fullmatch(column):
				raise ValueError(f"not a custom-field column: {column!r}")
			# As VTiger's Layout Editor does: one ALTER TABLE per custom field.
			conn.execute(text(f"ALTER TABLE vtiger_salesordercf ADD COLUMN {column} VARCHAR(255) DEFAULT ''"))
		cf_table = Table(
			"vtiger_salesordercf",
			MetaData(),
			Column("salesorderid", Integer),
			*(Column(c, String) for c in cf_columns),
		)
		_fill(conn, cf_table)
	return engine


class _Writer:
	def __init__(self, conn):
		self.conn = conn
		self.crmid = 1
		self.clock = BASE_TIME

	def entity(self, setype: str, label: str, deleted: int = 0) -> int:
		self.crmid += 1
		self.clock += timedelta(seconds=1)
		self.conn.execute(
			insert(m.CrmEntity.__table__).values(
				crmid=self.crmid,
				smcreatorid=1,
				smownerid=1,
				modifiedby=1,
				setype=setype,
				description="",
				createdtime=self.clock,
				modifiedtime=self.clock,
				deleted=deleted,
				source="CRM",
				label=label,
			)
		)
		return self.crmid

	def row(self, model, **values) -> None:
		self.conn.execute(insert(model.__table__).values(**values))


def _address(prefix: str, street="", city="", state="", code="", country="", pobox="") -> dict:
	return {
		f"{prefix}_street": street,
		f"{prefix}_city": city,
		f"{prefix}_state": state,
		f"{prefix}_code": code,
		f"{prefix}_country": country,
		f"{prefix}_pobox": pobox,
	}


def _fill(conn, cf_table: Table) -> None:
	w = _Writer(conn)
	for name, tabid in TABIDS.items():
		w.row(m.Tab, tabid=tabid, name=name, presence=0)
	w.row(
		m.CurrencyInfo,
		id=1,
		currency_name="USA, Dollars",
		currency_code="USD",
		currency_symbol="$",
		conversion_rate=Decimal(1),
		defaultid="-11",
		deleted=0,
	)
	w.row(
		m.CurrencyInfo,
		id=2,
		currency_name="Euro",
		currency_code="EUR",
		currency_symbol="€",
		conversion_rate=Decimal("0.92"),
		defaultid="0",
		deleted=0,
	)
	for fieldid, (column, label) in enumerate(INSURANCE_LABELS.items(), start=900):
		w.row(
			m.Field,
			fieldid=fieldid,
			tabid=22,
			columnname=column,
			tablename="vtiger_salesordercf",
			generatedtype=2,
			uitype="1",
			fieldname=column,
			fieldlabel=label,
			presence=2,
			typeofdata="V~O",
		)

	products = {}
	for name, code, price, module in (
		("Widget A", "W-A", 100, "Products"),
		("Gadget Ł", "G-L", 35.5, "Products"),
		("Installation 日本", "", 50, "Services"),
	):
		crmid = w.entity(module, name)
		if module == "Products":
			w.row(
				m.Product,
				productid=crmid,
				product_no=f"PRO{crmid}",
				productname=name,
				productcode=code,
				unit_price=Decimal(str(price)),
				discontinued=1,
				usageunit="Each",
			)
		else:
			w.row(
				m.Service,
				serviceid=crmid,
				service_no=f"SER{crmid}",
				servicename=name,
				unit_price=Decimal(price),
				discontinued=1,
				service_usageunit="Hours",
			)
		products[name] = crmid

	accounts = {}
	for name, bill, ship in (
		(
			"Łódź Trading Sp. z o.o.",
			_address("bill", "ul. Piotrkowska 1", "Łódź", "", "90-001", "Poland"),
			_address("ship"),
		),
		(
			"Müller & Söhne GmbH",
			_address("bill", "Königstraße 5", "Stuttgart", "BW", "70173", "Deutschland"),
			_address("ship", "Hafenweg 2", "Hamburg", "", "20457", "Deutschland"),
		),
		(
			"ООО Москва Импорт",
			_address("bill", "Тверская ул. 7", "Москва", "", "125009", "Russia"),
			_address("ship"),
		),
	):
		crmid = w.entity("Accounts", name)
		w.row(
			m.Account,
			accountid=crmid,
			account_no=f"ACC{crmid}",
			accountname=name,
			parentid=0,
			email1="",
			website="",
			phone="",
			employees=0,
			emailoptout="0",
		)
		w.row(m.AccountBillAddress, accountaddressid=crmid, **bill)
		w.row(m.AccountShipAddress, accountaddressid=crmid, **ship)
		w.row(m.AccountCustomFields, accountid=crmid)
		accounts[name] = crmid

	contacts = {}
	for first, last, account, email, city in (
		("Zofia", "Wójcik", "Łódź Trading Sp. z o.o.", "zofia@lodz.example", "Łódź"),
		("Jürgen", "Müller", "Müller & Söhne GmbH", "j.mueller@example.de", ""),
		("Haruto", "佐藤", None, "haruto@example.jp", "東京"),
	):
		crmid = w.entity("Contacts", f"{first} {last}")
		w.row(
			m.ContactDetails,
			contactid=crmid,
			contact_no=f"CON{crmid}",
			accountid=accounts.get(account, 0),
			salutation="",
			firstname=first,
			lastname=last,
			email=email,
			phone="",
			mobile="",
			reportsto="0",
			secondaryemail="",
			donotcall="0",
			emailoptout="0",
		)
		w.row(
			m.ContactAddress,
			contactaddressid=crmid,
			mailingstreet="1 Main St" if city else "",
			mailingcity=city,
			mailingstate="",
			mailingzip="",
			mailingcountry="Japan" if city == "東京" else "",
			mailingpobox="",
		)
		w.row(
			m.ContactSubDetails,
			contactsubscriptionid=crmid,
			homephone="",
			otherphone="",
			birthday=None,
			leadsource="",
		)
		w.row(m.ContactCustomFields, contactid=crmid)
		contacts[last] = crmid

	orders = (
		(
			"Starter order",
			"Łódź Trading Sp. z o.o.",
			"Wójcik",
			"individual",
			[("Widget A", 2, 100, 0, 0, 4.5), ("Installation 日本", 1.5, 50, 10, 0, 0)],
			10,
			"Created",
			_policy(
				"Active",
				"Ana",
				"García",
				"4111111111111111",
				"12/27",
				spouse=("Luis", "García"),
				dependents=[("Sofía", "García"), ("Mateo", "García")],
			),
		),
		(
			"Repeat order",
			"Müller & Söhne GmbH",
			None,
			"group",
			[("Gadget Ł", 10, 35.5, 0, 5, 10)],
			0,
			"Approved",
			_policy("Initial Enrollment", "Jürgen", "Müller", "", ""),
		),
		(
			"Cancelled policy",
			"ООО Москва Импорт",
			None,
			"group",
			[("Widget A", 1, 100, 0, 0, 0)],
			0,
			"Cancelled",
			_policy("Cancelación", "Olga", "Иванова", "5500000000000004", "2026-08"),
		),
		(
			"Order for a ghost product",
			"Müller & Söhne GmbH",
			"Müller",
			"group",
			[("Widget A", 1, 100, 0, 0, 0), ("missing", 1, 10, 0, 0, 0)],
			0,
			"Created",
			_policy("Active", "Kim", "Lee", "4111 1111 1111 1112", "13/26"),
		),
	)
	for subject, account, contact, taxtype, lines, shipping, status, policy in orders:
		crmid = w.entity("SalesOrder", subject)
		totals = _totals(lines, taxtype, shipping)
		w.row(
			m.SalesOrder,
			salesorderid=crmid,
			subject=subject,
			salesorder_no=f"SO{crmid}",
			accountid=accounts[account],
			contactid=contacts.get(contact, 0),
			potentialid=0,
			quoteid=0,
			taxtype=taxtype,
			s_h_amount=Decimal(shipping),
			s_h_percent=Decimal(shipping),
			adjustment=Decimal(0),
			discount_percent=None,
			discount_amount=None,
			currency_id=1,
			conversion_rate=Decimal(1),
			sostatus=status,
			duedate=date(2025, 4, 1),
			purchaseorder="",
			terms_conditions="",
			**totals,
		)
		w.row(m.SalesOrderBillAddress, sobilladdressid=crmid, **_address("bill", "1 Main St"))
		w.row(m.SalesOrderShipAddress, soshipaddressid=crmid, **_address("ship", "1 Main St"))
		cf_values = {c.name: policy.get(c.name, "") for c in cf_table.columns if c.name != "salesorderid"}
		conn.execute(insert(cf_table).values(salesorderid=crmid, **cf_values))
		charges = (
			{"1": {"value": str(shipping), "taxes": {"1": "4.5"}}}
			if shipping
			else {"1": {"value": None, "taxes": {"1": 0, "2": 0, "3": 0}}}
		)
		w.row(m.InventoryChargesRel, recordid=crmid, charges=json.dumps(charges))
		for sequence, (item, qty, price, disc_pct, disc_amt, tax) in enumerate(lines, start=1):
			w.row(
				m.InventoryProductRel,
				id=crmid,
				productid=products.get(item, 9999),
				sequence_no=sequence,
				quantity=Decimal(str(qty)),
				listprice=Decimal(str(price)),
				discount_percent=Decimal(disc_pct),
				discount_amount=Decimal(disc_amt),
				comment="",
				description="",
				tax1=Decimal(str(tax)),
				tax2=Decimal(0),
				tax3=Decimal(0),
			)

	gone = w.entity("Accounts", "Deleted Account", deleted=1)
	w.row(m.Account, accountid=gone, account_no=f"ACC{gone}", accountname="Deleted Account", parentid=0)


def _policy(status, first, last, card, expiry, spouse=None, dependents=()) -> dict[str, str]:
	policy = {
		"cf_2141": status,
		"cf_2059": "2025-01-01",
		"cf_2115": "FFM-0042",
		"cf_2037": "Silver 70 HMO",
		"cf_2293": first,
		"cf_2297": last,
		"cf_2299": "1980-05-17",
		"cf_2321": "123-45-6789",
		"cf_2303": "F",
		"cf_2737": "200 Ocean Dr",
		"cf_2739": "Miami",
		"cf_2765": "FL",
		"cf_2743": "33139",
		"cf_1465": card,
		"cf_1473": expiry,
		"cf_2157": "Credit",
		"cf_1471": "",
		"cf_2255": "0000-00-00",
	}
	if spouse:
		policy.update({"cf_2347": spouse[0], "cf_2351": spouse[1], "cf_2355": "1982-02-03", "cf_2359": "M"})
	for (first_col, last_col), (dep_first, dep_last) in zip(
		(("cf_2405", "cf_2409"), ("cf_2443", "cf_2447")), dependents, strict=False
	):
		policy.update({first_col: dep_first, last_col: dep_last})
	return policy


def _totals(lines, taxtype: str, shipping: float) -> dict[str, Decimal]:
	"""Stored totals as VTiger computes them (the processor's arithmetic is tested against VTiger's own rows)."""
	rows = [
		{
			"quantity": Decimal(str(q)),
			"listprice": Decimal(str(p)),
			"discount_percent": Decimal(dp),
			"discount_amount": Decimal(da),
			"tax1": Decimal(str(t)),
		}
		for _, q, p, dp, da, t in lines
	]
	charges = json.dumps({"1": {"value": str(shipping), "taxes": {"1": "4.5"}}})
	totals = order_totals({"taxtype": taxtype, "s_h_amount": shipping, "charges": charges}, rows)
	pre_tax = totals["net_total"] - totals["discount"] + totals["shipping"]
	return {"subtotal": totals["subtotal"], "pre_tax_total": pre_tax, "total": totals["total"]}
