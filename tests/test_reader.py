"""The VTiger reader against the test MariaDB: keyset paging, signpost, deletions, references, lines, connection."""

from __future__ import annotations

import math
import socket
from datetime import datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL, Engine
from support import make_reader, read_batches
from vtiger_writer import VTigerWriter

from vtigercrm_sync.config.loader import load_preset
from vtigercrm_sync.database.engine import ConnectionSettings, dispose_engines
from vtigercrm_sync.syncer.plan import RecordRef
from vtigercrm_sync.syncer.services.query import ConnectionFailed, VTigerReader, Watermark, check_connection

T = datetime(2025, 3, 1, 12, 0, 0)
BOGUS_PASSWORD = "Bogus-Pa55word-XYZ"


def seconds(n: int) -> datetime:
	return T + timedelta(seconds=n)


def read_order(batches) -> list[int]:
	return [bundle.source.crmid for batch in batches for bundle in batch.bundles]


@pytest.fixture
def reader(vtiger_engine: Engine) -> VTigerReader:
	return make_reader(vtiger_engine)


# -- order and watermarks ----------------------------------------------------------------------------------------


def test_changes_come_in_modifiedtime_then_crmid_order(vtiger: VTigerWriter, vtiger_engine: Engine):
	late = vtiger.create_account("Late", at=seconds(5))
	tie_low = vtiger.create_account("Tie low", at=seconds(1))
	middle = vtiger.create_account("Middle", at=seconds(3))
	tie_high = vtiger.create_account("Tie high", at=seconds(1))
	# An update moves a record to the end.
	first = vtiger.create_account("Updated later", at=seconds(0))
	vtiger.update(first, at=seconds(9), website="https://example.com")

	batches = read_batches(make_reader(vtiger_engine, batch_size=2), "Accounts")
	assert read_order(batches) == [tie_low, tie_high, middle, late, first]
	assert [b.last for b in batches] == [
		Watermark(seconds(1), tie_high),
		Watermark(seconds(5), late),
		Watermark(seconds(9), first),
	]
	assert [bundle.modifiedtime for batch in batches for bundle in batch.bundles] == [
		seconds(1),
		seconds(1),
		seconds(3),
		seconds(5),
		seconds(9),
	]


def test_a_tie_larger_than_a_batch_is_read_exactly_once(vtiger: VTigerWriter, vtiger_engine: Engine):
	before = vtiger.create_account("Before", at=seconds(-1))
	tie = [vtiger.create_account(f"Same second {n}", at=T) for n in range(7)]
	after = vtiger.create_account("After", at=seconds(1))
	reader = make_reader(vtiger_engine, batch_size=3)

	batches = read_batches(reader, "Accounts")
	assert [len(b.bundles) for b in batches] == [3, 3, 3]
	assert read_order(batches) == [before, *tie, after]
	assert batches[0].last == Watermark(T, tie[1])
	assert batches[1].last == Watermark(T, tie[4])

	# Resuming inside the tie reads exactly the rest of it, then what follows.
	assert read_order(read_batches(reader, "Accounts", Watermark(T, tie[3]))) == [*tie[4:], after]
	assert read_order(read_batches(reader, "Accounts", batches[0].last)) == [*tie[2:], after]
	assert read_order(read_batches(reader, "Accounts", Watermark(T, tie[-1]))) == [after]
	assert read_batches(reader, "Accounts", Watermark(seconds(1), after)) == []


def test_no_watermark_reads_everything_and_a_watermark_reads_after_it(
	vtiger: VTigerWriter, reader: VTigerReader
):
	ids = [vtiger.create_account(f"Account {n}") for n in range(4)]
	everything = read_batches(reader, "Accounts")
	assert read_order(everything) == ids
	since = Watermark(everything[0].bundles[1].modifiedtime, ids[1])
	assert read_order(read_batches(reader, "Accounts", since)) == ids[2:]
	assert reader.count_changes("Accounts", None, datetime(2100, 1, 1)) == 4
	assert reader.count_changes("Accounts", since, datetime(2100, 1, 1)) == 2


