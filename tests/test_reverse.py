"""Two-way sync's reverse mapping: which fields may push, what they become in VTiger, how conflicts end.

The pushes run against the kit's real VTiger 8.2 server, and what VTiger stored (ModTracker included) is read
from its own database.
"""

from __future__ import annotations

import copy
import html
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session
from vtiger_inventory import euro_currency, euro_order, inventory_rows
from vtiger_server import VTigerServer, add_custom_field

from vtigercrm_sync.config.config import load_handler_config, load_mapping, load_preset, read_json
from vtigercrm_sync.config.resolution import resolve_writeback
from vtigercrm_sync.config.spec import EntitySpec, FieldSpec, MappingError
from vtigercrm_sync.syncer.services.catalog import load_catalog
from vtigercrm_sync.syncer.services.reverse import (
	CONFLICT_ERPNEXT,
	CONFLICT_VTIGER,
	ERPNEXT_WINS,
	LATEST_WINS,
	SAME,
	VTIGER_WINS,
	WRITE,
	FieldChange,
	ReverseError,
	decide,
	field_changes,
	push_changes,
	vtiger_text,
	vtiger_utc,
	writeback_values,
)
from vtigercrm_sync.syncer.services.webservice import VTigerWebService, WebServiceSettings


def standard_doc() -> dict:
	return copy.deepcopy(read_json("salesorder.json"))


def push_problems(field: dict) -> list[str]:
	doc = standard_doc()
	doc["entities"]["contact"]["fields"]["designation"] = {**field, "push": True}
	with pytest.raises(MappingError) as caught:
		load_mapping(doc, load_handler_config())
	return [p.message for p in caught.value.problems if p.path == "entities.contact.fields.designation.push"]


@pytest.mark.parametrize(
	("field", "reason"),
	[
		({"from": ["firstname", "lastname"], "join": " "}, "joined value cannot be split"),
		({"from": ["mobile", "phone"], "coalesce": True}, "coalesced value"),
		({"from": "title", "transforms": [{"truncate": 10}]}, "transform 'truncate' loses"),
		({"from": "title", "transforms": ["digits"]}, "transform 'digits' loses"),
		({"from": "title", "transforms": [{"map": {"a": "A", "*": None}}]}, "'*' fallback"),
		({"value": "Owner"}, "a constant has no VTiger field"),
		({"from": "title", "sensitive": True}, "sensitive value is never written"),
		({"from": "account.accountname"}, "another record of the bundle"),
	],
)
def test_a_field_that_cannot_be_inverted_is_refused_with_its_reason(field: dict, reason: str) -> None:
	problems = push_problems(field)
	assert len(problems) == 1 and reason in problems[0], problems


def test_bank_cards_never_push() -> None:
	doc = copy.deepcopy(read_json("insurance_household.json"))
	doc["entities"]["bank_card"]["fields"]["expiry"]["push"] = True
	with pytest.raises(MappingError) as caught:
		load_mapping(doc, load_handler_config())
	assert [str(p) for p in caught.value.problems] == [
		"entities.bank_card.fields: bank cards and bank accounts never push to VTiger"
	]


def test_invertible_fields_may_push() -> None:
	doc = standard_doc()
	doc["entities"]["contact"]["fields"]["designation"] = {
		"from": "title",
		"transforms": ["trim", {"map": {"Dr.": "Doctor", "Mr.": "Mister"}}],
		"push": True,
	}
	contact = load_mapping(doc, load_handler_config()).entity("contact")
	assert "designation" in [spec.target for spec in contact.pushed]


