"""The insurance household preset pushed end to end, against the kit's real VTiger 8.2 server.

The preset reads the ``cf_NNNN`` columns of a production install. VTiger's Layout Editor names a new column
``cf_<n>`` after the next number of the ``vtiger_field_seq`` sequence (vtlib's ``getUniqueID('vtiger_field')``) and
takes the number after that as the fieldid, so setting the sequence to ``n - 1`` before adding a field through the
Layout Editor gives this VTiger the production columns, each made by VTiger itself. A policy is then created through
the web service, planned with the pure planner, and the spouse's and a dependent's edits are pushed with
``push_changes``; what VTiger stored is read back over SQL.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from support import CONTEXT, INSURANCE_FIELDS, read_bundle
from vtiger_server import VTigerServer, layout_editor

from vtigercrm_sync.config.config import load_handler_config, load_preset
from vtigercrm_sync.config.graph import selected_columns
from vtigercrm_sync.config.resolution import resolve_mapping
from vtigercrm_sync.config.spec import EntitySpec, MappingConfig
from vtigercrm_sync.database.unit_of_work import SqlAlchemyUnitOfWork
from vtigercrm_sync.syncer.plan import DocumentPlan, VTigerId
from vtigercrm_sync.syncer.processor.planner import BundlePlanner
from vtigercrm_sync.syncer.services.query import VTigerReader, read_catalog
from vtigercrm_sync.syncer.services.reverse import VTIGER_WINS, WRITE, FieldChange, PushResult, push_changes
from vtigercrm_sync.syncer.services.webservice import VTigerWebService, WebServiceSettings

PRESET = "insurance_household"
FIELD_TYPES = {"text": "Text", "date": "Date", "checkbox": "Checkbox"}
"""support.INSURANCE_FIELDS kinds as the Layout Editor's field types."""

OWNER = {
	"cf_2293": "Zoë",
	"cf_2295": "María",
	"cf_2297": "Núñez",
	"cf_2299": "1982-04-09",
	"cf_2303": "F",
	"cf_2321": "123-45-6789",
	"cf_2601": "Pasaporte Ñ123",
	"cf_2119": "M-0001",
}
SPOUSE = {
	"cf_2347": "José",
	"cf_2349": "Ángel",
	"cf_2351": "Núñez",
	"cf_2355": "1980-05-06",
	"cf_2359": "M",
	"cf_2375": "M-0002",
}
DEPENDENT_1 = {"cf_2405": "Inés", "cf_2409": "Núñez", "cf_2413": "2010-01-02", "cf_2431": "Hija"}
DEPENDENT_3 = {"cf_2479": "Martín", "cf_2483": "Núñez", "cf_2487": "2014-03-04", "cf_2501": "Hijo"}
"""Dependent 2 stays empty, so a dependent's role is its group's number, not its place among the filled ones."""
POLICY = {
	"cf_2141": "Active",
	"cf_2059": "2026-01-01",
	"cf_2037": "Plan Plata Añil",
	"cf_2737": "12 Calle Peña",
	"cf_2739": "Miami",
	"cf_2765": "FL",
	"cf_2743": "33101",
	"cf_1465": "4111111111111111",
	"cf_1473": "12/29",
	"cf_2157": "Débito",
	"cf_1471": "Banco Añil",
	"cf_1479": "Zoë Núñez",
	"cf_1475": "021000021",
}


def preset_columns() -> list[str]:
	"""The custom columns the preset reads (all on SalesOrder), lowest number first."""
	selected = selected_columns(load_preset(PRESET))
	assert not {c for s, cols in selected.items() if s != "salesorder" for c in cols if c.startswith("cf_")}
	return sorted((c for c in selected["salesorder"] if c.startswith("cf_")), key=_number)


def _number(column: str) -> int:
	return int(column.removeprefix("cf_"))


# ------------------------------------------------------------------------------------------------------------
# Fixtures
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def db(vtiger_server: VTigerServer) -> Iterator[Engine]:
	engine = create_engine(vtiger_server.database_url())
	yield engine
	engine.dispose()


@pytest.fixture(scope="module")
def client(vtiger_server: VTigerServer) -> VTigerWebService:
	return VTigerWebService(
		WebServiceSettings(vtiger_server.url, vtiger_server.username, vtiger_server.access_key)
	)


