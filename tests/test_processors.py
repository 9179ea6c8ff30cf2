"""Document plans from VTiger records: the standard preset and the insurance household preset, end to end through
the reader on the test MariaDB, plus pure unit tests of the card and field helpers.
"""

from __future__ import annotations

import copy
from datetime import date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from support import (
	CONTEXT,
	add_insurance_fields,
	issue_texts,
	make_planner,
	make_reader,
	plan_record,
	plans_by_key,
	read_bundle,
)
from vtiger_writer import VTigerWriter

from vtigercrm_sync.config.config import load_handler_config, load_mapping, read_json
from vtigercrm_sync.syncer.plan import RecordRef, VTigerId
from vtigercrm_sync.syncer.processor.address import AddressProcessor
from vtigercrm_sync.syncer.processor.bank_card import card_brand, mask_card, parse_expiry, passes_luhn
from vtigercrm_sync.syncer.processor.base import PlanContext
from vtigercrm_sync.syncer.processor.planner import BundlePlanner
from vtigercrm_sync.syncer.services.query import Bundle

CENT = Decimal("0.01")
SSN = "123-45-6789"
SSN_DIGITS = "123456789"
CARD = "4111 1111 1111 1111"
CARD_DIGITS = "4111111111111111"


def link_tuples(plan) -> set[tuple]:
	return {(link.kind, link.doctype, link.vtiger_id, link.fieldname) for link in plan.links}


def erpnext_grand_total(plan) -> Decimal:
	"""What ERPNext computes from the plan: items at their rate, less the discount, plus every Actual tax row."""
	net = sum((row["rate"] * row["qty"] for row in plan.children["items"]), Decimal(0))
	taxes = sum((row["tax_amount"] for row in plan.children["taxes"]), Decimal(0))
	return net - plan.values.get("discount_amount", Decimal(0)) + taxes


def stored_totals(engine: Engine, order: int) -> dict[str, Decimal]:
	with engine.connect() as conn:
		row = conn.execute(
			text("SELECT subtotal, pre_tax_total, total FROM vtiger_salesorder WHERE salesorderid = :id"),
			{"id": order},
		).one()
	return dict(zip(("subtotal", "pre_tax_total", "total"), row, strict=True))


@pytest.fixture
def catalog(vtiger: VTigerWriter) -> dict[str, int]:
	return {
		"account": vtiger.create_account(
			"Łódź Trading Sp. z o.o.", bill={"street": "ul. Piotrkowska 1", "city": "Łódź"}
		),
		"product": vtiger.create_product("Widget Ł", code="W-L", unit_price=100, usageunit="Each"),
		"product2": vtiger.create_product("Gadget", unit_price=33, usageunit="Box"),
		"service": vtiger.create_service("Installation 日本", unit_price=50, usageunit="Hours"),
	}


# -- accounts -----------------------------------------------------------------------------------------------------


def test_account_becomes_customer_with_billing_and_shipping_address(
	vtiger: VTigerWriter, vtiger_engine: Engine
):
	account = vtiger.create_account(
		"  Müller &  Söhne GmbH ",
		bill={
			"street": "Königstraße 5",
			"city": "Stuttgart",
			"state": "BW",
			"code": "70173",
			"country": "Deutschland",
		},
		ship={"street": "Hafenweg 2", "city": "Hamburg", "code": "20457", "pobox": "PF 12"},
		website=" https://mueller.example ",
		description="Key account\nsince 1999",
	)
	result = plan_record(vtiger_engine, "Accounts", account)
	assert result.issues == [] and not result.failed
	plans = plans_by_key(result)
	assert list(plans) == ["customer", "customer_billing_address", "customer_shipping_address"]

	customer = plans["customer"]
	assert result.source == RecordRef("Accounts", account)
	assert (customer.doctype, customer.vtiger_id) == ("Customer", str(account))
	assert customer.values["customer_name"] == "Müller & Söhne GmbH"
	assert customer.match == {"customer_name": "Müller & Söhne GmbH"}
	assert customer.values["customer_type"] == "Company"
	assert customer.values["website"] == "https://mueller.example"
	assert customer.values["customer_details"] == "Key account\nsince 1999"
	assert customer.values["vtiger_number"].startswith("ACC")
	assert customer.links == ()

	billing = plans["customer_billing_address"]
	assert billing.vtiger_id == f"{account}:billing"
	assert {
		k: billing.values[k] for k in ("address_type", "address_line1", "city", "state", "pincode", "country")
	} == {
		"address_type": "Billing",
		"address_line1": "Königstraße 5",
		"city": "Stuttgart",
		"state": "BW",
		"pincode": "70173",
		"country": "Deutschland",
	}
	assert billing.values["address_title"] == "Müller & Söhne GmbH"
	assert billing.values["is_primary_address"] == 1
	assert link_tuples(billing) == {
		("dynamic", "Customer", str(account), None),
		("primary", "Customer", str(account), "customer_primary_address"),
	}

	shipping = plans["customer_shipping_address"]
	assert (shipping.values["address_type"], shipping.values["city"], shipping.values["address_line2"]) == (
		"Shipping",
		"Hamburg",
		"PF 12",
	)
	# No country in VTiger: the connection's default.
	assert shipping.values["country"] == "United States"
	assert shipping.values["is_shipping_address"] == 1
	assert link_tuples(shipping) == {("dynamic", "Customer", str(account), None)}


def test_empty_and_incomplete_addresses(vtiger: VTigerWriter, vtiger_engine: Engine):
	account = vtiger.create_account("No city", bill={"street": "1 Main St"})
	result = plan_record(vtiger_engine, "Accounts", account)
	# The empty shipping address plans nothing and says nothing; the billing one lacks a city: a warning.
	assert list(plans_by_key(result)) == ["customer"]
	(issue,) = result.issues
	assert (issue.severity, issue.entity, issue.field) == ("warning", "customer_billing_address", "city")
	assert not result.failed


# -- contacts -----------------------------------------------------------------------------------------------------


def test_contact_with_emails_phones_address_and_customer(
	vtiger: VTigerWriter, vtiger_engine: Engine, catalog
):
	account = catalog["account"]
	contact = vtiger.create_contact(
		"Wójcik",
		firstname="Zofia",
		account_id=account,
		salutation="Mrs.",
		email=" Zofia@Lodz.Example ",
		secondaryemail="zofia.private@example.com",
		phone="+48 42 123",
		mobile="+48 600 100",
		title="CFO",
		birthday=date(1980, 5, 17),
		mailing={"street": "ul. Długa 3", "city": "Łódź", "zip": "90-001", "country": "Poland"},
	)
	result = plan_record(vtiger_engine, "Contacts", contact)
	assert result.issues == []
	plans = plans_by_key(result)
	assert list(plans) == ["customer", "contact", "contact_address"]
	assert plans["customer"].vtiger_id == str(account)

	person = plans["contact"]
	assert person.vtiger_id == str(contact)
	assert {k: person.values[k] for k in ("salutation", "first_name", "last_name", "designation")} == {
		"salutation": "Mrs",
		"first_name": "Zofia",
		"last_name": "Wójcik",
		"designation": "CFO",
	}
	assert person.values["vtiger_birth_date"] == date(1980, 5, 17)
	assert person.match == {"email_id": "zofia@lodz.example"}
	# E-mails and phones move into ERPNext's child tables.
	for moved in ("email_id", "secondary_email", "phone", "mobile_no"):
		assert moved not in person.values
	assert person.children["email_ids"] == [
		{"email_id": "zofia@lodz.example", "is_primary": 1},
		{"email_id": "zofia.private@example.com", "is_primary": 0},
	]
	assert person.children["phone_nos"] == [
		{"phone": "+48 42 123", "is_primary_phone": 1, "is_primary_mobile_no": 0},
		{"phone": "+48 600 100", "is_primary_phone": 0, "is_primary_mobile_no": 1},
	]
	assert link_tuples(person) == {("dynamic", "Customer", str(account), None)}

	address = plans["contact_address"]
	assert (address.vtiger_id, address.values["address_type"], address.values["city"]) == (
		f"{contact}:mailing",
		"Personal",
		"Łódź",
	)
	assert address.values["address_title"] == "Zofia Wójcik"
	assert link_tuples(address) == {
		("dynamic", "Contact", str(contact), None),
		("dynamic", "Customer", str(account), None),
	}


