"""Custom fields found at run time: catalog reflection and mapping by label, against the test MariaDB."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from support import INSURANCE_FIELDS, add_insurance_fields, make_planner, make_reader, read_bundle
from vtiger_writer import VTigerWriter

from vtigercrm_sync.config.config import load_mapping, load_preset, read_json
from vtigercrm_sync.config.spec import MappingConfig, MappingError
from vtigercrm_sync.syncer.services.catalog import load_catalog


@pytest.fixture(scope="module")
def custom_fields(vtiger_engine: Engine) -> dict[str, str]:
	"""The insurance install's SalesOrder fields plus a few on Accounts and Contacts, added the Layout Editor way."""
	writer = VTigerWriter(vtiger_engine)
	add_insurance_fields(writer)
	return {
		"loyalty": writer.add_custom_field("Contacts", "Loyalty Tier"),
		"account_card": writer.add_custom_field("Accounts", "Card Number", length=30),
		"account_expiry": writer.add_custom_field("Accounts", "Card Expiry", length=10),
		"account_card_type": writer.add_custom_field(
			"Accounts", "Card Type", "picklist", 20, picklist_values=["Debit"]
		),
	}


def policy_mapping(fields: dict, filter_from: str | None = None) -> MappingConfig:
	"""One Sales Order entity with the given extra fields (and optionally a status filter)."""
	stream = {"filter": {"from": filter_from, "in": ["Active"]}} if filter_from else {}
	return load_mapping(
		{
			"streams": {"SalesOrder": stream},
			"entities": {
				"policy": {
					"source": "salesorder",
					"processor": "sales_order",
					"doctype": "Sales Order",
					"fields": {"transaction_date": {"from": "createdtime", "transforms": ["date"]}, **fields},
					"children": {"items": {"source": "line", "fields": {"item_code": "item_no"}}},
				}
			},
		}
	)


def resolution_problems(engine: Engine, mapping: MappingConfig) -> dict[str, str]:
	with pytest.raises(MappingError) as caught:
		make_reader(engine, mapping)
	return {p.path: p.message for p in caught.value.problems}


def sources_of(mapping: MappingConfig, entity: str) -> dict[str, tuple[str, ...]]:
	return {f.target: f.sources for f in mapping.entity(entity).fields}


def test_catalog_reflects_custom_field_columns_and_labels(vtiger_engine: Engine, custom_fields):
	with Session(vtiger_engine) as session:
		catalog = load_catalog(session)
	columns = catalog.columns("salesorder")
	assert set(INSURANCE_FIELDS) <= columns
	assert catalog.table_of("salesorder", "cf_2115") == "vtiger_salesordercf"
	assert catalog.table_of("salesorder", "subject") == "vtiger_salesorder"
	assert catalog.table_of("salesorder", "bill_city") == "vtiger_sobillads"
	labels = catalog.labels("salesorder")
	assert labels["FFM App ID"] == "cf_2115"
	assert labels["Dependent 3 SSN"] == "cf_2491"
	assert labels["Subject"] == "subject"
	# Each module's custom fields stay with their module.
	assert custom_fields["loyalty"] in catalog.columns("contact")
	assert custom_fields["loyalty"] not in columns | catalog.columns("account")
	assert catalog.labels("account")["Card Number"] == custom_fields["account_card"]
	assert catalog.labels("salesorder")["Card Number"] == "cf_1465"
	assert catalog.tabids == {"Accounts": 6, "Contacts": 4, "SalesOrder": 22}
	assert {"item_type", "item_name", "item_no"} <= catalog.columns("line")


def test_a_field_added_later_shows_up_in_the_next_catalog(
	vtiger_engine: Engine, vtiger: VTigerWriter, custom_fields
):
	with Session(vtiger_engine) as session:
		before = load_catalog(session)
	column = vtiger.add_custom_field("SalesOrder", "Renewal Month", "integer", 2)
	assert column not in before.columns("salesorder")
	with Session(vtiger_engine) as session:
		after = load_catalog(session)
	assert after.table_of("salesorder", column) == "vtiger_salesordercf"
	assert after.labels("salesorder")["Renewal Month"] == column