def test_signpost_excludes_records_saved_at_or_after_it(vtiger: VTigerWriter, vtiger_engine: Engine):
	reader = make_reader(vtiger_engine)
	signpost = reader.signpost()
	with vtiger_engine.connect() as conn:
		server_now = conn.execute(text("SELECT NOW()")).scalar_one()
	assert signpost.microsecond == 0
	assert abs((server_now - signpost).total_seconds()) < 5

	just_before = vtiger.create_account("Just before", at=signpost - timedelta(seconds=1))
	at_signpost = vtiger.create_account("At the signpost", at=signpost)
	later = vtiger.create_account("Later", at=signpost + timedelta(minutes=1))

	run = read_batches(reader, "Accounts", None, signpost)
	assert read_order(run) == [just_before]
	assert reader.count_changes("Accounts", None, signpost) == 1
	# The next run, from this run's watermark, picks up what the signpost held back.
	next_run = read_batches(reader, "Accounts", run[-1].last, signpost + timedelta(hours=1))
	assert read_order(next_run) == [at_signpost, later]


def test_each_stream_reads_only_its_module(vtiger: VTigerWriter, reader: VTigerReader):
	account = vtiger.create_account("Acme")
	contact = vtiger.create_contact("Doe", account_id=account)
	product = vtiger.create_product("Bolt")
	order = vtiger.create_sales_order(
		"Order", account_id=account, lines=[{"productid": product, "quantity": 1, "listprice": 1}]
	)
	assert read_order(read_batches(reader, "Accounts")) == [account]
	assert read_order(read_batches(reader, "Contacts")) == [contact]
	assert read_order(read_batches(reader, "SalesOrder")) == [order]
	until = datetime(2100, 1, 1)
	assert [reader.count_changes(m, None, until) for m in ("Accounts", "Contacts", "SalesOrder")] == [1, 1, 1]


# -- deletions and references ------------------------------------------------------------------------------------


def test_deleted_records_come_back_as_deleted_only(vtiger: VTigerWriter, reader: VTigerReader):
	keep = vtiger.create_account("Keep", at=seconds(0))
	gone = vtiger.create_account("Gone", at=seconds(1))
	also = vtiger.create_account("Also kept", at=seconds(2))
	contact = vtiger.create_contact("Gone too", at=seconds(3))
	vtiger.delete(gone, at=seconds(10))
	vtiger.delete(contact, at=seconds(11))

	(batch,) = read_batches(reader, "Accounts")
	assert [b.source.crmid for b in batch.bundles] == [keep, also]
	assert batch.deleted == [RecordRef("Accounts", gone)]
	assert batch.size == 3
	# The delete bumped modifiedtime: the watermark ends on it.
	assert batch.last == Watermark(seconds(10), gone)
	assert reader.count_changes("Accounts", None, datetime(2100, 1, 1)) == 3

	(contacts,) = read_batches(reader, "Contacts")
	assert (contacts.bundles, contacts.deleted) == ([], [RecordRef("Contacts", contact)])