def test_contact_without_account_or_first_name(vtiger: VTigerWriter, vtiger_engine: Engine):
	contact = vtiger.create_contact("Cher", mailing={"street": "1 Sunset Blvd", "city": "Los Angeles"})
	result = plan_record(vtiger_engine, "Contacts", contact)
	assert result.issues == []
	plans = plans_by_key(result)
	assert list(plans) == ["contact", "contact_address"]
	person = plans["contact"]
	assert (person.values["first_name"], person.values["last_name"]) == ("Cher", None)
	assert person.links == ()
	assert person.children == {"email_ids": [], "phone_nos": []} and person.match == {}
	assert link_tuples(plans["contact_address"]) == {("dynamic", "Contact", str(contact), None)}


def test_a_reshaped_pushed_field_keeps_what_vtiger_held(vtiger: VTigerWriter, vtiger_engine: Engine):
	"""A last name alone becomes ERPNext's first name, but a later ERPNext edit of the names is judged against
	VTiger's own values: the plan keeps each pushed field as VTiger held it, before the processor moved it."""
	contact = vtiger.create_contact("Cher", email="cher@example.org")
	person = plans_by_key(plan_record(vtiger_engine, "Contacts", contact))["contact"]
	assert (person.values["first_name"], person.values["last_name"]) == ("Cher", None)
	assert {k: person.pulled[k] for k in ("first_name", "last_name", "email_id")} == {
		"first_name": None,
		"last_name": "Cher",
		"email_id": "cher@example.org",
	}
	assert "email_id" not in person.values, "moved into the e-mail rows"
	assert "vtiger_number" not in person.pulled, "only pushed fields"


def test_an_email_erpnext_may_refuse_is_planned_as_vtiger_has_it(vtiger: VTigerWriter, vtiger_engine: Engine):
	"""Whether ERPNext accepts an address is decided where it is written (the handler's guard), so a contact is
	never lost to its e-mail: the planner passes VTiger's values on, non-ASCII local parts included."""
	contact = vtiger.create_contact("Doe", email="doe-at-example.com", secondaryemail="chloé.17@example.org")
	result = plan_record(vtiger_engine, "Contacts", contact)
	assert result.issues == []
	assert plans_by_key(result)["contact"].children["email_ids"] == [
		{"email_id": "doe-at-example.com", "is_primary": 1},
		{"email_id": "chloé.17@example.org", "is_primary": 0},
	]


# -- sales orders -------------------------------------------------------------------------------------------------


def test_individual_tax_order_totals_follow_vtiger(vtiger: VTigerWriter, vtiger_engine: Engine, catalog):
	order = vtiger.create_sales_order(
		"Individual",
		account_id=catalog["account"],
		taxtype="individual",
		lines=[
			{
				"productid": catalog["product"],
				"quantity": 2,
				"listprice": 100,
				"discount_percent": 10,
				"tax1": 4.5,
			},
			{
				"productid": catalog["service"],
				"quantity": 1.5,
				"listprice": 50,
				"discount_amount": 5,
				"tax2": 10,
			},
			{"productid": catalog["product2"], "quantity": 3, "listprice": "33.335", "tax3": 12.5},
		],
		discount_percent=5,
		sh_amount=10,
		sh_tax_percent=4.5,
		adjustment="-3.25",
	)
	# README section 3 by hand: nets 180 + 70 + 100.005 = 350.005; taxes 8.1 + 7 + 12.500625; subtotal
	# 377.605625; 5 % overall discount of the subtotal 18.88028125; S&H 10 + 0.45 tax; adjustment -3.25.
	stored = stored_totals(vtiger_engine, order)
	assert stored["subtotal"] == Decimal("377.605625")
	assert stored["total"] == Decimal("365.92534375")

	result = plan_record(vtiger_engine, "SalesOrder", order)
	assert not result.failed, issue_texts(result)
	plan = plans_by_key(result)["sales_order"]
	assert plan.meta["taxtype"] == "individual"
	assert plan.meta["computed_total"] == Decimal("365.93") == plan.meta["vtiger_total"]
	assert "total_mismatch" not in plan.meta
	assert abs(erpnext_grand_total(plan) - stored["total"]) <= CENT

	items = plan.children["items"]
	assert [row["vtiger_line"] for row in items] == [1, 2, 3]
	assert [(row["qty"], row["price_list_rate"], row["rate"]) for row in items] == [
		(2, 100, Decimal("90")),
		(Decimal("1.5"), 50, Decimal("46.666667")),
		(3, Decimal("33.335"), Decimal("33.335")),
	]
	assert [row["discount_percentage"] for row in items] == [10, 0, 0]
	assert items[1]["discount_amount"] == Decimal("3.333333")
	assert [row["item_name"] for row in items] == ["Widget Ł", "Installation 日本", "Gadget"]
	assert {row["vtiger_tax"]: row["tax_amount"] for row in plan.children["taxes"]} == {
		"tax1": Decimal("8.10"),
		"tax2": Decimal("7.00"),
		"tax3": Decimal("12.50"),
		"shipping": Decimal("10.00"),
		"shtax1": Decimal("0.45"),
		"adjustment": Decimal("-3.25"),
	}
	assert [row["description"] for row in plan.children["taxes"]] == [
		"VAT",
		"Sales",
		"Service",
		"Shipping & Handling",
		"VAT on Shipping & Handling",
		"Adjustment",
	]
	assert all(row["charge_type"] == "Actual" for row in plan.children["taxes"])
	assert plan.values["discount_amount"] == Decimal("18.88")
	assert plan.values["apply_discount_on"] == "Net Total"
	assert plan.values["currency"] == "USD"