@pytest.fixture(scope="module")
def insurance_install(vtiger_server: VTigerServer, db: Engine, setup_timings: dict[str, float]) -> int:
	"""The production install's custom fields, each added through the Layout Editor into SalesOrder's custom block
	after setting ``vtiger_field_seq`` just below its number. Returns the block id."""
	started = time.perf_counter()
	block = scalar(
		db,
		"SELECT b.blockid FROM vtiger_blocks b JOIN vtiger_tab t ON t.tabid = b.tabid "
		"WHERE t.name = 'SalesOrder' AND b.blocklabel = 'LBL_CUSTOM_INFORMATION'",
	)
	add = layout_editor(vtiger_server)
	columns = preset_columns()
	for column in columns:
		label, kind = INSURANCE_FIELDS[column]
		with db.begin() as conn:
			current = conn.execute(text("SELECT id FROM vtiger_field_seq")).scalar_one()
			# Only ever forward: a number already given out would be a fieldid VTiger has used.
			assert current < _number(column), f"vtiger_field_seq is at {current}, past {column}"
			conn.execute(text("UPDATE vtiger_field_seq SET id = :id"), {"id": _number(column) - 1})
		created = add("SalesOrder", label, block, FIELD_TYPES[kind])
		assert created == column, f"the Layout Editor named {label!r} {created}, not {column}"
	setup_timings[f"insurance custom fields ({len(columns)})"] = time.perf_counter() - started
	return block


@dataclass(frozen=True)
class Policy:
	crmid: int
	ws_id: str


@pytest.fixture(scope="module")
def policy(client: VTigerWebService, insurance_install: int) -> Policy:
	"""A household policy (owner, spouse, dependents 1 and 3) with its Account, Product and line, made through the
	web service as a VTiger user would."""
	account = client.create(
		"Accounts", {"accountname": "Núñez household", "assigned_user_id": client.user_id or "19x1"}
	)
	product = client.create(
		"Products",
		{
			"productname": "Plan Plata Añil",
			"unit_price": "412.50",
			"discontinued": "1",
			"assigned_user_id": client.user_id,
		},
	)
	order = client.create(
		"SalesOrder",
		{
			"subject": "Póliza Núñez 2026",
			"account_id": account["id"],
			"sostatus": "Created",
			"invoicestatus": "AutoCreated",
			"bill_street": "12 Calle Peña",
			"ship_street": "12 Calle Peña",
			"assigned_user_id": client.user_id,
			"productid": product["id"],  # VTiger 8.2 wants the first line's product at the top too
			"LineItems": [{"productid": product["id"], "quantity": "1", "listprice": "412.50"}],
			**POLICY,
			**OWNER,
			**SPOUSE,
			**DEPENDENT_1,
			**DEPENDENT_3,
		},
	)
	return Policy(client.crmid_of(order["id"]), order["id"])


@pytest.fixture(scope="module")
def mapping(db: Engine, insurance_install: int) -> MappingConfig:
	"""The preset as loaded, resolved against this VTiger's catalog."""
	return resolve_mapping(load_preset(PRESET), read_catalog(db))


# ------------------------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------------------------


def scalar(db: Engine, sql: str, **params: Any) -> Any:
	with db.connect() as conn:
		return conn.execute(text(sql), params).scalar()


def plan_policy(db: Engine, mapping: MappingConfig, policy: Policy) -> dict[str, DocumentPlan]:
	"""Every document the policy plans, by entity key (``dependent#3``); items aside."""
	reader = VTigerReader(lambda: SqlAlchemyUnitOfWork(db), read_catalog(db), mapping)
	result = BundlePlanner(mapping, CONTEXT, load_handler_config()).plan(
		read_bundle(reader, "SalesOrder", policy.crmid)
	)
	assert result.issues == [], result.issues
	return {plan.entity: plan for plan in result.plans if plan.doctype != "Item"}


def entity_of(mapping: MappingConfig, plan: DocumentPlan) -> EntitySpec:
	"""The entity a synced document pushes through, found as the app's ``push.entity_of`` finds it: by doctype,
	the role in its VTiger id and the module. Exactly one may match."""
	role = VTigerId.parse(plan.vtiger_id).role
	found = [
		e
		for e in mapping.entities
		if e.doctype == plan.doctype and e.role_id == role and e.module == "SalesOrder"
	]
	assert len(found) == 1, f"{plan.vtiger_id}: {[e.key for e in found]}"
	return found[0]


