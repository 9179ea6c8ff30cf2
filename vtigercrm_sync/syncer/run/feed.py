"""Follow VTiger's change feed in a run: write again every record ModTracker logged since the last run, and every
record whose push asked for it (:func:`read_pushed_again`).

A run reads what ``modifiedtime`` says changed (the keyset); this adds what it misses (``services/changes.py``):
dependents a delete unlinked, the contact of a related-list unlink, restores. Each record named is read as it is
now and written through the run's usual path: a live record is planned and written (a link VTiger no longer holds
is removed by the handlers), one deleted or purged since gets the connection's deletion policy, and a restored
one's documents the deletion policy disabled are enabled first (their plan is unchanged, so the write skips them).
The feed's watermark (the last ModTracker id) moves with each committed page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

import frappe
from frappe import _
from sqlalchemy.exc import OperationalError, ProgrammingError

from vtigercrm_sync.config.spec import STREAM_ORDER
from vtigercrm_sync.constants import CHUNK_DOCTYPE, FEED_FIELD, MODULE_FIELD, OUTBOX_DOCTYPE
from vtigercrm_sync.database.engine import get_engine
from vtigercrm_sync.database.unit_of_work import SqlAlchemyUnitOfWork
from vtigercrm_sync.syncer.handler.deletion import documents_of
from vtigercrm_sync.syncer.observer.frappe import FrappeObserver
from vtigercrm_sync.syncer.plan import RecordRef, VTigerId
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.run.stages import add_chunk
from vtigercrm_sync.syncer.services.changes import changed_since, feed_head, read_feed, user_id
from vtigercrm_sync.syncer.services.query import Change, Watermark, reason

UNREADABLE = (1142, 1146)
"""MySQL's "SELECT command denied" and "table doesn't exist": the run goes on without the feed, and says so."""
FEED, FEED_MODULE, OUTBOX_MODULE = "Feed", "ModTracker", "Outbox"
"""The stage and modules of the chunk rows a run's feed and the records its pushes name count on."""
GONE = datetime.min
"""The key of a record no longer live: a feed's changes are not in keyset order, only the record matters."""


def follow_feed(run, coordinator, window: Mapping[str, Watermark | None]) -> None:
	"""Write again what ModTracker logged after the connection's feed watermark; a connection without one starts
	at ModTracker's last row (its first run reads everything anyway). A live record whose ``modifiedtime`` moved
	into the run's ``window`` (module -> the keyset's start, None for all) is left to the keyset, which reads it
	anyway: the feed writes what ``modifiedtime`` misses. What it writes is counted on a chunk row of its own
	(stage *Feed*, Done from the start, so no one resumes it): a run's totals are its chunks' sum."""
	stored = run.doc.get(FEED_FIELD)
	after = int(stored) if stored else None
	observer = None
	while True:
		try:
			with run.reader.unit_of_work() as uow:
				if after is None:
					run.doc.db_set(FEED_FIELD, str(feed_head(uow.session)), update_modified=False)
					return
				page = read_feed(uow.session, after, run.streams)
		except (OperationalError, ProgrammingError) as exc:
			if error_code(exc) not in UNREADABLE:
				raise
			observer = observer or feed_observer(coordinator)
			observer.line(
				"Warning",
				"ModTracker",
				"",
				_(
					"VTiger's change log cannot be read ({0}); only the modified time of records is followed"
				).format(redact(reason(exc))),
			)
			observer.flush()
			return
		if not page.rows:
			return
		observer = observer or feed_observer(coordinator)
		write_records(run, observer, page.records, page.restored, window=window)
		run.doc.db_set(FEED_FIELD, str(page.last), update_modified=False)
		frappe.db.commit()
		after = page.last


def read_pushed_again(run, coordinator) -> None:
	"""Write again the records of the edits whose push kept VTiger's value (a conflict VTiger won) or gave up. A
	pull that met such an edit while it waited or was being sent kept ERPNext's value, and nothing moves the
	record's ``modifiedtime`` for the keyset to read it again."""
	rows = frappe.get_all(
		OUTBOX_DOCTYPE,
		filters={"connection": run.doc.name, "read_again": 1},
		fields=["name", "reference_doctype", "reference_name", "vtiger_id"],
	)
	if not rows:
		return
	records: dict[str, set[int]] = {}
	for row in rows:
		module = frappe.db.get_value(row.reference_doctype, row.reference_name, MODULE_FIELD)
		if module in run.streams and row.vtiger_id:
			records.setdefault(module, set()).add(VTigerId.parse(row.vtiger_id).crmid)
	write_records(run, feed_observer(coordinator, OUTBOX_MODULE), records)
	frappe.db.sql(
		f"UPDATE `tab{OUTBOX_DOCTYPE}` SET read_again = 0 WHERE name IN %(names)s",
		{"names": tuple(row.name for row in rows)},
	)
	frappe.db.commit()