@pytest.mark.parametrize("name", ["FFM App ID", "ffm app id", "FFM APP ID", "cf_2115"])
def test_label_or_column_resolves_and_is_read(
	vtiger_engine: Engine, vtiger: VTigerWriter, custom_fields, name
):
	reader = make_reader(vtiger_engine, policy_mapping({"vtiger_ffm_app_id": name}))
	assert reader.mapping.resolved
	assert sources_of(reader.mapping, "policy")["vtiger_ffm_app_id"] == ("cf_2115",)

	product = vtiger.create_product("Plan")
	account = vtiger.create_account("Household")
	order = vtiger.create_sales_order(
		"Policy",
		account_id=account,
		lines=[{"productid": product, "quantity": 1, "listprice": 10}],
		cf={"cf_2115": "APP-2025-0042"},
	)
	result = make_planner(reader).plan(read_bundle(reader, "SalesOrder", order))
	assert result.issues == []
	(plan,) = result.plans
	assert plan.values["vtiger_ffm_app_id"] == "APP-2025-0042"


def test_standard_field_labels_and_other_parts_resolve(vtiger_engine: Engine, custom_fields):
	reader = make_reader(
		vtiger_engine,
		policy_mapping(
			{
				"po_no": "Purchase Order",
				"vtiger_city": "billing city",
				"vtiger_account": "account.Account Name",
				"vtiger_card": "account.Card Number",
				"vtiger_tier": "contact.Loyalty Tier",
			}
		),
	)
	assert sources_of(reader.mapping, "policy") == {
		"transaction_date": ("createdtime",),
		"po_no": ("purchaseorder",),
		"vtiger_city": ("bill_city",),
		"vtiger_account": ("account.accountname",),
		"vtiger_card": (f"account.{custom_fields['account_card']}",),
		"vtiger_tier": (f"contact.{custom_fields['loyalty']}",),
	}


def test_unknown_names_are_all_reported_with_paths_and_close_fields(vtiger_engine: Engine, custom_fields):
	mapping = policy_mapping(
		{"vtiger_ffm_app_id": "FFM Ap ID", "vtiger_plan": "cf_99999", "vtiger_tier": "Loyalty Tier"},
		filter_from="Policy Stat",
	)
	found = resolution_problems(vtiger_engine, mapping)
	message = found["entities.policy.fields.vtiger_ffm_app_id.from"]
	assert message.startswith("no VTiger SalesOrder field has the column or label 'FFM Ap ID'")
	assert "closest fields: 'FFM App ID'" in message
	assert (
		"no VTiger SalesOrder field has the column or label 'cf_99999'"
		in found["entities.policy.fields.vtiger_plan.from"]
	)
	assert "'Policy Status'" in found["streams.SalesOrder.filter.from"]
	# A Contacts label does not resolve on a sales order...
	assert "'Loyalty Tier'" in found["entities.policy.fields.vtiger_tier.from"]
	assert set(found) == {
		"entities.policy.fields.vtiger_ffm_app_id.from",
		"entities.policy.fields.vtiger_plan.from",
		"entities.policy.fields.vtiger_tier.from",
		"streams.SalesOrder.filter.from",
	}


def test_label_of_another_module_names_that_module(vtiger_engine: Engine, custom_fields):
	found = resolution_problems(vtiger_engine, policy_mapping({"vtiger_account": "account.Loyalty Tier"}))
	assert found["entities.policy.fields.vtiger_account.from"].startswith(
		"no VTiger Accounts field has the column or label 'account.Loyalty Tier'"
	)