@pytest.mark.parametrize("taxtype", ["group", None])
def test_group_tax_order_totals_follow_vtiger(vtiger: VTigerWriter, vtiger_engine: Engine, catalog, taxtype):
	order = vtiger.create_sales_order(
		"Group",
		account_id=catalog["account"],
		taxtype=taxtype,
		lines=[
			{
				"productid": catalog["product"],
				"quantity": 4,
				"listprice": 25,
				"discount_amount": 10,
				"tax1": 4.5,
				"tax2": 10,
			},
			{"productid": catalog["service"], "quantity": 2, "listprice": 60, "discount_percent": 25},
		],
		discount_amount=20,
		sh_amount=15,
		sh_tax_percent=4.5,
		adjustment=-5,
	)
	# nets 90 + 90 = 180; overall discount 20; group tax 14.5 % of 160 = 7.2 + 16; S&H 15 + 0.675; -5.
	assert stored_totals(vtiger_engine, order)["total"] == Decimal("193.875")

	result = plan_record(vtiger_engine, "SalesOrder", order)
	assert not result.failed, issue_texts(result)
	plan = plans_by_key(result)["sales_order"]
	assert plan.meta["taxtype"] == "group"
	assert abs(plan.meta["computed_total"] - Decimal("193.875")) <= CENT
	assert "total_mismatch" not in plan.meta
	assert abs(erpnext_grand_total(plan) - Decimal("193.875")) <= CENT
	taxes = {row["vtiger_tax"]: row["tax_amount"] for row in plan.children["taxes"]}
	assert (taxes["tax1"], taxes["tax2"], taxes["shipping"], taxes["adjustment"]) == (
		Decimal("7.20"),
		Decimal("16.00"),
		Decimal("15.00"),
		Decimal("-5.00"),
	)
	assert "tax3" not in taxes
	assert plan.values["discount_amount"] == Decimal("20.00")
	assert [row["rate"] for row in plan.children["items"]] == [Decimal("22.5"), Decimal("45")]
	assert [row["discount_percentage"] for row in plan.children["items"]] == [0, 25]


def test_ui_rounded_totals_still_match(vtiger: VTigerWriter, vtiger_engine: Engine, catalog):
	order = vtiger.create_sales_order(
		"Rounded",
		account_id=catalog["account"],
		taxtype="group",
		lines=[{"productid": catalog["product"], "quantity": 3, "listprice": "33.335", "tax1": 4.5}],
		round_totals=True,
	)
	assert stored_totals(vtiger_engine, order)["total"] == Decimal("104.51")
	plan = plans_by_key(plan_record(vtiger_engine, "SalesOrder", order))["sales_order"]
	assert plan.meta["vtiger_total"] == Decimal("104.51")
	assert "total_mismatch" not in plan.meta


def test_a_stored_total_that_disagrees_is_flagged(vtiger: VTigerWriter, vtiger_engine: Engine, catalog):
	order = vtiger.create_sales_order(
		"Tampered",
		account_id=catalog["account"],
		lines=[{"productid": catalog["product"], "quantity": 1, "listprice": 10}],
	)
	vtiger.update(order, at=datetime(2025, 2, 1), total=Decimal("10.50"))
	plan = plans_by_key(plan_record(vtiger_engine, "SalesOrder", order))["sales_order"]
	assert plan.meta["computed_total"] == Decimal("10.00")
	assert "10.50" in plan.meta["total_mismatch"] and "10.00" in plan.meta["total_mismatch"]


def test_order_plans_customer_contact_items_and_address_snapshots(
	vtiger: VTigerWriter, vtiger_engine: Engine, catalog
):
	account = catalog["account"]
	contact = vtiger.create_contact(
		"Wójcik", firstname="Zofia", account_id=account, email="zofia@example.com"
	)
	euro = vtiger.add_currency("EUR", "Euro", "€", "0.92")
	order = vtiger.create_sales_order(
		"Order",
		account_id=account,
		contact_id=contact,
		currency_id=euro,
		conversion_rate="0.92",
		purchaseorder=" PO-77 ",
		sostatus="Approved",
		duedate=date(2025, 4, 1),
		bill={"street": "ul. Piotrkowska 1", "city": "Łódź", "country": "Poland"},
		ship={"street": "Magazynowa 9", "city": "Łódź"},
		lines=[
			{"productid": catalog["product"], "quantity": 1, "listprice": 92, "comment": "rush"},
			{"productid": catalog["service"], "quantity": 2, "listprice": 46},
		],
		at=datetime(2025, 1, 20, 9, 30),
	)
	result = plan_record(vtiger_engine, "SalesOrder", order)
	assert result.issues == []
	assert sorted(p.entity for p in result.plans) == [
		"contact",
		"customer",
		"item",
		"item",
		"sales_order",
		"sales_order_billing_address",
		"sales_order_shipping_address",
	]
	items = [p for p in result.plans if p.doctype == "Item"]
	assert {
		(p.vtiger_id, p.values["is_stock_item"], p.values["stock_uom"], p.meta["vtiger_module"])
		for p in items
	} == {
		(str(catalog["product"]), 1, "Each", "Products"),
		(str(catalog["service"]), 0, "Hours", "Services"),
	}
	assert {p.values["item_name"] for p in items} == {"Widget Ł", "Installation 日本"}
	assert all(p.match == {} for p in items), "an Item is adopted only by a match the user chose"

	so = next(p for p in result.plans if p.entity == "sales_order")
	assert so.vtiger_id == str(order)
	assert so.values["transaction_date"] == date(2025, 1, 20)
	assert so.values["po_no"] == "PO-77"
	assert so.values["currency"] == "EUR"
	assert so.meta["vtiger_conversion_rate"] == Decimal("0.92")
	assert so.meta["vtiger_status"] == "Approved"
	assert so.meta["duedate"] == date(2025, 4, 1)
	assert [row["description"] for row in so.children["items"]] == ["rush", "Installation 日本"]
	assert [
		[(link.doctype, link.vtiger_id, link.fieldname) for link in row] for row in so.child_links["items"]
	] == [
		[("Item", str(catalog["product"]), "item_code")],
		[("Item", str(catalog["service"]), "item_code")],
	]
	assert so.meta["units"] == ["Each", "Hours"]
	assert link_tuples(so) == {
		("field", "Customer", str(account), "customer"),
		("field", "Contact", str(contact), "contact_person"),
		("field", "Address", f"{order}:billing", "customer_address"),
		("field", "Address", f"{order}:shipping", "shipping_address_name"),
	}
	billing = next(p for p in result.plans if p.entity == "sales_order_billing_address")
	assert (billing.values["address_title"], billing.values["country"]) == (
		"Łódź Trading Sp. z o.o.",
		"Poland",
	)
	assert link_tuples(billing) == {("dynamic", "Customer", str(account), None)}
	assert (billing.values["is_primary_address"], billing.values["is_shipping_address"]) == (0, 0)
	assert billing.meta["snapshot"] is True
	# Plans come in write order: everything an order links to comes before it.
	order_of = [p.entity for p in result.plans]
	assert order_of.index("customer") < order_of.index("contact") < order_of.index("sales_order")
	assert order_of[-1] == "sales_order"


def test_order_without_contact_has_no_contact_link(vtiger: VTigerWriter, vtiger_engine: Engine, catalog):
	order = vtiger.create_sales_order(
		"No contact",
		account_id=catalog["account"],
		lines=[{"productid": catalog["product"], "quantity": 1, "listprice": 1}],
	)
	result = plan_record(vtiger_engine, "SalesOrder", order)
	so = plans_by_key(result)["sales_order"]
	assert "contact" not in plans_by_key(result)
	assert {link.fieldname for link in so.links} == {"customer"}