def changes_waiting(doc) -> list[str]:
	"""What VTiger changed after the connection's watermarks (``changed_since``), without reading VTiger's
	catalog, or the outbox when a push asked for its record to be read again: the every-minute schedule starts a
	run only when this is not empty. With *Only the Sync Uses This User* the saves of the connection's web service
	user (its pushes) are not changes."""
	if frappe.db.exists(OUTBOX_DOCTYPE, {"connection": doc.name, "read_again": 1}):
		return [OUTBOX_MODULE]
	streams = [module for module in STREAM_ORDER if module in doc.mapping_config().streams]
	stored = doc.get(FEED_FIELD)
	with SqlAlchemyUnitOfWork(get_engine(doc.connection_settings())) as uow:
		ignore = (
			user_id(uow.session, doc.vtiger_user) if doc.vtiger_user_dedicated and doc.vtiger_user else None
		)
		return changed_since(
			uow.session,
			{module: Watermark.parse(doc.watermark(module)) for module in streams},
			int(stored) if stored else None,
			ignore,
		)


def feed_observer(coordinator: FrappeObserver, module: str = FEED_MODULE) -> FrappeObserver:
	"""An observer counting on a Feed chunk row of the run."""
	log = coordinator.log.name
	chunk = add_chunk(log, FEED, module, "", "", 0)
	frappe.db.set_value(CHUNK_DOCTYPE, chunk, {"status": "Done", "attempts": 1})
	return FrappeObserver(coordinator.connection, log, coordinator.watermarks, chunk)


def write_records(
	run,
	observer,
	records: Mapping[str, Iterable[int]],
	restored: Mapping[str, Iterable[int]] | None = None,
	removed: Mapping[str, Iterable[int]] | None = None,
	window: Mapping[str, Watermark | None] | None = None,
) -> None:
	"""Read the records as VTiger holds them now and write them, in stream order: live ones planned (but those in
	the keyset's ``window``, see :func:`follow_feed`), the rest (deleted, purged) and the ``removed`` ones through
	the deletion policy."""
	for module in STREAM_ORDER:
		crmids = sorted(set(records.get(module) or ()) | set((removed or {}).get(module) or ()))
		if not crmids:
			continue
		enable_restored(run, observer, module, (restored or {}).get(module) or ())
		bundles = run.reader.read_records(module, sorted(set(records.get(module) or ())))
		live = {bundle.source.crmid for bundle in bundles}
		changes = [
			Change(Watermark(b.modifiedtime, b.source.crmid), bundle=b)
			for b in bundles
			if not _in_window(window, module, Watermark(b.modifiedtime, b.source.crmid))
		]
		changes += [
			Change(Watermark(GONE, crmid), deleted=RecordRef(module, crmid))
			for crmid in crmids
			if crmid not in live
		]
		run.write(changes, observer)


def _in_window(window: Mapping[str, Watermark | None] | None, module: str, key: Watermark) -> bool:
	if window is None or module not in window:
		return False
	since = window[module]
	return since is None or key >= since


def enable_restored(run, observer, module: str, crmids: Iterable[int]) -> None:
	"""Enable the documents of records restored from VTiger's Recycle Bin that the deletion policy disabled."""
	prefix = run.doc.id_prefix or ""
	for crmid in crmids:
		record_id = VTigerId(prefix, crmid)
		for doctype, name in documents_of(record_id):
			if frappe.get_meta(doctype).has_field("disabled") and frappe.db.get_value(
				doctype, name, "disabled"
			):
				frappe.db.set_value(doctype, name, "disabled", 0)
				observer.line(
					"Updated",
					module,
					record_id,
					_("Restored from VTiger's Recycle Bin; enabled again"),
					target_doctype=doctype,
					target_name=name,
					record=crmid,
				)


def error_code(exc: Exception) -> int | None:
	args = getattr(getattr(exc, "orig", None), "args", ())
	return args[0] if args and isinstance(args[0], int) else None