def test_repeated_members_are_resolved_each_with_its_own_path(vtiger_engine: Engine, custom_fields):
	doc = read_json("insurance_household.json")
	doc["entities"]["dependent"]["repeat"][3]["first"] = "Dependent 4 Frist Name"
	doc["entities"]["dependent"]["repeat"][1]["first"] = "dependent 2 first name"
	found = resolution_problems(vtiger_engine, load_mapping(doc))
	assert set(found) == {"entities.dependent.repeat[3].fields.first_name.from"}
	assert (
		"closest fields: 'Dependent 4 First Name'"
		in found["entities.dependent.repeat[3].fields.first_name.from"]
	)
	doc["entities"]["dependent"]["repeat"][3]["first"] = "cf_2515"
	reader = make_reader(vtiger_engine, load_mapping(doc))
	assert sources_of(reader.mapping, "dependent#2")["first_name"] == ("cf_2443",)


def test_the_standard_bank_card_labels_resolve_once_the_fields_exist(vtiger_engine: Engine, custom_fields):
	doc = read_json("salesorder.json")
	doc["entities"]["bank_card"]["enabled"] = True
	reader = make_reader(vtiger_engine, load_mapping(doc))
	assert sources_of(reader.mapping, "bank_card") == {
		"card_number": (custom_fields["account_card"],),
		"expiry": (custom_fields["account_expiry"],),
		"card_type": (custom_fields["account_card_type"],),
		"holder_name": ("accountname",),
	}


def test_the_insurance_preset_resolves_against_the_insurance_install(vtiger_engine: Engine, custom_fields):
	reader = make_reader(vtiger_engine, "insurance_household")
	assert reader.mapping.streams["SalesOrder"].column == "cf_2141"
	assert sources_of(reader.mapping, "owner")["first_name"] == ("cf_2293",)
	assert sources_of(reader.mapping, "dependent#5")["vtiger_ssn"] == ("cf_2657",)
	assert not load_preset("insurance_household").resolved and reader.mapping.resolved


def test_importing_the_engine_touches_no_database():
	"""Models, catalog, reader, planner and CLI import with no database driver at all, and no cf column is known."""
	code = (
		"import sys; sys.modules['pymysql'] = None; sys.modules['frappe'] = None\n"
		"from vtigercrm_sync import models\n"
		"import vtigercrm_sync.syncer.services.catalog, vtigercrm_sync.syncer.services.query\n"
		"import vtigercrm_sync.syncer.processor.planner, vtigercrm_sync.cli\n"
		"from vtigercrm_sync.database import engine\n"
		"assert engine._engines == {}, engine._engines\n"
		"print(sorted(models.SalesOrderCustomFields.__table__.columns.keys()),"
		" sorted(models.AccountCustomFields.__table__.columns.keys()))\n"
	)
	done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
	assert done.returncode == 0, done.stderr
	assert done.stdout.strip() == "['salesorderid'] ['accountid']"


def test_link_keys_are_resolved_too(vtiger_engine: Engine, custom_fields):
	doc = read_json("salesorder.json")
	doc["entities"]["contact"]["links"][0]["key"] = "accountidd"
	doc["entities"]["sales_order"]["links"][1]["key"] = "Contact Name"
	mapping = load_mapping(doc)
	found = resolution_problems(vtiger_engine, mapping)
	assert set(found) == {"entities.contact.links[0].key"}
	assert "closest fields: 'accountid'" in found["entities.contact.links[0].key"]
	doc["entities"]["contact"]["links"][0]["key"] = "accountid"
	reader = make_reader(vtiger_engine, load_mapping(doc))
	# A label works for a key as for a field: "Contact Name" is the order's contactid field.
	assert reader.mapping.entity("sales_order").links[1].key == "contactid"


def test_a_custom_field_labelled_as_a_card_security_code_is_refused(
	vtiger: VTigerWriter, vtiger_engine: Engine
):
	"""The guard reads VTiger's labels too: a column named cf_NNN whose label is "Card CVV" is never read."""
	column = vtiger.add_custom_field("SalesOrder", "Card CVV", length=4)
	found = resolution_problems(vtiger_engine, policy_mapping({"vtiger_benefit_id": column}))
	assert "'Card CVV', a card security code (CVC)" in found["entities.policy.fields.vtiger_benefit_id.from"]
	with pytest.raises(MappingError, match="card security code"):
		policy_mapping({"vtiger_benefit_id": "Card CVV"})
