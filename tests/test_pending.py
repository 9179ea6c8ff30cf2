"""A pull that meets ERPNext edits still waiting to be pushed: VTiger records read from the test MariaDB, planned with
the waiting edits, decided field by field by the connection's conflict rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest
from sqlalchemy.engine import Engine
from support import CONTEXT, make_reader, plans_by_key, read_bundle
from vtiger_writer import VTigerWriter

from vtigercrm_sync.config.config import load_handler_config
from vtigercrm_sync.syncer.processor.pending import PendingEdits, WaitingEdit, settle_changes
from vtigercrm_sync.syncer.processor.planner import BundlePlanner
from vtigercrm_sync.syncer.services.reverse import (
	CONFLICT_ERPNEXT,
	CONFLICT_VTIGER,
	ERPNEXT_WINS,
	LATEST_WINS,
	VTIGER_WINS,
	WRITE,
	FieldChange,
)

EDITED_AT = datetime(2026, 3, 1, 12, 0)
"""When ERPNext's edit was made (UTC); the account below was modified in VTiger at noon, Berlin time."""


def plan_with(engine: Engine, module: str, crmid: int, pending: PendingEdits):
	reader = make_reader(engine)
	planner = BundlePlanner(reader.mapping, replace(CONTEXT, pending=pending), load_handler_config())
	return plans_by_key(planner.plan(read_bundle(reader, module, crmid)))


def waiting(rule: str, *edits: WaitingEdit, time_zone: str | None = None) -> PendingEdits:
	pending = PendingEdits(rule, time_zone)
	pending.load(edits)
	return pending


def website_edit(account: int, old: str, new: str, at: datetime = EDITED_AT) -> WaitingEdit:
	return WaitingEdit("Customer", str(account), at, (FieldChange("website", old, new),))


@pytest.fixture
def account(vtiger: VTigerWriter) -> int:
	"""Changed in VTiger since the last sync: its website is now www.vtiger-side.example."""
	return vtiger.create_account(
		"Müller & Söhne GmbH", website="www.vtiger-side.example", at=datetime(2026, 3, 1, 12, 30)
	)


def test_a_field_vtiger_did_not_change_keeps_erpnext_s_edit(vtiger_engine: Engine, account: int):
	pending = waiting(
		VTIGER_WINS, website_edit(account, "www.vtiger-side.example", "www.erpnext-side.example")
	)
	customer = plan_with(vtiger_engine, "Accounts", account, pending)["customer"]
	assert customer.values["website"] == "www.erpnext-side.example"
	assert customer.values["customer_name"] == "Müller & Söhne GmbH"
	assert [(d.target, d.outcome, d.conflict) for d in customer.pending] == [("website", WRITE, False)]


def test_a_field_vtiger_already_holds_needs_no_decision(vtiger_engine: Engine, account: int):
	pending = waiting(VTIGER_WINS, website_edit(account, "www.old.example", "www.vtiger-side.example"))
	customer = plan_with(vtiger_engine, "Accounts", account, pending)["customer"]
	assert customer.values["website"] == "www.vtiger-side.example"
	assert customer.pending == ()


@pytest.mark.parametrize(
	("rule", "time_zone", "edited_at", "kept", "outcome", "loser"),
	[
		(
			VTIGER_WINS,
			None,
			EDITED_AT,
			"www.vtiger-side.example",
			CONFLICT_VTIGER,
			"www.erpnext-side.example",
		),
		(
			ERPNEXT_WINS,
			None,
			EDITED_AT,
			"www.erpnext-side.example",
			CONFLICT_ERPNEXT,
			"www.vtiger-side.example",
		),
		# VTiger's 12:30 in UTC is after the 12:00 edit: VTiger's change is the later one
		(
			LATEST_WINS,
			None,
			EDITED_AT,
			"www.vtiger-side.example",
			CONFLICT_VTIGER,
			"www.erpnext-side.example",
		),
		# the same 12:30 read in Berlin is 11:30 UTC, before the edit: ERPNext's is the later one
		(
			LATEST_WINS,
			"Europe/Berlin",
			EDITED_AT,
			"www.erpnext-side.example",
			CONFLICT_ERPNEXT,
			"www.vtiger-side.example",
		),
	],
)
def test_a_field_changed_on_both_sides_follows_the_rule(
	vtiger_engine: Engine, account: int, rule, time_zone, edited_at, kept, outcome, loser
):
	edit = website_edit(account, "www.before.example", "www.erpnext-side.example", edited_at)
	customer = plan_with(vtiger_engine, "Accounts", account, waiting(rule, edit, time_zone=time_zone))[
		"customer"
	]
	assert customer.values["website"] == kept
	[decision] = customer.pending
	assert (decision.target, decision.outcome, decision.conflict, decision.loser) == (
		"website",
		outcome,
		True,
		loser,
	)


