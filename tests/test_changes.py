"""The change feed and the reconciliation of ids against rows written as VTiger 8.2 writes them: saves, deletes
that unlink dependents, restores, related-list unlinks and purges."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from vtiger_writer import VTigerWriter

from vtigercrm_sync.syncer.services.changes import changed_since, feed_head, read_feed, tracked_modules
from vtigercrm_sync.syncer.services.query import Watermark
from vtigercrm_sync.syncer.services.reconcile import compare_ids, link_differences, live_links

T = datetime(2025, 4, 1, 9, 0, 0)
MODULES = ("Accounts", "Contacts", "SalesOrder")


def at(n: int) -> datetime:
	return T + timedelta(seconds=n)


@pytest.fixture
def session(vtiger_engine: Engine):
	with Session(vtiger_engine) as session:
		yield session


def feed(vtiger_engine: Engine, after: int):
	with Session(vtiger_engine) as session:
		return read_feed(session, after, MODULES)


def test_a_deleted_account_brings_back_the_contacts_it_unlinked(vtiger: VTigerWriter, vtiger_engine: Engine):
	account = vtiger.create_account("Acme", at=at(0))
	contacts = [vtiger.create_contact(f"Person {n}", account_id=account, at=at(1)) for n in range(2)]
	other = vtiger.create_contact("Elsewhere", at=at(2))
	with Session(vtiger_engine) as s:
		head = feed_head(s)
	vtiger.delete(account, at=at(10))

	page = feed(vtiger_engine, head)
	assert page.records == {"Accounts": {account}, "Contacts": set(contacts)}
	assert other not in page.records["Contacts"]
	assert page.last > head and page.rows == 1
	# the next page starts after it: nothing is read twice
	assert feed(vtiger_engine, page.last).records == {}


def test_a_deleted_contact_brings_back_the_orders_it_emptied(vtiger: VTigerWriter, vtiger_engine: Engine):
	account = vtiger.create_account("Acme", at=at(0))
	contact = vtiger.create_contact("Buyer", account_id=account, at=at(1))
	product = vtiger.create_product("Bolt", at=at(2))
	order = vtiger.create_sales_order(
		"SO",
		account_id=account,
		contact_id=contact,
		lines=[{"productid": product, "quantity": 1, "listprice": 2}],
	)
	with Session(vtiger_engine) as s:
		head = feed_head(s)
	vtiger.delete(contact, at=at(10))
	assert feed(vtiger_engine, head).records == {"Contacts": {contact}, "SalesOrder": {order}}


def test_a_related_list_unlink_names_the_contact_though_only_the_account_moved(
	vtiger: VTigerWriter, vtiger_engine: Engine
):
	account = vtiger.create_account("Acme", at=at(0))
	contact = vtiger.create_contact("Linked", account_id=account, at=at(1))
	with Session(vtiger_engine) as s:
		head = feed_head(s)
	vtiger.unlink_contact(account, contact, at=at(10))
	assert feed(vtiger_engine, head).records == {"Accounts": {account}, "Contacts": {contact}}


def test_a_restore_is_named_as_restored_and_its_backups_are_gone(vtiger: VTigerWriter, vtiger_engine: Engine):
	account = vtiger.create_account("Acme", at=at(0))
	contact = vtiger.create_contact("Linked", account_id=account, at=at(1))
	vtiger.delete(account, at=at(5))
	with Session(vtiger_engine) as s:
		head = feed_head(s)
	vtiger.restore(account, at=at(10))
	page = feed(vtiger_engine, head)
	assert page.restored == {"Accounts": {account}}
	assert page.records == {"Accounts": {account}}
	# VTiger 8.2 re-links nothing: the contact stays without its account
	with Session(vtiger_engine) as s:
		assert live_links(s, "Contacts")[contact] is None


def test_a_purge_leaves_nothing_in_the_feed(vtiger: VTigerWriter, vtiger_engine: Engine):
	account = vtiger.create_account("Acme", at=at(0))
	vtiger.create_contact("Linked", account_id=account, at=at(1))
	with Session(vtiger_engine) as s:
		head = feed_head(s)
	vtiger.delete(account, at=at(5))
	vtiger.purge(account)
	# the delete's row and its backups went with the purge: the contact it unlinked is named by no row
	assert feed(vtiger_engine, head).records == {}


def test_the_minutely_check_sees_a_save_after_the_watermarks_and_nothing_else(
	vtiger: VTigerWriter, vtiger_engine: Engine
):
	account = vtiger.create_account("Acme", at=at(0))
	contact = vtiger.create_contact("Person", account_id=account, at=at(1))
	with Session(vtiger_engine) as s:
		head = feed_head(s)
	marks = {"Accounts": Watermark(at(0), account), "Contacts": Watermark(at(1), contact)}
	with Session(vtiger_engine) as s:
		assert changed_since(s, marks, head) == []
		assert changed_since(s, {**marks, "Contacts": None}, head) == ["Contacts"]  # never read: a run
		assert changed_since(s, {**marks, "SalesOrder": None}, head) == []  # none yet: nothing to read
	vtiger.update(contact, at=at(1), lastname="Same second")  # same second, later in the keyset: not the mark
	with Session(vtiger_engine) as s:
		assert changed_since(s, marks, head) == ["ModTracker"]
		assert changed_since(s, {**marks, "Contacts": Watermark(at(0), 0)}, head) == [
			"Contacts",
			"ModTracker",
		]


def test_the_minutely_check_leaves_out_the_saves_of_the_apps_own_user(
	vtiger: VTigerWriter, vtiger_engine: Engine
):
	user = vtiger  # admin (1)
	app = VTigerWriter(vtiger_engine, user_id=7)  # the connection's dedicated web service user
	account = user.create_account("Acme", at=at(0))
	with Session(vtiger_engine) as s:
		head = feed_head(s)
	marks = {"Accounts": Watermark(at(0), account)}
	app.update(account, at=at(20), website="pushed.example.org")
	with Session(vtiger_engine) as s:
		assert changed_since(s, marks, head, ignore_user=7) == []
		assert changed_since(s, marks, head) == ["Accounts", "ModTracker"]
	user.update(account, at=at(30), website="edited.example.org")
	app.update(account, at=at(40), website="pushed.example.org")  # the app's push after a user's edit
	with Session(vtiger_engine) as s:
		assert changed_since(s, marks, head, ignore_user=7) == ["ModTracker"]


def test_modules_modtracker_does_not_log_are_told(vtiger_engine: Engine, session: Session):
	assert tracked_modules(session, MODULES) == set(MODULES)


def test_compare_ids_finds_purged_deleted_and_missing(vtiger: VTigerWriter, vtiger_engine: Engine):
	kept = vtiger.create_account("Kept", at=at(0))
	binned = vtiger.create_account("Binned", at=at(1))
	purged = vtiger.create_account("Purged", at=at(2))
	missed = vtiger.create_account("Missed", at=at(3))
	vtiger.delete(binned, at=at(5))
	vtiger.delete(purged, at=at(6))
	vtiger.purge(purged)
	with Session(vtiger_engine) as s:
		diff = compare_ids(s, {"Accounts": [kept, binned, purged]})
	assert diff.gone["Accounts"] == [purged]
	assert diff.deleted["Accounts"] == [binned]
	assert missed in diff.missing["Accounts"]
	assert kept not in diff.missing["Accounts"]


def test_link_differences_find_stale_and_missing_links(vtiger: VTigerWriter, vtiger_engine: Engine):
	first = vtiger.create_account("First", at=at(0))
	second = vtiger.create_account("Second", at=at(1))
	moved = vtiger.create_contact("Moved", account_id=second, at=at(2))
	emptied = vtiger.create_contact("Emptied", account_id=first, at=at(3))
	same = vtiger.create_contact("Same", account_id=first, at=at(4))
	vtiger.unlink_contact(first, emptied, at=at(10))
	known = {moved: [first], emptied: [first], same: [first]}
	with Session(vtiger_engine) as s:
		assert link_differences(s, "Contacts", known) == sorted([moved, emptied])


def test_documents_mirror_the_optional_links_and_the_dynamic_ones():
	from vtigercrm_sync.config.config import load_preset
	from vtigercrm_sync.syncer.handler.factory import mirrored_links

	mapping = load_preset("standard")
	fields, _ = mirrored_links(mapping, "sales_order")
	assert "contact_person" in fields and "customer" not in fields  # a required link is never emptied
	assert mirrored_links(mapping, "contact")[1] == frozenset({"Customer"})