def test_missing_and_deleted_references_become_none(vtiger: VTigerWriter, reader: VTigerReader):
	account = vtiger.create_account("Live account")
	doomed_account = vtiger.create_account("Doomed account")
	contact = vtiger.create_contact("Live", account_id=account)
	orphan = vtiger.create_contact("Orphan")
	doomed_contact = vtiger.create_contact("Doomed", account_id=account)
	product = vtiger.create_product("Bolt")
	line = [{"productid": product, "quantity": 1, "listprice": 5}]
	complete = vtiger.create_sales_order("Complete", account_id=account, contact_id=contact, lines=line)
	no_contact = vtiger.create_sales_order("No contact", account_id=account, lines=line)
	account_gone = vtiger.create_sales_order(
		"Account gone", account_id=doomed_account, contact_id=contact, lines=line
	)
	contact_gone = vtiger.create_sales_order(
		"Contact gone", account_id=account, contact_id=doomed_contact, lines=line
	)
	vtiger.delete(doomed_account, at=seconds(0))
	vtiger.delete(doomed_contact, at=seconds(1))

	contacts = {b.source.crmid: b for b in reader.read_records("Contacts", [contact, orphan])}
	assert contacts[contact].parts["account"]["crmid"] == account
	assert contacts[contact].parts["account"]["accountname"] == "Live account"
	assert contacts[orphan].parts["contact"]["accountid"] == 0
	assert contacts[orphan].parts["account"] is None

	orders = {
		b.source.crmid: b.parts
		for b in reader.read_records("SalesOrder", [complete, no_contact, account_gone, contact_gone])
	}
	assert orders[complete]["account"]["crmid"] == account
	assert orders[complete]["contact"]["crmid"] == contact
	assert orders[no_contact]["contact"] is None
	assert orders[no_contact]["account"]["crmid"] == account
	# The order of a deleted account still points at it (VTiger does not unlink orders); the part is empty.
	assert orders[account_gone]["salesorder"]["accountid"] == doomed_account
	assert orders[account_gone]["account"] is None
	assert orders[account_gone]["contact"]["crmid"] == contact
	# Deleting a contact unlinks its orders (contactid 0).
	assert orders[contact_gone]["salesorder"]["contactid"] == 0
	assert orders[contact_gone]["contact"] is None


def test_a_deleted_reference_that_was_not_unlinked_is_none(vtiger: VTigerWriter, vtiger_engine: Engine):
	"""Belt and braces: even a reference VTiger did not reset (a purge gone wrong, a raw edit) reads as None."""
	account = vtiger.create_account("Acme")
	contact = vtiger.create_contact("Doe", account_id=account)
	with vtiger_engine.begin() as conn:
		conn.execute(text("UPDATE vtiger_crmentity SET deleted = 1 WHERE crmid = :id"), {"id": account})
	(bundle,) = make_reader(vtiger_engine).read_records("Contacts", [contact])
	assert bundle.parts["contact"]["accountid"] == account
	assert bundle.parts["account"] is None


def test_lines_in_sequence_order_with_item_names(
	vtiger: VTigerWriter, vtiger_engine: Engine, reader: VTigerReader
):
	account = vtiger.create_account("Acme")
	product = vtiger.create_product("Widget Ł", usageunit="Box")
	service = vtiger.create_service("Fitting 日本", usageunit="Hours")
	retired = vtiger.create_product("Retired")
	order = vtiger.create_sales_order(
		"Lines",
		account_id=account,
		lines=[
			{"productid": product, "quantity": 1, "listprice": 10, "comment": "first\nsecond line"},
			{"productid": service, "quantity": 2, "listprice": 20},
			{"productid": 987654321, "quantity": 3, "listprice": 30},
			{"productid": account, "quantity": 4, "listprice": 40},
			{"productid": retired, "quantity": 5, "listprice": 50},
		],
	)
	other = vtiger.create_sales_order(
		"Other", account_id=account, lines=[{"productid": service, "quantity": 9, "listprice": 1}]
	)
	vtiger.delete(retired, at=seconds(0))
	# Reverse the sequence so that storage order and sequence order disagree.
	with vtiger_engine.begin() as conn:
		conn.execute(
			text("UPDATE vtiger_inventoryproductrel SET sequence_no = 6 - sequence_no WHERE id = :id"),
			{"id": order},
		)

	bundles = {b.source.crmid: b for b in reader.read_records("SalesOrder", [order, other])}
	lines = bundles[order].lines
	assert [line["sequence_no"] for line in lines] == [1, 2, 3, 4, 5]
	assert [line["quantity"] for line in lines] == [5, 4, 3, 2, 1]
	assert [line["item_type"] for line in lines] == ["Products", None, None, "Services", "Products"]
	assert [line["item_name"] for line in lines] == ["Retired", None, None, "Fitting 日本", "Widget Ł"]
	assert (lines[0]["item_deleted"], lines[3]["item_deleted"], lines[4]["item_deleted"]) == (1, 0, 0)
	assert lines[3]["item_no"].startswith("SER") and lines[4]["item_no"].startswith("PRO")
	assert lines[3]["usageunit"] == "Hours" and lines[4]["usageunit"] == "Box"
	assert lines[4]["comment"] == "first\nsecond line"
	assert [line["quantity"] for line in bundles[other].lines] == [9]