def test_presets_push_what_the_issue_lists_and_never_a_secret() -> None:
	standard = load_preset("standard")
	pushed = {e.key: {f.target for f in e.pushed} for e in standard.entities if e.pushed}
	address = {"address_line1", "address_line2", "city", "state", "pincode", "country"}
	assert pushed == {
		"customer": {"customer_name", "website"},
		"contact": {"first_name", "last_name", "email_id", "phone", "mobile_no"},
		"customer_billing_address": address,
		"customer_shipping_address": address,
		"contact_address": address,
	}
	insurance = load_preset("insurance_household")
	for entity in insurance.entities:
		assert not any(spec.sensitive for spec in entity.pushed)
		if entity.doctype in ("Bank Card", "Bank Account"):
			assert not entity.pushed
	dependents = [e for e in insurance.entities if e.name == "dependent"]
	assert len({e.pushed[0].sources[0] for e in dependents}) == len(dependents) > 1  # each its own columns


def test_field_changes_lists_only_pushed_fields_that_changed() -> None:
	contact = load_preset("standard").entity("contact")
	before = {"first_name": "Jan", "last_name": "Kowalski", "designation": "CEO", "phone": "1"}
	after = {"first_name": "Jan", "last_name": "Nowak", "designation": "CTO", "phone": "1"}
	assert field_changes(contact, before, after) == [FieldChange("last_name", "Kowalski", "Nowak")]


def test_vtiger_text_inverts_the_transforms() -> None:
	mapped = FieldSpec(
		"designation", ("title",), transforms=(("map", {"Dr.": "Doctor", "Doctor": "Doctor"}),)
	)
	assert vtiger_text(mapped, "Doctor") == "Doctor"
	assert vtiger_text(FieldSpec("d", ("x",), transforms=(("map", {"Dr.": "Doctor"}),)), "Doctor") == "Dr."
	with pytest.raises(ReverseError):
		vtiger_text(mapped, "Nurse")
	assert (
		vtiger_text(FieldSpec("d", ("birthday",), transforms=(("date", None),)), date(1990, 2, 3))
		== "1990-02-03"
	)
	assert vtiger_text(FieldSpec("p", ("x",)), 12.50) == "12.5"
	assert vtiger_text(FieldSpec("p", ("x",)), None) == ""


def entity_with(*targets: str) -> EntitySpec:
	return EntitySpec(
		"contact",
		"contact",
		"contact",
		"Contact",
		fields=tuple(
			FieldSpec(t, (t.replace("_", ""),), transforms=(("trim", None),), push=True) for t in targets
		),
	)


NOON = datetime(2026, 1, 1, 12, 0, 0)


@pytest.mark.parametrize(
	("rule", "erpnext_changed", "outcome"),
	[
		(VTIGER_WINS, NOON + timedelta(hours=1), CONFLICT_VTIGER),
		(ERPNEXT_WINS, NOON - timedelta(hours=1), CONFLICT_ERPNEXT),
		(LATEST_WINS, NOON + timedelta(minutes=1), CONFLICT_ERPNEXT),
		(LATEST_WINS, NOON - timedelta(minutes=1), CONFLICT_VTIGER),
	],
)
def test_both_sides_changed_goes_by_the_rule(rule: str, erpnext_changed: datetime, outcome: str) -> None:
	entity = entity_with("first_name")
	[decision] = decide(
		entity,
		[FieldChange("first_name", "Jan", "Janek")],
		{"firstname": " Johann "},
		rule,
		NOON,
		erpnext_changed,
	)
	assert decision.outcome == outcome
	assert decision.conflict
	assert decision.loser == ("Johann" if outcome == CONFLICT_ERPNEXT else "Janek")
	assert decision.value == ("Janek" if outcome == CONFLICT_ERPNEXT else None)


def test_only_erpnext_changed_writes_and_equal_values_write_nothing() -> None:
	entity = entity_with("first_name", "last_name")
	changes = [FieldChange("first_name", "Jan", "Janek"), FieldChange("last_name", "Nowak", "Kowalski")]
	decisions = decide(entity, changes, {"firstname": "Jan ", "lastname": "Kowalski"}, VTIGER_WINS)
	assert [(d.outcome, d.value) for d in decisions] == [(WRITE, "Janek"), (SAME, None)]


