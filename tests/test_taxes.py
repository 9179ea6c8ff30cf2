"""Taxes VTiger defines beyond a fresh install's three, taxes on shipping, and what the catalog reads of them.

A tax added in VTiger's settings adds a column to the lines (``tax4``), so these tests run in a database of their
own: the shared one keeps the fresh install's columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from support import issue_texts, make_planner, make_reader, plans_by_key, read_bundle
from vtiger_writer import VTigerWriter

from vtigercrm_sync.database.unit_of_work import SqlAlchemyUnitOfWork
from vtigercrm_sync.syncer.processor.base import PlanContext
from vtigercrm_sync.syncer.processor.planner import BundlePlanner
from vtigercrm_sync.syncer.services.catalog import load_catalog


@pytest.fixture(scope="module")
def taxed_engine(vtiger_settings, vtiger_database_loader) -> Iterator[Engine]:
	engine = create_engine(vtiger_database_loader(f"{vtiger_settings.database}_taxes"))
	yield engine
	engine.dispose()


@pytest.fixture(scope="module")
def eco(taxed_engine: Engine) -> dict[str, str]:
	writer = VTigerWriter(taxed_engine)
	return {"line": writer.add_tax("Eco", "2.5"), "shipping": writer.add_tax("Eco", "2.5", shipping=True)}


def test_the_catalog_reads_every_tax_the_base_currency_and_the_units(taxed_engine: Engine, eco):
	with SqlAlchemyUnitOfWork(taxed_engine) as uow:
		catalog = load_catalog(uow.session)
	assert eco == {"line": "tax4", "shipping": "shtax4"}
	assert [(t.key, t.label, t.percentage, t.shipping) for t in catalog.taxes] == [
		("tax1", "VAT", Decimal("4.500"), False),
		("tax2", "Sales", Decimal("10.000"), False),
		("tax3", "Service", Decimal("12.500"), False),
		("tax4", "Eco", Decimal("2.500"), False),
		("shtax1", "VAT", Decimal("4.500"), True),
		("shtax2", "Sales", Decimal("10.000"), True),
		("shtax3", "Service", Decimal("12.500"), True),
		("shtax4", "Eco", Decimal("2.500"), True),
	]
	assert catalog.line_tax_columns == ("tax1", "tax2", "tax3", "tax4")
	assert catalog.base_currency == "USD"
	assert catalog.usage_units[:4] == ("Box", "Carton", "Dozen", "Each")
	assert {"Hours", "Days", "Incidents"} <= set(catalog.usage_units)


def test_an_added_tax_and_taxes_on_shipping_become_rows_of_their_own(taxed_engine: Engine, eco):
	writer = VTigerWriter(taxed_engine)
	account = writer.create_account("Øresund Handel ApS")
	product = writer.create_product("Kaffe ☕︎", unit_price=10, usageunit="Pack")
	order = writer.create_sales_order(
		"Eco order",
		account_id=account,
		taxtype="individual",
		lines=[{"productid": product, "quantity": 3, "listprice": "10.10", "tax1": 4.5, "tax4": 2.5}],
		sh_amount=20,
		sh_tax_percent={1: "4.5", 4: "2.5"},
	)
	with taxed_engine.connect() as conn:
		stored = conn.execute(
			text("SELECT total FROM vtiger_salesorder WHERE salesorderid = :id"), {"id": order}
		).scalar_one()
	# 30.30 net + 1.3635 VAT + 0.7575 Eco + 20 S&H + 0.90 VAT + 0.50 Eco on S&H = 53.821
	assert stored == Decimal("53.821")

	reader = make_reader(taxed_engine)
	context = PlanContext(hash_key=b"k", taxes=reader.catalog.taxes)
	result = BundlePlanner(reader.mapping, context).plan(read_bundle(reader, "SalesOrder", order))
	assert not result.failed, issue_texts(result)
	so = plans_by_key(result)["sales_order"]
	assert [(r["vtiger_tax"], r["description"], r["tax_amount"]) for r in so.children["taxes"]] == [
		("tax1", "VAT", Decimal("1.36")),
		("tax4", "Eco", Decimal("0.76")),
		("shipping", "Shipping & Handling", Decimal("20.00")),
		("shtax1", "VAT on Shipping & Handling", Decimal("0.90")),
		("shtax4", "Eco on Shipping & Handling", Decimal("0.50")),
	]
	assert so.meta["vtiger_total"] == Decimal("53.82")
	assert "total_mismatch" not in so.meta


def test_a_planner_without_the_catalog_knows_a_fresh_installs_taxes(taxed_engine: Engine, eco):
	reader = make_reader(taxed_engine)
	assert make_planner(reader).context.taxes[0].label == "VAT"
