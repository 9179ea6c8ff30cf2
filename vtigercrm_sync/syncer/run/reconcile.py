"""Reconciliation of a connection's ids with VTiger's: nightly, and on demand (Reconcile Now).

What no feed shows is found by comparing ids (``services/reconcile.py``, SELECT only on VTiger): records purged
from VTiger's Recycle Bin get the deletion policy, live records ERPNext lacks (a create no run saw) are synced, and
contacts and draft orders whose account or contact VTiger changed without a trace (an unlink a purge erased) are
written again. The job writes a Sync Log with the trigger *Reconcile* and holds the id prefix's lease like a run.
"""

from __future__ import annotations

from collections import defaultdict

import frappe
from frappe import _
from frappe.utils import now_datetime

from vtigercrm_sync.config.spec import STREAM_ORDER, STREAM_SOURCES
from vtigercrm_sync.constants import (
	JOB_TIMEOUT,
	SETTING_DOCTYPE,
	TRIGGER_RECONCILE,
	VTIGER_HASH_FIELD,
	VTIGER_ID_FIELD,
	reconcile_job_id,
)
from vtigercrm_sync.syncer.observer.frappe import FrappeObserver
from vtigercrm_sync.syncer.plan import VTigerId
from vtigercrm_sync.syncer.run.feed import write_records
from vtigercrm_sync.syncer.run.job import _run_job
from vtigercrm_sync.syncer.run.run import SyncRun
from vtigercrm_sync.syncer.run.state import RunRefused, claim_run
from vtigercrm_sync.syncer.services.reconcile import IdDifferences, compare_ids, link_differences

LINK_QUERIES = {
	"Contacts": (
		"Contact",
		"""SELECT c.vtiger_id, t.vtiger_id FROM `tabContact` c
		LEFT JOIN `tabDynamic Link` l
			ON l.parent = c.name AND l.parenttype = 'Contact' AND l.link_doctype = 'Customer'
		LEFT JOIN `tabCustomer` t ON t.name = l.link_name AND t.vtiger_id LIKE %(prefix)s
		WHERE c.vtiger_id LIKE %(prefix)s""",
	),
	"SalesOrder": (
		"Sales Order",
		"""SELECT o.vtiger_id, t.vtiger_id FROM `tabSales Order` o
		LEFT JOIN `tabContact` t ON t.name = o.contact_person AND t.vtiger_id LIKE %(prefix)s
		WHERE o.vtiger_id LIKE %(prefix)s AND o.docstatus = 0""",
	),
}
"""ERPNext's side of the links compared (the record's vtiger_id, a linked record's vtiger_id): a contact's
customers, a draft order's contact (a submitted order is never rewritten)."""


def id_differences(connection: str, run: SyncRun | None = None) -> IdDifferences:
	"""For the connection's id prefix and streams: ERPNext's crmids whose VTiger record is purged (``gone``) or
	in the Recycle Bin (``deleted``), VTiger's live crmids ERPNext lacks (``missing``), and the records whose
	account or contact link differs (``links``), by module. Reads only; the VTiger Reconciliation report uses it."""
	run = run or SyncRun(connection)
	prefix = run.doc.id_prefix or ""
	known = {module: erpnext_ids(run, module, prefix) for module in run.streams}
	with run.reader.unit_of_work() as uow:
		result = compare_ids(uow.session, known)
		for module in run.streams:
			if module in LINK_QUERIES:
				result.links[module] = link_differences(uow.session, module, erpnext_links(module, prefix))
	return result


def erpnext_ids(run: SyncRun, module: str, prefix: str) -> set[int]:
	"""crmids of the module's records ERPNext holds a document of (its own id, not an address's role id)."""
	own = STREAM_SOURCES[module][0]
	doctypes = {e.doctype for e in run.reader.mapping.for_stream(module) if e.source == own}
	crmids = set()
	for doctype in doctypes:
		for vtiger_id in frappe.get_all(
			doctype, filters={VTIGER_ID_FIELD: ("like", f"{prefix}%")}, pluck=VTIGER_ID_FIELD
		):
			record = _parse(vtiger_id, prefix)
			if record and not record.role:
				crmids.add(record.crmid)
	return crmids