def test_vtiger_time_is_read_in_its_zone() -> None:
	assert vtiger_utc("2026-07-01 14:00:00", "Europe/Warsaw") == datetime(2026, 7, 1, 12, 0, 0)
	assert vtiger_utc("") is None


def test_writeback_values_are_vtiger_text() -> None:
	targets = {"name": "cf_1", "status": "cf_2", "per_delivered": "cf_3", "per_billed": "cf_4"}
	values = {"name": "SAL-ORD-0001", "status": "To Deliver and Bill", "per_delivered": 50, "per_billed": 0.0}
	assert writeback_values(targets, values) == {
		"cf_1": "SAL-ORD-0001",
		"cf_2": "To Deliver and Bill",
		"cf_3": "50.00",
		"cf_4": "0.00",
	}


# ------------------------------------------------------------------------------------------------------------
# Against the real VTiger 8.2 server
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(vtiger_server: VTigerServer) -> VTigerWebService:
	return VTigerWebService(
		WebServiceSettings(vtiger_server.url, vtiger_server.username, vtiger_server.access_key)
	)


@pytest.fixture(scope="module")
def db(vtiger_server: VTigerServer) -> Iterator[Engine]:
	engine = create_engine(vtiger_server.database_url())
	yield engine
	engine.dispose()


def scalar(db: Engine, sql: str, **params):
	with db.connect() as conn:
		return conn.execute(text(sql), params).scalar()


def test_unknown_writeback_label_is_reported_with_the_closest_real_ones(
	vtiger_server: VTigerServer, db: Engine
) -> None:
	block = scalar(
		db,
		"SELECT b.blockid FROM vtiger_blocks b JOIN vtiger_tab t ON t.tabid = b.tabid "
		"WHERE t.name = 'SalesOrder' ORDER BY b.sequence LIMIT 1",
	)
	column = add_custom_field(vtiger_server, "SalesOrder", "ERPNext Status Reverse", block)
	with Session(db) as session:
		catalog = load_catalog(session)
	doc = standard_doc()
	doc["writeback"] = {"SalesOrder": {"status": "ERPNext Status Reverse"}}
	resolved = resolve_writeback(load_mapping(doc, load_handler_config()), catalog)
	assert resolved == {"SalesOrder": {"status": column}}

	doc["writeback"] = {"SalesOrder": {"status": "ERPNext Statuss Reverse"}}
	with pytest.raises(MappingError) as caught:
		resolve_writeback(load_mapping(doc, load_handler_config()), catalog)
	[problem] = caught.value.problems
	assert problem.path == "writeback.SalesOrder.status"
	assert "closest labels: 'ERPNext Status Reverse'" in problem.message


def test_a_push_is_written_by_vtiger_with_its_history(client: VTigerWebService, db: Engine) -> None:
	"""Non-ASCII values land as sent; VTiger bumps modifiedtime and ModTracker records who changed what."""
	contact = load_preset("standard").entity("contact")
	created = client.create(
		"Contacts",
		{
			"firstname": "Jan",
			"lastname": "Kowalski",
			"email": "jan@example.org",
			"assigned_user_id": client.user_id or "19x1",
		},
	)
	crmid = client.crmid_of(created["id"])
	time.sleep(1.1)
	changes = [
		FieldChange("first_name", "Jan", "Łukasz"),
		FieldChange("email_id", "jan@example.org", "łukasz@example.org"),
	]

	result = push_changes(client, contact, created["id"], changes, VTIGER_WINS, datetime.utcnow())

	assert [(d.column, d.outcome) for d in result.decisions] == [("firstname", WRITE), ("email", WRITE)]
	assert result.record["modifiedtime"] > created["modifiedtime"]
	assert (
		scalar(db, "SELECT firstname FROM vtiger_contactdetails WHERE contactid = :id", id=crmid) == "Łukasz"
	)
	with db.connect() as conn:
		details = conn.execute(
			text(
				"SELECT d.fieldname, d.prevalue, d.postvalue, b.whodid FROM vtiger_modtracker_detail d "
				"JOIN vtiger_modtracker_basic b ON b.id = d.id WHERE b.crmid = :id AND b.status = 0"
			),
			{"id": crmid},
		).all()
	changed = {d.fieldname: (html.unescape(d.prevalue), html.unescape(d.postvalue)) for d in details}
	assert changed["firstname"] == ("Jan", "Łukasz")
	assert changed["email"] == ("jan@example.org", "łukasz@example.org")
	assert "lastname" not in changed
	assert {d.whodid for d in details} == {1}


