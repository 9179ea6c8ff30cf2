"""Fingerprints of a record's sources against the test MariaDB: what moves them, and the per-page comparison."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Engine
from support import make_reader
from vtiger_writer import VTigerWriter

from vtigercrm_sync.database.unit_of_work import SqlAlchemyUnitOfWork
from vtigercrm_sync.syncer.services.chunks import Range, cut
from vtigercrm_sync.syncer.services.fingerprint import (
	bundle_sources,
	deleted_fingerprint,
	fingerprint,
	source_list,
	source_times,
	unchanged_records,
)

T = datetime(2025, 6, 1, 9, 0, 0)
SHAPING = "settings-digest"


def seconds(n: int) -> datetime:
	return T + timedelta(seconds=n)


def order_world(vtiger: VTigerWriter) -> dict[str, int]:
	account = vtiger.create_account("Fingerprint Co", at=seconds(1))
	contact = vtiger.create_contact("Print", account_id=account, at=seconds(2))
	product = vtiger.create_product("Stamp", at=seconds(3))
	service = vtiger.create_service("Inking", at=seconds(4))
	lines = [
		{"productid": product, "quantity": 1, "listprice": 5},
		{"productid": service, "quantity": 2, "listprice": 7},
	]
	order = vtiger.create_sales_order(
		"Printed", account_id=account, contact_id=contact, lines=lines, at=seconds(5)
	)
	return {"account": account, "contact": contact, "product": product, "service": service, "order": order}


def stored_now(engine: Engine, module: str, crmids: list[int]) -> dict[int, tuple[str, str]]:
	"""What a run stores for records it wrote: their fingerprint and sources, from the bundles it read."""
	stored = {}
	for bundle in make_reader(engine).read_records(module, crmids):
		sources = bundle_sources(bundle)
		stored[bundle.source.crmid] = (fingerprint(sources, SHAPING), source_list(sources))
	return stored


def unchanged(engine: Engine, stored: dict[int, tuple[str, str]], shaping: str = SHAPING) -> set[int]:
	with SqlAlchemyUnitOfWork(engine) as uow:
		return unchanged_records(uow.session, stored, shaping)


def test_an_order_reads_its_account_contact_and_items(vtiger: VTigerWriter, vtiger_engine: Engine):
	w = order_world(vtiger)
	(bundle,) = make_reader(vtiger_engine).read_records("SalesOrder", [w["order"]])
	assert bundle_sources(bundle) == {
		w["order"]: seconds(5),
		w["account"]: seconds(1),
		w["contact"]: seconds(2),
		w["product"]: seconds(3),
		w["service"]: seconds(4),
	}
	with SqlAlchemyUnitOfWork(vtiger_engine) as uow:
		assert source_times(uow.session, bundle_sources(bundle)) == bundle_sources(bundle)


def test_an_unchanged_record_is_unchanged(vtiger: VTigerWriter, vtiger_engine: Engine):
	w = order_world(vtiger)
	contact = w["contact"]
	stored = {
		**stored_now(vtiger_engine, "SalesOrder", [w["order"]]),
		**stored_now(vtiger_engine, "Contacts", [contact]),
	}
	assert unchanged(vtiger_engine, stored) == {w["order"], contact}


def test_a_change_to_any_source_moves_the_fingerprint(vtiger: VTigerWriter, vtiger_engine: Engine):
	for n, source in enumerate(("order", "account", "contact", "product", "service")):
		w = order_world(vtiger)
		stored = stored_now(vtiger_engine, "SalesOrder", [w["order"]])
		vtiger.set_modifiedtime(w[source], seconds(100 + n))
		assert unchanged(vtiger_engine, stored) == set(), source


def test_a_deleted_or_purged_source_moves_the_fingerprint(vtiger: VTigerWriter, vtiger_engine: Engine):
	w = order_world(vtiger)
	stored = stored_now(vtiger_engine, "SalesOrder", [w["order"]])
	with vtiger_engine.begin() as conn:  # deleted without moving its time: a raw edit, a purge gone wrong
		conn.exec_driver_sql("UPDATE vtiger_crmentity SET deleted = 1 WHERE crmid = %s", (w["product"],))
	assert unchanged(vtiger_engine, stored) == set()

	w = order_world(vtiger)
	stored = stored_now(vtiger_engine, "SalesOrder", [w["order"]])
	with vtiger_engine.begin() as conn:
		conn.exec_driver_sql("DELETE FROM vtiger_crmentity WHERE crmid = %s", (w["account"],))
	assert unchanged(vtiger_engine, stored) == set()


def test_another_shaping_moves_every_fingerprint(vtiger: VTigerWriter, vtiger_engine: Engine):
	w = order_world(vtiger)
	stored = stored_now(vtiger_engine, "SalesOrder", [w["order"]])
	assert unchanged(vtiger_engine, stored, "another settings digest") == set()


def test_a_record_read_with_a_deleted_reference_stays_unchanged(vtiger: VTigerWriter, vtiger_engine: Engine):
	"""The order of a deleted account reads its part as empty, and so does the comparison: unchanged."""
	w = order_world(vtiger)
	vtiger.delete(w["account"], at=seconds(50))
	stored = stored_now(vtiger_engine, "SalesOrder", [w["order"]])
	(bundle,) = make_reader(vtiger_engine).read_records("SalesOrder", [w["order"]])
	assert bundle_sources(bundle)[w["account"]] is None
	assert unchanged(vtiger_engine, stored) == {w["order"]}


def test_a_deleted_record_s_fingerprint_moves_with_its_time_of_deletion_and_the_policy():
	assert deleted_fingerprint(seconds(1), "Disable") == deleted_fingerprint(seconds(1), "Disable")
	assert deleted_fingerprint(seconds(1), "Disable") != deleted_fingerprint(seconds(2), "Disable")
	assert deleted_fingerprint(seconds(1), "Disable") != deleted_fingerprint(seconds(1), "Ignore")


def test_keys_say_which_records_moved_and_cut_settles_the_unchanged(
	vtiger: VTigerWriter, vtiger_engine: Engine
):
	"""Where a run cuts a stage: the page's keys with their fingerprints compared in the page's session."""
	w = order_world(vtiger)
	other = vtiger.create_sales_order(
		"Other",
		account_id=w["account"],
		lines=[{"productid": w["product"], "quantity": 1, "listprice": 5}],
		at=seconds(6),
	)
	stored = stored_now(vtiger_engine, "SalesOrder", [w["order"], other])
	reader = make_reader(vtiger_engine)

	def compare(session, keys):
		return unchanged_records(
			session, {k.crmid: stored[k.crmid] for k in keys if k.crmid in stored}, SHAPING
		)

	keys = list(reader.iter_keys("SalesOrder", None, seconds(100), compare))
	assert [(key.crmid, moved) for key, moved in keys] == [(w["order"], False), (other, False)]
	assert cut(keys, None, 1) == [Range(None, keys[1][0], 2, settled=True)]

	vtiger.update(w["service"], at=seconds(7), servicename="Inking renamed")  # only the first order reads it
	keys = list(reader.iter_keys("SalesOrder", None, seconds(100), compare))
	assert [(key.crmid, moved) for key, moved in keys] == [(w["order"], True), (other, False)]
	assert cut(keys, None, 1) == [Range(None, keys[0][0], 1), Range(keys[0][0], keys[1][0], 1, settled=True)]
	assert [key.crmid for key, _moved in reader.iter_keys("SalesOrder", None, seconds(100))] == [
		w["order"],
		other,
	]