# -- batches and read_records ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("records", "batch_size"), [(10, 4), (8, 4), (3, 5), (1, 1)])
def test_batches_are_bounded(vtiger: VTigerWriter, vtiger_engine: Engine, records: int, batch_size: int):
	ids = [vtiger.create_account(f"Batch {n}") for n in range(records)]
	batches = read_batches(make_reader(vtiger_engine, batch_size=batch_size), "Accounts")
	assert len(batches) == math.ceil(records / batch_size)
	assert all(len(b.bundles) <= batch_size and b.size == len(b.bundles) for b in batches)
	assert read_order(batches) == ids


def test_batches_are_read_one_at_a_time(vtiger: VTigerWriter, vtiger_engine: Engine):
	ids = [vtiger.create_account(f"Lazy {n}", at=seconds(n)) for n in range(6)]
	reader = make_reader(vtiger_engine, batch_size=2)
	batches = reader.iter_changes("Accounts", None, datetime(2100, 1, 1))
	first = next(batches)
	assert [b.source.crmid for b in first.bundles] == ids[:2]
	# Changed after the first batch was handed out: later batches see the change.
	vtiger.update(ids[3], at=seconds(60), accountname="Renamed")
	rest = list(batches)
	assert read_order(rest) == [ids[2], ids[4], ids[5], ids[3]]
	assert rest[-1].bundles[-1].parts["account"]["accountname"] == "Renamed"


def test_read_records_returns_only_live_ids(vtiger: VTigerWriter, vtiger_engine: Engine):
	ids = [vtiger.create_account(f"Retry {n}") for n in range(5)]
	contact = vtiger.create_contact("Not an account")
	vtiger.delete(ids[2], at=seconds(0))
	reader = make_reader(vtiger_engine, batch_size=2)
	asked = [ids[4], ids[2], 987654321, ids[0], contact, ids[1], ids[3]]
	assert [b.source.crmid for b in reader.read_records("Accounts", asked)] == [
		ids[4],
		ids[0],
		ids[1],
		ids[3],
	]
	assert reader.read_records("Accounts", []) == []


def test_reader_selects_what_the_mapping_needs(vtiger: VTigerWriter, reader: VTigerReader):
	account = vtiger.create_account(
		"Acme", website="https://acme.example", industry="Banking", tickersymbol="ACME"
	)
	(bundle,) = reader.read_records("Accounts", [account])
	row = bundle.parts["account"]
	assert row["website"] == "https://acme.example"
	assert row["accountname"] == "Acme"
	# Not mapped by the standard preset, so not read.
	assert "industry" not in row and "tickersymbol" not in row


def test_reader_needs_a_resolved_mapping_and_a_positive_batch_size(reader: VTigerReader):
	with pytest.raises(ValueError, match="resolve the mapping"):
		VTigerReader(lambda: None, reader.catalog, load_preset("standard"))
	with pytest.raises(ValueError, match="batch_size"):
		VTigerReader(lambda: None, reader.catalog, reader.mapping, batch_size=0)


# -- watermark ---------------------------------------------------------------------------------------------------