@pytest.mark.parametrize("rule", [VTIGER_WINS, ERPNEXT_WINS, LATEST_WINS])
def test_a_field_changed_in_vtiger_too_follows_the_rule(
	client: VTigerWebService, db: Engine, rule: str
) -> None:
	account = load_preset("standard").entity("customer")
	created = client.create("Accounts", {"accountname": f"Conflict {rule}", "assigned_user_id": "19x1"})
	erpnext_changed = datetime.utcnow()
	time.sleep(1.1)
	client.revise(
		{"id": created["id"], "website": "vtiger.example.org"}
	)  # a VTiger user, after the ERPNext edit
	changes = [
		FieldChange("customer_name", f"Conflict {rule}", f"Conflict {rule} ERP"),
		FieldChange("website", None, "erpnext.example.org"),
	]

	result = push_changes(client, account, created["id"], changes, rule, erpnext_changed)

	website = scalar(
		db, "SELECT website FROM vtiger_account WHERE accountid = :id", id=client.crmid_of(created["id"])
	)
	[conflict] = result.conflicts
	assert conflict.target == "website"
	if rule == ERPNEXT_WINS:
		assert (website, conflict.loser) == ("erpnext.example.org", "vtiger.example.org")
	else:  # VTiger's edit came later, so the latest change is VTiger's
		assert (website, conflict.loser) == ("vtiger.example.org", "erpnext.example.org")
	assert result.record["accountname"] == f"Conflict {rule} ERP"


def test_a_column_the_web_service_does_not_know_is_refused_not_ignored(client: VTigerWebService) -> None:
	"""VTiger's revise silently drops unknown fields; the push says so instead of reporting success."""
	contact = load_preset("standard").entity("contact")
	spec = FieldSpec("department", ("accountid",), push=True)
	entity = EntitySpec(contact.name, contact.source, contact.processor, contact.doctype, fields=(spec,))
	created = client.create(
		"Contacts", {"lastname": "Nieznany", "assigned_user_id": client.user_id or "19x1"}
	)
	with pytest.raises(ReverseError, match="no web service field accountid"):
		push_changes(client, entity, created["id"], [FieldChange("department", None, "x")], VTIGER_WINS)


def test_an_edit_pushed_into_a_foreign_currency_order_leaves_its_money_alone(
	client: VTigerWebService, db: Engine
) -> None:
	"""A pushed order field (the insurance preset pushes members into the policy's own columns) is a revise of
	an inventory record: VTiger's rate, tax type, discount, S&H and totals stay as they were."""
	order = euro_order(client, euro_currency(client), "individual", "Pushed edit")
	crmid = client.crmid_of(order["id"])
	before = inventory_rows(db, crmid)
	entity = EntitySpec(
		"policy", "salesorder", "contact", "Contact", fields=(FieldSpec("x", ("subject",), push=True),)
	)

	result = push_changes(
		client, entity, order["id"], [FieldChange("x", order["subject"], "Póliza")], VTIGER_WINS
	)

	assert [d.outcome for d in result.decisions] == [WRITE]
	after = inventory_rows(db, crmid)
	assert after["vtiger_salesorder"][0].pop("subject") == "Póliza"
	before["vtiger_salesorder"][0].pop("subject")
	assert after == before