def test_order_of_a_deleted_account_fails_with_a_reason(vtiger: VTigerWriter, vtiger_engine: Engine, catalog):
	doomed = vtiger.create_account("Doomed")
	order = vtiger.create_sales_order(
		"Orphan", account_id=doomed, lines=[{"productid": catalog["product"], "quantity": 1, "listprice": 1}]
	)
	vtiger.delete(doomed, at=datetime(2025, 2, 1))
	result = plan_record(vtiger_engine, "SalesOrder", order)
	assert result.failed
	(issue,) = [i for i in result.issues if i.severity == "error"]
	assert (issue.entity, issue.field) == ("sales_order", "customer")
	assert "sales_order" not in plans_by_key(result)


def test_orders_repeating_their_accounts_address_reuse_its_snapshot_plan(
	vtiger: VTigerWriter, vtiger_engine: Engine, catalog, monkeypatch
):
	"""Identical snapshots are planned once: the next order's plan is the first one's under its own id, and it is
	exactly what a planner that never saw the first order makes of it."""
	address = {"street": "ul. Piotrkowska 1", "city": "Łódź", "code": "90-001", "country": "Poland"}
	line = [{"productid": catalog["product"], "quantity": 1, "listprice": 1}]
	orders = [
		vtiger.create_sales_order(
			f"Order {n}", account_id=catalog["account"], lines=line, bill=address, ship=address
		)
		for n in range(3)
	]
	gone = vtiger.create_account("Gone", bill=address)
	orphan = vtiger.create_sales_order("Orphan", account_id=gone, lines=line, bill=address, ship=address)
	vtiger.delete(gone, at=datetime(2025, 2, 1))
	reader = make_reader(vtiger_engine)
	bundles = reader.read_records("SalesOrder", [*orders, orphan])
	fresh = [make_planner(reader).plan(bundle) for bundle in bundles]
	adjusted = []
	adjust = AddressProcessor.adjust

	def counted(self, draft, bundle):
		adjusted.append(draft.crmid)
		adjust(self, draft, bundle)

	monkeypatch.setattr(AddressProcessor, "adjust", counted)
	shared = make_planner(reader).plan_all(bundles)
	monkeypatch.undo()
	# Planned once per role for the account's orders; the orphan's (same address, no account) on its own.
	assert adjusted == [orders[0], orders[0], orphan, orphan]
	for got, want in zip(shared, fresh, strict=True):
		assert got.plans == want.plans
		assert [i.message for i in got.issues] == [i.message for i in want.issues]
	snapshots = [plans_by_key(r)["sales_order_billing_address"] for r in shared[:3]]
	assert [p.vtiger_id for p in snapshots] == [f"{order}:billing" for order in orders]
	assert len({p.content_hash for p in snapshots}) == 1
	assert shared[3].failed and "sales_order_billing_address" not in plans_by_key(shared[3])


def test_contact_of_another_account_links_to_its_own_customer(
	vtiger: VTigerWriter, vtiger_engine: Engine, catalog
):
	"""An order's contact belongs to its own account, whatever the order's account is (or whether it still exists)."""
	own = vtiger.create_account("Contact's own account")
	doomed = vtiger.create_account("Order's account, deleted")
	contact = vtiger.create_contact("Doe", account_id=own)
	line = [{"productid": catalog["product"], "quantity": 1, "listprice": 1}]
	first = vtiger.create_sales_order("First", account_id=doomed, contact_id=contact, lines=line)
	second = vtiger.create_sales_order(
		"Second", account_id=catalog["account"], contact_id=contact, lines=line
	)
	vtiger.delete(doomed, at=datetime(2025, 2, 1))

	reader = make_reader(vtiger_engine)
	planner = make_planner(reader)
	# One planner for the whole run, as the sync job and the CLI use it.
	results = [planner.plan(bundle) for bundle in reader.read_records("SalesOrder", [first, second])]
	assert [r.failed for r in results] == [True, False]
	for result in results:
		person = plans_by_key(result)["contact"]
		assert link_tuples(person) == {("dynamic", "Customer", str(own), None)}, result.source
	so = plans_by_key(results[1])["sales_order"]
	assert ("field", "Customer", str(catalog["account"]), "customer") in link_tuples(so)


def test_line_with_a_missing_product_is_a_record_error(vtiger: VTigerWriter, vtiger_engine: Engine, catalog):
	order = vtiger.create_sales_order(
		"Ghost",
		account_id=catalog["account"],
		lines=[
			{"productid": catalog["product"], "quantity": 1, "listprice": 1},
			{"productid": 987654321, "quantity": 1, "listprice": 1},
		],
	)
	result = plan_record(vtiger_engine, "SalesOrder", order)
	assert result.failed
	(issue,) = result.issues
	assert (issue.entity, issue.field, issue.severity) == ("sales_order", "items[2].item_code", "error")
	assert "987654321" in issue.reason and "line 2" in issue.reason
	assert "sales_order" not in {p.entity for p in result.plans}
	# The line that does exist still yields its Item.
	assert [p.vtiger_id for p in result.plans if p.entity == "item"] == [str(catalog["product"])]


def test_order_without_lines_is_a_record_error(vtiger: VTigerWriter, vtiger_engine: Engine, catalog):
	order = vtiger.create_sales_order("Empty", account_id=catalog["account"], lines=[])
	result = plan_record(vtiger_engine, "SalesOrder", order)
	assert result.failed
	(issue,) = result.issues
	assert (issue.entity, issue.field) == ("sales_order", "items")
	assert issue.message == f"SalesOrder #{order}, sales_order.items: the order has no line items"


# -- content hash -------------------------------------------------------------------------------------------------


def hashes(engine: Engine, module: str, crmid: int, context: PlanContext = CONTEXT) -> dict[str, str]:
	reader = make_reader(engine)
	result = BundlePlanner(reader.mapping, context).plan(read_bundle(reader, module, crmid))
	return {plan.entity: plan.content_hash for plan in result.plans}


def test_content_hash_is_stable_and_follows_mapped_values(
	vtiger: VTigerWriter, vtiger_engine: Engine, catalog
):
	account = vtiger.create_account(
		"Hash Ltd", bill={"street": "1 Main St", "city": "Town"}, ship={"street": "2 Side St", "city": "Town"}
	)
	first = hashes(vtiger_engine, "Accounts", account)
	assert first == hashes(vtiger_engine, "Accounts", account)
	assert len(set(first.values())) == 3

	vtiger.update(account, at=datetime(2025, 2, 1), industry="Banking")  # not mapped
	assert hashes(vtiger_engine, "Accounts", account) == first

	vtiger.update(account, at=datetime(2025, 2, 2), website="https://hash.example")
	changed = hashes(vtiger_engine, "Accounts", account)
	assert changed["customer"] != first["customer"]
	assert changed["customer_billing_address"] == first["customer_billing_address"]

	vtiger.update(account, at=datetime(2025, 2, 3), table="vtiger_accountshipads", ship_city="Village")
	moved = hashes(vtiger_engine, "Accounts", account)
	assert moved["customer_shipping_address"] != changed["customer_shipping_address"]
	assert moved["customer"] == changed["customer"]

	# Keyed: another hash key gives other hashes for the same values.
	other = hashes(vtiger_engine, "Accounts", account, PlanContext(hash_key=b"another key"))
	assert set(other.values()).isdisjoint(moved.values())