def custom_row(db: Engine, policy: Policy) -> dict[str, Any]:
	with db.connect() as conn:
		return dict(
			conn.execute(
				text("SELECT * FROM vtiger_salesordercf WHERE salesorderid = :id"), {"id": policy.crmid}
			)
			.mappings()
			.one()
		)


def order_lines(db: Engine, policy: Policy) -> list[tuple]:
	with db.connect() as conn:
		return [
			tuple(row)
			for row in conn.execute(
				text(
					"SELECT r.productid, r.quantity, r.listprice, s.total FROM vtiger_inventoryproductrel r "
					"JOIN vtiger_salesorder s ON s.salesorderid = r.id WHERE r.id = :id ORDER BY r.sequence_no"
				),
				{"id": policy.crmid},
			)
		]


def modtracker_since(db: Engine, policy: Policy, after_id: int) -> list[tuple]:
	"""(whodid, status, fieldname, prevalue, postvalue) of the history VTiger wrote after ``after_id``."""
	with db.connect() as conn:
		rows = conn.execute(
			text(
				"SELECT b.whodid, b.status, d.fieldname, d.prevalue, d.postvalue FROM vtiger_modtracker_basic b "
				"JOIN vtiger_modtracker_detail d ON d.id = b.id WHERE b.crmid = :crmid AND b.id > :after "
				"ORDER BY b.id, d.fieldname"
			),
			{"crmid": policy.crmid, "after": after_id},
		).all()
	return [
		(r.whodid, r.status, r.fieldname, html.unescape(r.prevalue or ""), html.unescape(r.postvalue))
		for r in rows
	]


@dataclass
class Pushed:
	result: PushResult
	changed: dict[str, tuple[Any, Any]]
	"""vtiger_salesordercf column -> (before, after), for every column the push changed."""
	history: list[tuple]
	before: dict[str, DocumentPlan]
	after: dict[str, DocumentPlan]


def push_member(
	client: VTigerWebService,
	db: Engine,
	mapping: MappingConfig,
	policy: Policy,
	key: str,
	edits: Mapping[str, Any],
) -> Pushed:
	"""Push an ERPNext edit of the member planned as ``key``: each change's old value is what the plan holds."""
	before = plan_policy(db, mapping, policy)
	plan = before[key]
	entity = entity_of(mapping, plan)
	changes = [FieldChange(target, plan.values.get(target), new) for target, new in edits.items()]
	row, lines = custom_row(db, policy), order_lines(db, policy)
	last_history = scalar(db, "SELECT COALESCE(MAX(id), 0) FROM vtiger_modtracker_basic")

	result = push_changes(
		client,
		entity,
		client.ws_id(entity.module, VTigerId.parse(plan.vtiger_id).crmid),
		changes,
		VTIGER_WINS,
	)

	after_row = custom_row(db, policy)
	assert order_lines(db, policy) == lines  # revising an order's fields leaves its lines and total alone
	return Pushed(
		result,
		{c: (row[c], after_row[c]) for c in row if row[c] != after_row[c]},
		modtracker_since(db, policy, last_history),
		before,
		plan_policy(db, mapping, policy),
	)


def assert_only_member_moved(pushed: Pushed, key: str) -> None:
	"""The next pull brings the member its new values and every other document of the policy what it had."""
	assert {k for k in pushed.before if pushed.before[k].values != pushed.after[k].values} == {key}


# ------------------------------------------------------------------------------------------------------------
# Tests
# ------------------------------------------------------------------------------------------------------------


def test_the_layout_editor_gives_the_production_columns(db: Engine, insurance_install: int) -> None:
	"""Column cf_<n> from sequence n - 1, fieldid n + 1: two numbers a field, as the production numbers (all odd)
	suggest; each field in SalesOrder's custom block with the label the suite gives it."""
	with db.connect() as conn:
		fields = {
			r.columnname: r
			for r in conn.execute(
				text(
					"SELECT fieldid, columnname, fieldlabel, block, tablename, uitype FROM vtiger_field "
					"WHERE tabid = (SELECT tabid FROM vtiger_tab WHERE name = 'SalesOrder') AND columnname LIKE 'cf\\_%'"
				)
			)
		}
		types = dict(
			conn.execute(
				text(
					"SELECT column_name, data_type FROM information_schema.columns "
					"WHERE table_schema = DATABASE() AND table_name = 'vtiger_salesordercf'"
				)
			).all()
		)
	columns = preset_columns()
	assert set(columns) <= set(fields)
	for column in columns:
		field = fields[column]
		assert (field.fieldid, field.fieldlabel, field.block, field.tablename) == (
			_number(column) + 1,
			INSURANCE_FIELDS[column][0],
			insurance_install,
			"vtiger_salesordercf",
		)
	assert (types["cf_2299"], fields["cf_2299"].uitype) == ("date", "5")  # Owner Date of Birth, a Date field
	assert (types["cf_1463"], fields["cf_1463"].uitype) == ("varchar", "56")  # Autopay, a Checkbox