def test_a_field_being_sent_keeps_erpnext_s_value_and_is_left_to_the_push(
	vtiger_engine: Engine, account: int
):
	"""A drain is sending the website (VTiger changed it too, so the push will find a conflict): the pull keeps
	ERPNext's value, keeps it as VTiger's too (what the push leaves there unless it loses), and decides nothing,
	for that row or a later one of the same field; another field of a waiting row is decided as usual."""
	sending = replace(website_edit(account, "www.before.example", "www.erpnext-side.example"), sending=True)
	later = WaitingEdit(
		"Customer",
		str(account),
		EDITED_AT,
		(
			FieldChange("website", "www.erpnext-side.example", "www.later.example"),
			FieldChange("customer_name", "Müller & Söhne GmbH", "Müller und Söhne GmbH"),
		),
	)
	customer = plan_with(vtiger_engine, "Accounts", account, waiting(VTIGER_WINS, sending, later))["customer"]
	assert customer.values["website"] == "www.later.example"
	assert customer.pulled["website"] == "www.later.example"
	assert customer.values["customer_name"] == "Müller und Söhne GmbH"
	assert [(d.target, d.outcome) for d in customer.pending] == [("customer_name", WRITE)]


def test_a_kept_e_mail_becomes_the_contact_s_primary_row(vtiger: VTigerWriter, vtiger_engine: Engine):
	contact = vtiger.create_contact("Ñúñez", firstname="Zoë", email="zoe@vtiger.example", phone="+34 600 1")
	edit = WaitingEdit(
		"Contact",
		str(contact),
		EDITED_AT,
		(FieldChange("email_id", "zoe@vtiger.example", "zoë.núñez@erpnext.example"),),
	)
	person = plan_with(vtiger_engine, "Contacts", contact, waiting(VTIGER_WINS, edit))["contact"]
	assert person.children["email_ids"] == [{"email_id": "zoë.núñez@erpnext.example", "is_primary": 1}]
	assert person.values["first_name"] == "Zoë"


def test_waiting_rows_fold_into_the_last_synced_and_the_current_value(vtiger_engine: Engine, account: int):
	"""Two edits of the website: VTiger still holds the value before the first, so ERPNext's latest stays."""
	pending = waiting(
		VTIGER_WINS,
		website_edit(account, "www.vtiger-side.example", "www.first.example"),
		website_edit(account, "www.first.example", "www.second.example"),
	)
	customer = plan_with(vtiger_engine, "Accounts", account, pending)["customer"]
	assert customer.values["website"] == "www.second.example"
	assert [d.outcome for d in customer.pending] == [WRITE]


def test_other_documents_of_the_record_are_planned_as_vtiger_has_them(
	vtiger: VTigerWriter, vtiger_engine: Engine
):
	account = vtiger.create_account(
		"Øresund AB", website="www.a.example", bill={"street": "Stortorget 1", "city": "Malmö"}
	)
	edit = WaitingEdit(
		"Customer", str(account), EDITED_AT, (FieldChange("website", "www.a.example", "www.b.example"),)
	)
	plans = plan_with(vtiger_engine, "Accounts", account, waiting(VTIGER_WINS, edit))
	assert plans["customer_billing_address"].pending == ()
	assert plans["customer_billing_address"].values["city"] == "Malmö"


def test_settling_drops_what_vtiger_won_and_pushes_what_erpnext_won_from_vtiger_s_value():
	pending = waiting(
		ERPNEXT_WINS,
		WaitingEdit("Contact", "7", EDITED_AT, (FieldChange("first_name", "Ana", "Anna"),)),
	)
	values = {"first_name": "Ána", "last_name": "Pérez"}
	decisions = {d.target: d for d in pending.reconcile("Contact", "7", values, None, {})}
	assert values["first_name"] == "Anna"
	first = set(decisions)
	rows = [
		[["first_name", "Ana", "Anna"], ["last_name", "Perez", "Pérez"]],
		[["first_name", "Anna", "Annä"]],
	]
	assert settle_changes(rows[0], decisions, first) == [
		["first_name", "Ána", "Anna"],
		["last_name", "Perez", "Pérez"],
	]
	assert settle_changes(rows[1], decisions, first) == [["first_name", "Anna", "Annä"]]

	vtiger_won = {
		d.target: d
		for d in waiting(
			VTIGER_WINS, WaitingEdit("Contact", "7", EDITED_AT, (FieldChange("first_name", "Ana", "Anna"),))
		).reconcile("Contact", "7", {"first_name": "Ána"}, None, {})
	}
	assert settle_changes(rows[0], vtiger_won, set(vtiger_won)) == [["last_name", "Perez", "Pérez"]]
	assert settle_changes(rows[1], vtiger_won, set()) == []