def test_order_hash_follows_its_lines(vtiger: VTigerWriter, vtiger_engine: Engine, catalog):
	order = vtiger.create_sales_order(
		"Lines",
		account_id=catalog["account"],
		lines=[{"productid": catalog["product"], "quantity": 1, "listprice": 10}],
	)
	before = hashes(vtiger_engine, "SalesOrder", order)
	assert before == hashes(vtiger_engine, "SalesOrder", order)
	vtiger.set_lines(
		order, [{"productid": catalog["product"], "quantity": 2, "listprice": 10}], at=datetime(2025, 3, 1)
	)
	after = hashes(vtiger_engine, "SalesOrder", order)
	assert after["sales_order"] != before["sales_order"]
	assert after["customer"] == before["customer"]


# -- the insurance household preset ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def insurance_fields(vtiger_engine: Engine) -> None:
	add_insurance_fields(VTigerWriter(vtiger_engine))


POLICY = {
	"cf_2141": "Active",
	"cf_2059": "2025-01-01",
	"cf_2179": "2024-11-05",
	"cf_2183": "María López",
	"cf_2257": "Digi Tizer",
	"cf_2255": "0000-00-00",
	"cf_2115": "FFM-0042",
	"cf_2803": "SUB-77",
	"cf_2035": "12345FL0010001",
	"cf_2037": "Silver 70 HMO",
	"cf_2203": "BEN-1",
	"cf_2067": "Broker B",
	"cf_2261": "2025-06-30",
	"cf_2293": "Ana",
	"cf_2295": "María",
	"cf_2297": "García",
	"cf_2299": "1980-05-17",
	"cf_2321": SSN,
	"cf_2303": "F",
	"cf_2601": "Passport X1",
	"cf_2119": "MEM-1",
	"cf_2347": "Luis",
	"cf_2351": "García",
	"cf_2355": "1982-02-03",
	"cf_2357": "987-65-4321",
	"cf_2359": "Masculino",
	"cf_2405": "Sofía",
	"cf_2409": "García",
	"cf_2413": "2010-09-09",
	"cf_2411": "Mujer",
	"cf_2431": "Hija",
	"cf_2479": "Mateo",
	"cf_2483": "García",
	"cf_2737": "200 Ocean Dr",
	"cf_2739": "Miami",
	"cf_2765": "FL",
	"cf_2743": "33139",
	"cf_1463": "1",
	"cf_2147": "0",
	"cf_1465": CARD,
	"cf_1473": "12/27",
	"cf_2157": "Crédito",
	"cf_2143": "33139",
	"cf_1471": "Chase",
	"cf_1479": "",
	"cf_1475": "021-000-021",
}


def create_policy(vtiger: VTigerWriter, **cf) -> int:
	plan_product = vtiger.create_service("ACA Silver 70", unit_price=350, usageunit="Each")
	account = vtiger.create_account("Household")
	return vtiger.create_sales_order(
		"Policy 2025",
		account_id=account,
		lines=[{"productid": plan_product, "quantity": 1, "listprice": 350}],
		cf={**POLICY, **cf},
	)


def plan_policy(engine: Engine, order: int, mapping="insurance_household"):
	return plan_record(engine, "SalesOrder", order, mapping)


def test_household_policy_plans(vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields):
	order = create_policy(vtiger)
	result = plan_policy(vtiger_engine, order)
	assert result.issues == [] and result.filtered is None
	plans = plans_by_key(result)
	assert set(plans) == {
		"customer",
		"owner",
		"spouse",
		"dependent#1",
		"dependent#3",
		"household_address",
		"item",
		"sales_order",
		"bank_card",
		"bank_account",
	}
	owner_id = f"{order}:owner"
	customer = plans["customer"]
	assert (customer.vtiger_id, customer.values) == (
		owner_id,
		{"customer_name": "Ana García", "customer_type": "Individual"},
	)

	owner = plans["owner"]
	assert owner.vtiger_id == owner_id and owner.doctype == "Contact"
	assert {
		k: owner.values[k]
		for k in ("first_name", "middle_name", "last_name", "gender", "vtiger_relationship")
	} == {
		"first_name": "Ana",
		"middle_name": "María",
		"last_name": "García",
		"gender": "Female",
		"vtiger_relationship": "Owner",
	}
	assert owner.values["vtiger_birth_date"] == date(1980, 5, 17)
	assert (owner.values["vtiger_document"], owner.values["vtiger_member_id"]) == ("Passport X1", "MEM-1")
	assert link_tuples(owner) == {
		("dynamic", "Customer", owner_id, None),
		("primary", "Customer", owner_id, "customer_primary_contact"),
	}

	spouse = plans["spouse"]
	assert (spouse.vtiger_id, spouse.values["first_name"], spouse.values["gender"]) == (
		f"{order}:spouse",
		"Luis",
		"Male",
	)
	assert spouse.values["vtiger_relationship"] == "Spouse"
	assert link_tuples(spouse) == {("dynamic", "Customer", owner_id, None)}

	first_child, third_child = plans["dependent#1"], plans["dependent#3"]
	assert (first_child.vtiger_id, first_child.values["first_name"], first_child.values["gender"]) == (
		f"{order}:dependent-1",
		"Sofía",
		"Female",
	)
	assert first_child.values["vtiger_relationship"] == "Hija"
	assert first_child.values["vtiger_birth_date"] == date(2010, 9, 9)
	# No relationship in VTiger: the mapping's default.
	assert (third_child.vtiger_id, third_child.values["vtiger_relationship"]) == (
		f"{order}:dependent-3",
		"Dependent",
	)
	assert third_child.values["vtiger_ssn_last4"] is None and third_child.secrets == {}

	address = plans["household_address"]
	assert {
		k: address.values[k]
		for k in ("address_line1", "city", "state", "pincode", "country", "address_title")
	} == {
		"address_line1": "200 Ocean Dr",
		"city": "Miami",
		"state": "FL",
		"pincode": "33139",
		"country": "United States",
		"address_title": "Ana García",
	}
	assert link_tuples(address) == {
		("dynamic", "Customer", owner_id, None),
		("primary", "Customer", owner_id, "customer_primary_address"),
	}

	so = plans["sales_order"]
	assert {k: v for k, v in so.values.items() if k.startswith("vtiger_")} == {
		"vtiger_number": so.values["vtiger_number"],
		"vtiger_policy_status": "Active",
		"vtiger_sales_date": date(2024, 11, 5),
		"vtiger_sales_person": "María López",
		"vtiger_digitizer": "Digi Tizer",
		"vtiger_digitizer_date": None,
		"vtiger_ffm_app_id": "FFM-0042",
		"vtiger_subscriber_id": "SUB-77",
		"vtiger_plan_hios_id": "12345FL0010001",
		"vtiger_plan_name": "Silver 70 HMO",
		"vtiger_benefit_id": "BEN-1",
		"vtiger_broker": "Broker B",
		"vtiger_paid_through_date": date(2025, 6, 30),
		"vtiger_autopay": 1,
		"vtiger_paid": 0,
	}
	assert so.values["transaction_date"] == date(2025, 1, 1)
	assert link_tuples(so) == {
		("field", "Customer", owner_id, "customer"),
		("field", "Contact", owner_id, "contact_person"),
		("field", "Address", f"{order}:household", "customer_address"),
	}

	bank = plans["bank_account"]
	assert bank.values == {
		"bank": "Chase",
		"account_name": "Chase",
		"branch_code": "021000021",
		"party_type": "Customer",
	}
	assert link_tuples(bank) == {("field", "Customer", owner_id, "party")}