def test_watermark_text_round_trip_and_order():
	mark = Watermark(datetime(2025, 1, 15, 10, 0, 7), 4711)
	assert str(mark) == "2025-01-15 10:00:07#4711"
	assert Watermark.parse(str(mark)) == mark
	assert Watermark.parse("2025-01-15 10:00:07") == Watermark(datetime(2025, 1, 15, 10, 0, 7), 0)
	assert Watermark.parse("") is None and Watermark.parse(None) is None
	assert Watermark(T, 9) < Watermark(T, 10) < Watermark(seconds(1), 1)


# -- connection check --------------------------------------------------------------------------------------------


def free_port() -> int:
	with socket.socket() as sock:
		sock.bind(("127.0.0.1", 0))
		return sock.getsockname()[1]


@pytest.fixture
def settings(vtiger_url: URL):
	yield ConnectionSettings.from_url(vtiger_url)
	dispose_engines()


def test_check_connection_returns_the_server_version(settings: ConnectionSettings, vtiger_engine: Engine):
	with vtiger_engine.connect() as conn:
		expected = conn.execute(text("SELECT VERSION()")).scalar_one()
	assert check_connection(settings) == expected


@pytest.mark.parametrize("where", ["port", "host", "password"])
def test_failed_connection_says_where_but_never_the_password(settings: ConnectionSettings, where: str):
	changes = {"password": BOGUS_PASSWORD, "connect_timeout": 5}
	if where == "port":
		changes["port"] = free_port()
	elif where == "host":
		changes["host"] = "vtiger-db.invalid"
	else:
		changes["user"] = "vtsync_nobody"
	wrong = ConnectionSettings(**{**settings.__dict__, **changes})
	with pytest.raises(ConnectionFailed) as caught:
		check_connection(wrong)
	message = str(caught.value)
	assert f"{wrong.host}:{wrong.port}/{wrong.database}" in message
	assert BOGUS_PASSWORD not in message
	# The driver's exception is not chained on (its traceback would show connection details).
	assert caught.value.__cause__ is None and caught.value.__suppress_context__
	if where == "password":
		assert "Access denied" in message


def test_a_watermark_rewound_rereads_the_overlap_and_a_zero_overlap_rereads_nothing():
	mark = Watermark(datetime(2025, 3, 1, 12, 0, 5), 42)
	assert mark.rewound(timedelta(minutes=10)) == Watermark(datetime(2025, 3, 1, 11, 50, 5), 0)
	assert mark.rewound(timedelta(0)) is mark


def test_live_and_deleted_changes_come_in_keyset_order(vtiger: VTigerWriter, reader: VTigerReader):
	"""A writer that commits part of a batch moves its watermark to the last change it committed, so deletions
	take their place among the live records instead of trailing them."""
	first = vtiger.create_account("First", at=seconds(0))
	gone = vtiger.create_account("Gone", at=seconds(1))
	last = vtiger.create_account("Last", at=seconds(3))
	vtiger.delete(gone, at=seconds(2))
	(batch,) = read_batches(reader, "Accounts")
	assert [(c.key.crmid, c.deleted is not None) for c in batch.changes] == [
		(first, False),
		(gone, True),
		(last, False),
	]
	assert [c.key for c in batch.changes] == sorted(c.key for c in batch.changes)


def test_the_signpost_reads_vtigers_clock_in_its_time_zone(reader: VTigerReader):
	"""VTiger stamps records with PHP's clock in its $default_timezone; the database session's NOW() may be in
	another zone. With the zone set, the signpost is the server's UTC clock read in that zone."""
	utc = reader.signpost("UTC")
	tokyo = reader.signpost("Asia/Tokyo")
	assert (
		timedelta(hours=9) - timedelta(seconds=2) <= tokyo - utc <= timedelta(hours=9) + timedelta(seconds=2)
	)
	with reader._uow_factory() as uow:
		offset = uow.session.execute(
			text("SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())")
		).scalar_one()
	assert abs((reader.signpost() - utc).total_seconds() - offset) <= 2