def test_the_preset_resolves_against_the_install(mapping: MappingConfig) -> None:
	assert mapping.resolved
	assert [spec.sources for spec in mapping.entity("spouse").pushed] == [
		("cf_2347",),
		("cf_2349",),
		("cf_2351",),
		("cf_2355",),
	]


def test_the_policy_plans_its_household(db: Engine, mapping: MappingConfig, policy: Policy) -> None:
	plans = plan_policy(db, mapping, policy)
	assert {"customer", "owner", "spouse", "dependent#1", "dependent#3"} <= set(plans)
	assert "dependent#2" not in plans
	assert plans["customer"].values["customer_name"] == "Zoë Núñez"
	assert plans["spouse"].values["first_name"] == "José"
	assert plans["dependent#3"].vtiger_id.endswith(f"{policy.crmid}:dependent-3")


def test_a_spouse_edit_is_written_into_the_spouse_columns_only(
	client: VTigerWebService, db: Engine, mapping: MappingConfig, policy: Policy
) -> None:
	pushed = push_member(
		client,
		db,
		mapping,
		policy,
		"spouse",
		{"first_name": "Joaquín", "last_name": "Núñez-Peña", "vtiger_birth_date": date(1980, 6, 5)},
	)

	assert [(d.column, d.outcome) for d in pushed.result.decisions] == [
		("cf_2347", WRITE),
		("cf_2351", WRITE),
		("cf_2355", WRITE),
	]
	assert pushed.changed == {
		"cf_2347": ("José", "Joaquín"),
		"cf_2351": ("Núñez", "Núñez-Peña"),
		"cf_2355": (date(1980, 5, 6), date(1980, 6, 5)),
	}
	assert pushed.history == [
		(1, 0, "cf_2347", "José", "Joaquín"),
		(1, 0, "cf_2351", "Núñez", "Núñez-Peña"),
		(1, 0, "cf_2355", "1980-05-06", "1980-06-05"),
	]
	assert client.crmid_of(client.user_id) == 1  # whodid 1 is the web service user
	assert_only_member_moved(pushed, "spouse")
	assert pushed.after["spouse"].values["first_name"] == "Joaquín"


def test_a_dependent_edit_is_written_into_its_own_group_columns(
	client: VTigerWebService, db: Engine, mapping: MappingConfig, policy: Policy
) -> None:
	"""Dependent 3 (dependent 2 is empty) writes group 3's columns, an empty middle name included."""
	pushed = push_member(
		client, db, mapping, policy, "dependent#3", {"first_name": "Martina", "middle_name": "Zoë"}
	)

	assert pushed.changed == {"cf_2479": ("Martín", "Martina"), "cf_2481": ("", "Zoë")}
	assert [(field, pre, post) for _who, _status, field, pre, post in pushed.history] == [
		("cf_2479", "Martín", "Martina"),
		("cf_2481", "", "Zoë"),
	]
	assert {(who, status) for who, status, *_ in pushed.history} == {(1, 0)}
	assert_only_member_moved(pushed, "dependent#3")
	assert pushed.after["dependent#3"].values["middle_name"] == "Zoë"


def test_cards_and_bank_accounts_are_planned_but_never_pushed(
	db: Engine, mapping: MappingConfig, policy: Policy
) -> None:
	"""After resolution too; the loader's refusal is test_reverse.py::test_bank_cards_never_push and
	::test_presets_push_what_the_issue_lists_and_never_a_secret."""
	plans = plan_policy(db, mapping, policy)
	for key in ("bank_card", "bank_account"):
		assert entity_of(mapping, plans[key]).pushed == ()