def test_only_the_owner(vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields):
	blanks = {column: "" for column in ("cf_2347", "cf_2351", "cf_2405", "cf_2409", "cf_2479", "cf_2483")}
	order = create_policy(vtiger, **blanks, cf_2357="", cf_1465="", cf_1471="", cf_1475="")
	result = plan_policy(vtiger_engine, order)
	assert result.issues == []
	assert set(plans_by_key(result)) == {"customer", "owner", "household_address", "item", "sales_order"}


@pytest.mark.parametrize("status", ["Cancelación", "Prospecto", ""])
def test_policies_outside_the_synced_statuses_are_filtered(
	vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields, status
):
	order = create_policy(vtiger, cf_2141=status)
	result = plan_policy(vtiger_engine, order)
	assert result.plans == [] and result.issues == []
	assert result.filtered == f"cf_2141 is {status!r}, not one of the synced values"


@pytest.mark.parametrize("status", ["Sin Digitar", "initial enrollment", " Active "])
def test_synced_statuses_pass_whatever_their_case(
	vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields, status
):
	result = plan_policy(vtiger_engine, create_policy(vtiger, cf_2141=status))
	assert result.filtered is None
	assert plans_by_key(result)["sales_order"].values["vtiger_policy_status"] == status.strip()


def test_empty_and_zero_dates_become_none(vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields):
	# cf_2299 is a DATE column left NULL; cf_2355 a DATE column holding MariaDB's zero date; cf_2255 text '0000-00-00'.
	order = create_policy(vtiger, cf_2299=None, cf_2355="0000-00-00", cf_2255="0000-00-00", cf_2059=None)
	result = plan_policy(vtiger_engine, order)
	assert result.issues == []
	plans = plans_by_key(result)
	assert plans["owner"].values["vtiger_birth_date"] is None
	assert plans["spouse"].values["vtiger_birth_date"] is None
	assert plans["sales_order"].values["vtiger_digitizer_date"] is None
	# No effective date: the order's creation date.
	assert plans["sales_order"].values["transaction_date"] == date(2025, 1, 15)


def test_an_impossible_date_is_a_record_error_naming_the_field(
	vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields
):
	order = create_policy(vtiger, cf_2179="2023-02-30")
	result = plan_policy(vtiger_engine, order)
	assert result.failed
	(issue,) = result.issues
	assert (issue.entity, issue.field, issue.severity) == ("sales_order", "vtiger_sales_date", "error")
	assert "2023-02-30" in issue.reason and "not a valid date" in issue.reason
	assert "sales_order" not in plans_by_key(result)
	assert SSN_DIGITS not in issue.message and SSN not in issue.message


def test_non_ascii_text_survives(vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields):
	order = create_policy(
		vtiger,
		cf_2293="Łukasz",
		cf_2297="Müller",
		cf_2405="日本",
		cf_2409="Москва",
		cf_2739="Москва",
		cf_2037="Plan ü",
	)
	plans = plans_by_key(plan_policy(vtiger_engine, order))
	assert plans["customer"].values["customer_name"] == "Łukasz Müller"
	assert (plans["owner"].values["first_name"], plans["owner"].values["last_name"]) == ("Łukasz", "Müller")
	assert (plans["dependent#1"].values["first_name"], plans["dependent#1"].values["last_name"]) == (
		"日本",
		"Москва",
	)
	assert plans["household_address"].values["city"] == "Москва"
	assert plans["sales_order"].values["vtiger_plan_name"] == "Plan ü"
	assert plans["bank_card"].values["holder_name"] == "Łukasz Müller"


def test_ssn_lives_only_in_secrets(vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields):
	order = create_policy(vtiger, cf_2179="2023-02-30")  # an error too, to check issue texts
	result = plan_policy(vtiger_engine, order)
	plans = plans_by_key(result)
	owner, spouse = plans["owner"], plans["spouse"]
	assert owner.values["vtiger_ssn_last4"] == "6789"
	assert "vtiger_ssn" not in owner.values
	assert owner.secrets == {"vtiger_ssn": SSN_DIGITS}
	assert spouse.secrets == {"vtiger_ssn": "987654321"}
	for plan in result.plans:
		shown = repr(plan) + str(plan.values) + str(plan.children) + str(plan.meta) + str(plan.match)
		for secret in (SSN, SSN_DIGITS, "987-65-4321", "987654321"):
			assert secret not in shown, plan.entity
	for message in issue_texts(result):
		assert SSN_DIGITS not in message and SSN not in message


def test_a_changed_ssn_changes_the_hash_even_with_the_same_last_four(
	vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields
):
	order = create_policy(vtiger)
	before = {p.entity: p for p in plan_policy(vtiger_engine, order).plans}
	vtiger.update(order, at=datetime(2025, 2, 1), table="vtiger_salesordercf", cf_2321="555-44-6789")
	after = {p.entity: p for p in plan_policy(vtiger_engine, order).plans}
	assert after["owner"].values == before["owner"].values
	assert after["owner"].content_hash != before["owner"].content_hash
	assert after["spouse"].content_hash == before["spouse"].content_hash


def test_card_is_reduced_to_last_four_brand_and_expiry(
	vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields
):
	order = create_policy(vtiger)
	result = plan_policy(vtiger_engine, order)
	card = plans_by_key(result)["bank_card"]
	assert card.vtiger_id == f"{order}:card"
	assert (card.values["card_last4"], card.values["brand"]) == ("1111", "Visa")
	assert sum(ch.isdigit() for ch in card.values["masked_number"]) <= 4
	assert card.values["masked_number"].endswith("1111")
	assert (card.values["expiry_month"], card.values["expiry_year"]) == (12, 2027)
	assert card.values["card_type"] == "Credit"
	assert card.values["billing_zip"] == "33139"
	assert "card_number" not in card.values and "expiry" not in card.values
	assert card.secrets == {}
	assert link_tuples(card) == {("field", "Customer", f"{order}:owner", "customer")}
	for plan in result.plans:
		assert CARD_DIGITS not in repr(plan) and CARD not in repr(plan)


@pytest.mark.parametrize("expiry", ["12/27", "2027-12", "1227", "12/2027", "12-27"])
def test_card_expiry_forms(vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields, expiry):
	card = plans_by_key(plan_policy(vtiger_engine, create_policy(vtiger, cf_1473=expiry)))["bank_card"]
	assert (card.values["expiry_month"], card.values["expiry_year"]) == (12, 2027)