def erpnext_links(module: str, prefix: str) -> dict[int, set[int]]:
	"""crmid -> the crmids its ERPNext document links (``LINK_QUERIES``)."""
	links: dict[int, set[int]] = defaultdict(set)
	for own, linked in frappe.db.sql(LINK_QUERIES[module][1], {"prefix": f"{prefix}%"}):
		record = _parse(own, prefix)
		if record is None or record.role:
			continue
		target = _parse(linked, prefix) if linked else None
		links[record.crmid].update([target.crmid] if target else [])
	return links


def _parse(vtiger_id: str, prefix: str) -> VTigerId | None:
	try:
		record = VTigerId.parse(vtiger_id)
	except ValueError:
		return None
	return record if record.prefix == prefix else None


def reconcile(connection: str, user: str | None = None) -> str:
	"""Job body: apply what :func:`id_differences` finds; returns the log's status."""
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)

	def start(log: str) -> FrappeObserver:
		watermarks = {m: doc.watermark(m) for m in STREAM_ORDER}
		claim_run(connection, log, queued=False)
		return FrappeObserver.start(connection, TRIGGER_RECONCILE, user, False, watermarks, name=log)

	def body(run: SyncRun, observer: FrappeObserver) -> None:
		diff = id_differences(connection, run)
		prefix = run.doc.id_prefix or ""
		for module, crmids in diff.links.items():  # written again even where the stored hash matches
			doctype = LINK_QUERIES[module][0]
			ids = [str(VTigerId(prefix, crmid)) for crmid in crmids]
			if ids:
				frappe.db.set_value(doctype, {VTIGER_ID_FIELD: ("in", ids)}, VTIGER_HASH_FIELD, None)
		records = {
			module: {*diff.gone.get(module, ()), *diff.missing.get(module, ()), *diff.links.get(module, ())}
			for module in run.streams
		}
		observer.set_total(
			sum(len(ids) for ids in records.values()) + len(diff.orphaned.get("SalesOrder", ()))
		)
		write_records(run, observer, {}, removed=diff.orphaned)  # first: their contacts' links then go too
		write_records(run, observer, records)
		run.doc.db_set("last_reconciled_at", now_datetime(), update_modified=False)

	try:
		return _run_job(connection, start, body, refuse=True)
	except (
		RunRefused
	) as exc:  # a run or another job writes the connection's documents: the next one reconciles
		frappe.logger("vtigercrm_sync").info(f"Reconciliation of {connection} not run: {exc}")
		return _("Not run")


def start_reconcile(connection: str, user: str | None = None) -> dict:
	"""Queue a reconciliation of the connection (one at a time)."""
	frappe.enqueue(
		"vtigercrm_sync.syncer.run.reconcile.reconcile",
		queue="long",
		timeout=JOB_TIMEOUT,
		job_id=reconcile_job_id(connection),
		deduplicate=True,
		enqueue_after_commit=True,
		now=frappe.flags.in_test,
		connection=connection,
		user=user,
	)
	return {"status": "queued", "message": _("Reconciliation of {0} queued").format(frappe.bold(connection))}


def reconcile_all() -> None:
	"""Nightly (hooks.py): every enabled connection that reconciles nightly."""
	for name in frappe.get_all(SETTING_DOCTYPE, filters={"enabled": 1, "reconcile_nightly": 1}, pluck="name"):
		try:
			start_reconcile(name, "Administrator")
		except Exception:
			frappe.log_error(
				title=_("VTigerCRM Sync {0}: nightly reconciliation could not start").format(name),
				reference_doctype=SETTING_DOCTYPE,
				reference_name=name,
			)