def test_an_invalid_card_is_a_warning_that_never_quotes_it(
	vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields
):
	bad = "4111 1111 1111 1112"
	result = plan_policy(vtiger_engine, create_policy(vtiger, cf_1465=bad))
	assert not result.failed
	(issue,) = result.issues
	assert (issue.severity, issue.entity, issue.field) == ("warning", "bank_card", "card_number")
	assert (
		bad not in issue.message and "4111111111111112" not in issue.message and "1112" not in issue.message
	)
	plans = plans_by_key(result)
	assert "bank_card" not in plans and "sales_order" in plans


def test_an_unreadable_expiry_leaves_the_card_out_with_a_warning(
	vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields
):
	result = plan_policy(vtiger_engine, create_policy(vtiger, cf_1473="13/26"))
	(issue,) = result.issues
	assert (issue.severity, issue.field) == ("warning", "expiry")
	assert "bank_card" not in plans_by_key(result)


def test_full_card_number_only_when_the_connection_stores_it(
	vtiger: VTigerWriter, vtiger_engine: Engine, insurance_fields
):
	doc = copy.deepcopy(read_json("insurance_household.json"))
	doc["entities"]["bank_card"]["options"] = {"store_full_number": True}
	order = create_policy(vtiger)
	result = plan_policy(vtiger_engine, order, load_mapping(doc))
	card = plans_by_key(result)["bank_card"]
	assert card.secrets == {"card_number": CARD_DIGITS}
	assert CARD_DIGITS not in repr(card)
	assert card.values["card_last4"] == "1111"


# -- pure helpers ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
	("number", "brand"),
	[
		("4111111111111111", "Visa"),
		("5500000000000004", "Mastercard"),
		("2221000000000009", "Mastercard"),
		("378282246310005", "American Express"),
		("6011111111111117", "Discover"),
		("3530111333300000", "JCB"),
		("30569309025904", "Diners Club"),
		("9999999999999995", "Other"),
	],
)
def test_card_brand_and_luhn(number, brand):
	assert card_brand(number) == brand
	assert passes_luhn(number)
	assert not passes_luhn(number[:-1] + str((int(number[-1]) + 1) % 10))


def test_mask_card_keeps_four_digits():
	assert mask_card("4111111111111111") == "•••• •••• •••• 1111"
	assert mask_card("378282246310005").endswith("0005")
	assert sum(ch.isdigit() for ch in mask_card("378282246310005")) == 4


@pytest.mark.parametrize(
	("value", "expected"),
	[
		("12/27", (12, 2027)),
		("1/2030", (1, 2030)),
		("2027-12", (12, 2027)),
		("2027/1", (1, 2027)),
		("1227", (12, 2027)),
		("03 28", (3, 2028)),
		(date(2029, 4, 30), (4, 2029)),
	],
)
def test_parse_expiry(value, expected):
	assert parse_expiry(value) == expected


@pytest.mark.parametrize("value", ["13/27", "00/27", "soon", "2027-13"])
def test_parse_expiry_rejects(value):
	with pytest.raises(ValueError):
		parse_expiry(value)


def test_a_sensitive_value_is_never_quoted_in_a_transform_error():
	mapping = load_mapping(
		{
			"streams": {"SalesOrder": {}},
			"entities": {
				"member": {
					"source": "salesorder",
					"processor": "contact",
					"doctype": "Contact",
					"fields": {
						"last_name": "lastname_col",
						"vtiger_ssn": {"from": "ssn_col", "transforms": ["int"], "sensitive": True},
					},
				}
			},
		}
	)
	bundle = Bundle(
		RecordRef("SalesOrder", 5),
		datetime(2025, 1, 1),
		{
			"salesorder": {"crmid": 5, "lastname_col": "Doe", "ssn_col": "123-45-678X"},
			"account": None,
			"contact": None,
		},
	)
	result = BundlePlanner(mapping, CONTEXT).plan(bundle)
	(issue,) = result.issues
	assert issue.field == "vtiger_ssn"
	assert "123-45-678X" not in issue.message
	# The same value in a field not marked sensitive is quoted, to help fix the data.
	mapping_plain = load_mapping(
		{
			"streams": {"SalesOrder": {}},
			"entities": {
				"member": {
					"source": "salesorder",
					"processor": "contact",
					"doctype": "Contact",
					"fields": {
						"last_name": "lastname_col",
						"vtiger_code": {"from": "ssn_col", "transforms": ["int"]},
					},
				}
			},
		}
	)
	(plain,) = BundlePlanner(mapping_plain, CONTEXT).plan(bundle).issues
	assert "123-45-678X" in plain.message


# -- one planner for a whole run -----------------------------------------------------------------------------------


def plan_view(result) -> tuple:
	"""Everything a result hands to the handlers, except which record first produced a shared plan."""
	return (
		result.filtered,
		[issue.message for issue in result.issues],
		[
			(
				p.entity,
				p.doctype,
				p.vtiger_id,
				p.values,
				p.children,
				p.links,
				p.meta,
				p.match,
				p.secrets,
				p.content_hash,
			)
			for p in result.plans
		],
	)


def test_a_planner_shared_by_a_run_plans_like_a_fresh_one(
	vtiger: VTigerWriter, vtiger_engine: Engine, catalog
):
	"""Drafts are cached across records; a run must still plan every record as if it were the only one."""
	a = catalog["account"]
	b = vtiger.create_account("Second account", bill={"street": "2 Side St", "city": "Town"})
	doomed = vtiger.create_account("Doomed")
	c1 = vtiger.create_contact(
		"One", account_id=a, email="one@example.com", mailing={"street": "1 A St", "city": "X"}
	)
	c2 = vtiger.create_contact("Two", account_id=b, email="two@example.com")
	c3 = vtiger.create_contact("Three")
	p, s = catalog["product"], catalog["service"]
	for account, contact, items in (
		(a, c1, [p, s]),
		(doomed, c1, [p]),
		(a, c2, [p]),
		(b, c3, [s, p, p]),
		(b, 0, [p]),
		(doomed, c2, [s]),
		(a, c1, [987654321]),
	):
		vtiger.create_sales_order(
			"Order",
			account_id=account,
			contact_id=contact,
			lines=[{"productid": item, "quantity": 1, "listprice": 3} for item in items],
			bill={"street": "9 Bill St", "city": "Town"},
		)
	vtiger.delete(doomed, at=datetime(2025, 2, 1))

	reader = make_reader(vtiger_engine, batch_size=3)
	shared = make_planner(reader)
	count = 0
	for module in ("Accounts", "Contacts", "SalesOrder"):
		for batch in reader.iter_changes(module, None, datetime(2100, 1, 1)):
			for bundle in batch.bundles:
				count += 1
				assert plan_view(shared.plan(bundle)) == plan_view(make_planner(reader).plan(bundle)), (
					bundle.source
				)
	assert count == 2 + 3 + 7


def test_connection_prefix_namespaces_every_id_and_link(vtiger: VTigerWriter, vtiger_engine: Engine, catalog):
	"""Two VTiger databases reuse crmids; a connection's prefix keeps their documents apart, links included."""
	contact = vtiger.create_contact("Prefixed", account_id=catalog["account"])
	order = vtiger.create_sales_order(
		"Prefixed order",
		account_id=catalog["account"],
		contact_id=contact,
		lines=[{"productid": catalog["product"], "quantity": 1, "listprice": 5}],
	)
	reader = make_reader(vtiger_engine)
	bare = make_planner(reader).plan(read_bundle(reader, "SalesOrder", order))
	prefixed_planner = BundlePlanner(
		reader.mapping, PlanContext(hash_key=b"k", id_prefix="prod/"), load_handler_config()
	)
	prefixed = prefixed_planner.plan(read_bundle(reader, "SalesOrder", order))
	assert [p.vtiger_id for p in prefixed.plans] == [f"prod/{p.vtiger_id}" for p in bare.plans]
	so = plans_by_key(prefixed)["sales_order"]
	assert {link.vtiger_id for link in so.links} == {f"prod/{catalog['account']}", f"prod/{contact}"}


# -- what cannot be planned, and what VTiger removed ---------------------------------------------------------------


def test_an_order_whose_contact_cannot_be_planned_lands_without_it(
	vtiger: VTigerWriter, vtiger_engine: Engine, catalog
):
	"""The contact fails (no name at all); the order is still planned, its contact left empty with a warning."""
	nameless = vtiger.create_contact("", firstname="", account_id=catalog["account"])
	order = vtiger.create_sales_order(
		"Nameless contact",
		account_id=catalog["account"],
		contact_id=nameless,
		lines=[{"productid": catalog["product"], "quantity": 1, "listprice": 5}],
	)
	result = plan_record(vtiger_engine, "SalesOrder", order)
	plans = plans_by_key(result)
	assert "contact" not in plans
	assert "contact_person" not in {link.fieldname for link in plans["sales_order"].links}
	errors = [(i.entity, i.field) for i in result.issues if i.severity == "error"]
	assert errors == [("contact", "first_name")]
	(warning,) = [i for i in result.issues if i.severity == "warning"]
	assert (warning.entity, warning.field) == ("sales_order", "contact_person")
	assert (
		"contact_person left empty" in warning.reason and "neither a first nor a last name" in warning.reason
	)


def test_an_order_whose_customer_cannot_be_planned_fails_with_the_reason(
	vtiger: VTigerWriter, vtiger_engine: Engine, catalog
):
	blank = vtiger.create_account("   ")
	order = vtiger.create_sales_order(
		"Blank account",
		account_id=blank,
		lines=[{"productid": catalog["product"], "quantity": 1, "listprice": 5}],
		bill={"street": "1 Main St", "city": "Kraków"},
	)
	result = plan_record(vtiger_engine, "SalesOrder", order)
	plans = plans_by_key(result)
	assert "customer" not in plans and "sales_order" not in plans
	assert "sales_order_billing_address" not in plans, "its required link to the customer fails it too"
	failed = {i.entity: i.reason for i in result.issues if i.severity == "error"}
	assert "customer" in failed
	assert failed["sales_order"].startswith("needs 'customer' could not be written")
	assert "item" in plans, "what does not depend on the customer is still planned"


def test_what_vtiger_removed_is_planned_empty(vtiger: VTigerWriter, vtiger_engine: Engine, catalog):
	contact = vtiger.create_contact("Nowak", email="nowak@example.pl", phone="+48 22 123 45 67")
	vtiger.update(contact, at=datetime(2025, 3, 1), email="", phone="")
	person = plans_by_key(plan_record(vtiger_engine, "Contacts", contact))["contact"]
	assert person.children == {"email_ids": [], "phone_nos": []}

	order = vtiger.create_sales_order(
		"Discount removed",
		account_id=catalog["account"],
		taxtype="group",
		discount_percent=10,
		lines=[{"productid": catalog["product"], "quantity": 2, "listprice": 50}],
	)
	vtiger.update(order, at=datetime(2025, 3, 1), discount_percent=None, subtotal=100, total=100)
	so = plans_by_key(plan_record(vtiger_engine, "SalesOrder", order))["sales_order"]
	assert so.values["discount_amount"] == 0
	assert so.values["additional_discount_percentage"] == 0
	assert so.children["taxes"] == []
	account = vtiger.create_account("Shrinking Co", website="https://shrinking.example")
	vtiger.update(account, at=datetime(2025, 3, 1), website="")
	customer = plans_by_key(plan_record(vtiger_engine, "Accounts", account))["customer"]
	assert "website" in customer.values and customer.values["website"] is None


def test_vtiger_total_is_rounded_half_up_as_its_ui_shows_it(
	vtiger: VTigerWriter, vtiger_engine: Engine, catalog
):
	order = vtiger.create_sales_order(
		"Half cent",
		account_id=catalog["account"],
		taxtype="group",
		lines=[{"productid": catalog["product"], "quantity": 1, "listprice": "917.325"}],
	)
	assert stored_totals(vtiger_engine, order)["total"] == Decimal("917.325")
	so = plans_by_key(plan_record(vtiger_engine, "SalesOrder", order))["sales_order"]
	assert so.meta["vtiger_total"] == Decimal("917.33")


@pytest.mark.parametrize(
	("text", "parts"),
	[
		("prod/11:dependent-2", ("prod/", 11, "dependent-2")),
		("acceptance-2/26", ("acceptance-2/", 26, None)),
		("26:billing", ("", 26, "billing")),
	],
)
def test_a_vtiger_id_reads_back_what_it_writes(text, parts):
	vtiger_id = VTigerId.parse(text)
	assert (vtiger_id.prefix, vtiger_id.crmid, vtiger_id.role) == parts
	assert str(vtiger_id) == text
	assert str(vtiger_id.record) == text.partition(":")[0]


@pytest.mark.parametrize("text", ["prod/", "prod/x1", ""])
def test_what_is_not_a_vtiger_id_is_refused(text):
	with pytest.raises(ValueError, match="not a VTiger id"):
		VTigerId.parse(text)


def test_an_engine_message_is_english_text_that_can_be_translated_at_the_edge(
	vtiger: VTigerWriter, vtiger_engine: Engine, catalog
):
	"""Processors stay free of Frappe: their reasons are English strings that keep template and values, which the
	Frappe layer renders with _() (here a fake Spanish dictionary)."""
	ghost = vtiger.create_sales_order(
		"Ghost",
		account_id=catalog["account"],
		lines=[{"productid": catalog["product"], "quantity": 1, "listprice": 1}],
	)
	with vtiger_engine.begin() as conn:
		conn.execute(
			text("UPDATE vtiger_inventoryproductrel SET productid = 4242 WHERE id = :id"), {"id": ghost}
		)
	(issue,) = plan_record(vtiger_engine, "SalesOrder", ghost).errors
	assert issue.reason == "line 1 refers to VTiger product/service #4242, which does not exist"
	spanish = {
		"line {line} refers to VTiger product/service #{product}, which does not exist": (
			"la línea {line} remite al producto o servicio #{product} de VTiger, que no existe"
		)
	}
	assert issue.translated(lambda s: spanish.get(s, s)).endswith(
		"sales_order.items[1].item_code: la línea 1 remite al producto o servicio #4242 de VTiger, que no existe"
	)
