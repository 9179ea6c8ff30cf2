"""The sync job: stream VTiger batches, apply their plans in handler order, and move the watermark.

Each VTiger record is applied inside its own savepoint, so a record that fails is rolled back alone and logged while
the batch goes on; each batch commits once, together with its log lines and the watermark of its last record, so a
killed worker resumes exactly where the last commit left it and re-applies nothing twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import frappe
from frappe import _
from frappe.utils import strip_html
from frappe.utils.password import get_encryption_key
from rq.timeouts import JobTimeoutException
from sqlalchemy.exc import OperationalError

from vtigercrm_sync.config.config import STREAM_ORDER, MappingError, load_handler_config
from vtigercrm_sync.constants import (
	BANK_CARD_DOCTYPE,
	SETTING_DOCTYPE,
	TRIGGER_RETRY,
	VTIGER_HASH_FIELD,
	VTIGER_ID_FIELD,
)
from vtigercrm_sync.syncer.handler.base import Resolver, SyncSettings
from vtigercrm_sync.syncer.handler.factory import build_handlers
from vtigercrm_sync.syncer.observer.frappe import FrappeObserver
from vtigercrm_sync.syncer.plan import BundleResult, RecordRef
from vtigercrm_sync.syncer.processor.base import PlanContext
from vtigercrm_sync.syncer.processor.planner import PROCESSORS, BundlePlanner
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.services.query import ConnectionFailed, VTigerReader, Watermark, reason

DELETE_ORDER = ("Sales Order", BANK_CARD_DOCTYPE, "Bank Account", "Address", "Contact", "Customer", "Item")
"""Every doctype the sync writes, dependents first, so a deletion never trips over a link."""


class SyncRun:
	"""One run of one connection: the reader, planner and handlers it needs, built once."""

	def __init__(self, connection: str):
		self.doc = frappe.get_doc(SETTING_DOCTYPE, connection)
		self.settings = sync_settings(self.doc)
		handler_config = load_handler_config()
		self.reader = VTigerReader.connect(
			self.doc.connection_settings(), self.doc.mapping_config(), batch_size=self.doc.batch_size or 500
		)
		context = PlanContext(
			hash_key=hash_key(),
			defaults={"country": self.settings.default_country},
			id_prefix=self.doc.id_prefix or "",
		)
		self.planner = BundlePlanner(self.reader.mapping, context, handler_config)
		self.handlers = build_handlers(self.reader.mapping, handler_config, self.settings)
		self.resolver = Resolver()

	@property
	def streams(self) -> list[str]:
		return [module for module in STREAM_ORDER if module in self.reader.mapping.streams]

	def apply(self, result: BundleResult, observer: FrappeObserver) -> None:
		"""Write one record's plans inside a savepoint; on any error undo that record alone and log why."""
		module, crmid = result.source.module, result.source.crmid
		for issue in result.issues:
			if issue.severity == "warning":
				observer.line("Warning", module, crmid, issue.message, issue.entity)
		if result.filtered:
			observer.line("Filtered", module, crmid, result.filtered)
			return
		if result.failed:
			errors = [issue.message for issue in result.issues if issue.severity == "error"]
			observer.line("Failed", module, crmid, "; ".join(errors))
			return
		savepoint = f"vtiger_{crmid}"
		frappe.db.savepoint(savepoint)
		outcomes = []
		plan = None
		try:
			for plan in result.plans:
				outcomes.append((plan, self.handlers[plan.entity.split("#")[0]].apply(plan, self.resolver)))
		except Exception as exc:
			frappe.db.rollback(save_point=savepoint)
			self.resolver.discard()
			frappe.clear_messages()
			secrets = [value for p in result.plans for value in p.secrets.values()]
			reason = redact(f"{plan.entity} ({_(plan.doctype)}): {error_text(exc)}", secrets)
			observer.line("Failed", module, crmid, reason, plan.entity, plan.doctype)
			return
		self.resolver.accept()
		for plan, outcome in outcomes:
			if not outcome.repeat:
				observer.line(
					outcome.action,
					module,
					plan.vtiger_id,
					outcome.message,
					plan.entity,
					plan.doctype,
					outcome.name,
				)

	def delete(self, ref: RecordRef, observer: FrappeObserver) -> None:
		"""Follow the connection's policy for a record deleted in VTiger."""
		action = self.settings.deleted_record_action
		documents = documents_of(f"{self.doc.id_prefix or ''}{ref.crmid}")
		if not documents:
			return
		if action == "Ignore":
			observer.line("Skipped", ref.module, ref.crmid, _("Deleted in VTiger; kept (policy: Ignore)"))
			return
		savepoint = f"vtiger_del_{ref.crmid}"
		frappe.db.savepoint(savepoint)
		try:
			for doctype, name in documents:
				outcome, message = remove_document(doctype, name, action)
				observer.line(
					outcome, ref.module, ref.crmid, message, target_doctype=doctype, target_name=name
				)
		except Exception as exc:
			frappe.db.rollback(save_point=savepoint)
			frappe.clear_messages()
			observer.line("Failed", ref.module, ref.crmid, redact(error_text(exc)))


def run_sync(connection: str, trigger: str = "Button", full: bool = False, user: str | None = None) -> str:
	"""Job body: sync everything changed since the stored watermarks (or everything, with ``full``)."""
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	before = {module: doc.watermark(module) for module in STREAM_ORDER}
	observer = FrappeObserver.start(connection, trigger, user, full, before)
	try:
		run = SyncRun(connection)
		until = run.reader.signpost()
		since = {m: None if full else Watermark.parse(before[m]) for m in run.streams}
		observer.set_total(sum(run.reader.count_changes(m, since[m], until) for m in run.streams))
		for module in run.streams:
			for batch in run.reader.iter_changes(module, since[module], until):
				for result in run.planner.plan_all(batch.bundles):
					run.apply(result, observer)
					observer.record_read()
				for ref in batch.deleted:
					run.delete(ref, observer)
					observer.record_read()
				run.doc.set_watermark(module, str(batch.last))
				observer.batch_committed(module, str(batch.last))
				frappe.db.commit()
	except JobTimeoutException:
		frappe.db.rollback()
		return observer.finish(
			_("The run hit its time limit; the next run resumes after the last committed batch"),
			timed_out=True,
		)
	except (ConnectionFailed, MappingError) as exc:
		frappe.db.rollback()
		return observer.finish(redact(str(exc)))
	except OperationalError as exc:
		frappe.db.rollback()
		return observer.finish(_("Lost the connection to VTiger: {0}").format(redact(reason(exc))))
	except Exception as exc:
		frappe.db.rollback()
		frappe.log_error(
			title=_("VTigerCRM Sync {0} failed").format(connection), message=redact(frappe.get_traceback())
		)
		return observer.finish(redact(error_text(exc)))
	status = observer.finish()
	if status == "Failed":
		restore_watermarks(connection, before)
	return status


def retry_records(
	connection: str, records: Iterable[Iterable[Any]], retry_of: str, user: str | None = None
) -> str:
	"""Re-read and re-apply chosen records (the failed lines of a log); watermarks stay as they are."""
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	observer = FrappeObserver.start(
		connection, TRIGGER_RETRY, user, False, {m: doc.watermark(m) for m in STREAM_ORDER}, retry_of
	)
	by_module: dict[str, list[int]] = {}
	for module, crmid in records:
		by_module.setdefault(module, []).append(int(str(crmid).split(":")[0]))
	try:
		run = SyncRun(connection)
		observer.set_total(sum(len(ids) for ids in by_module.values()))
		for module, crmids in by_module.items():
			bundles = run.reader.read_records(module, sorted(set(crmids)))
			found = {bundle.source.crmid for bundle in bundles}
			for result in run.planner.plan_all(bundles):
				run.apply(result, observer)
				observer.record_read()
			for crmid in sorted(set(crmids) - found):
				observer.line("Skipped", module, crmid, _("No longer a live record in VTiger"))
				observer.record_read()
			observer.flush()
			frappe.db.commit()
	except (ConnectionFailed, MappingError) as exc:
		frappe.db.rollback()
		return observer.finish(redact(str(exc)))
	return observer.finish()


def preview(connection: str, limit: int = 20) -> list[dict[str, Any]]:
	"""What the next run would do with the first ``limit`` changed records of each stream; writes nothing."""
	run = SyncRun(connection)
	until = run.reader.signpost()
	rows: list[dict[str, Any]] = []
	for module in run.streams:
		batch = next(run.reader.iter_changes(module, Watermark.parse(run.doc.watermark(module)), until), None)
		for result in run.planner.plan_all(batch.bundles[:limit] if batch else []):
			rows.extend(preview_rows(result))
	return rows


def preview_rows(result: BundleResult) -> list[dict[str, Any]]:
	base = {"module": result.source.module, "record": result.source.crmid}
	if result.filtered or result.failed:
		reason = result.filtered or "; ".join(i.message for i in result.issues if i.severity == "error")
		return [{**base, "action": "filtered" if result.filtered else "fail", "message": reason}]
	rows = []
	for plan in result.plans:
		stored = frappe.db.get_value(
			plan.doctype, {VTIGER_ID_FIELD: plan.vtiger_id}, ["name", VTIGER_HASH_FIELD], as_dict=True
		)
		action = (
			"create"
			if not stored
			else ("skip" if stored.get(VTIGER_HASH_FIELD) == plan.content_hash else "update")
		)
		rows.append(
			{**base, "doctype": plan.doctype, "vtiger_id": plan.vtiger_id, "action": action, "message": ""}
		)
	return rows + [{**base, "action": "warning", "message": i.message} for i in result.issues]


def validate_connection_mapping(doc: Any) -> list[str]:
	"""Every problem of a connection's mapping: shape, target DocType fields, and VTiger's real columns."""
	try:
		mapping = doc.mapping_config()
	except MappingError as exc:
		return [str(problem) for problem in exc.problems]
	problems = target_field_problems(mapping)
	try:
		VTigerReader.connect(doc.connection_settings(), mapping)
	except MappingError as exc:
		problems += [str(problem) for problem in exc.problems]
	except ConnectionFailed as exc:
		frappe.msgprint(
			_("VTiger columns were not checked: {0}").format(str(exc)),
			indicator="orange",
			title=_("Not checked"),
		)
	return problems


def target_field_problems(mapping: Any) -> list[str]:
	problems = []
	for entity in mapping.entities:
		path = f"entities.{entity.name}"
		if not frappe.db.exists("DocType", entity.doctype):
			problems.append(f"{path}.doctype: " + _("DocType {0} does not exist").format(entity.doctype))
			continue
		meta = frappe.get_meta(entity.doctype)
		consumed = PROCESSORS[entity.processor].consumed_fields
		for spec in entity.fields:
			if spec.target not in consumed and not meta.has_field(spec.target):
				problems.append(
					f"{path}.fields.{spec.target}: "
					+ _("{0} has no field {1}").format(entity.doctype, spec.target)
				)
		for child in entity.children:
			table = meta.get_field(child.table)
			if not table or table.fieldtype != "Table":
				problems.append(
					f"{path}.children.{child.table}: "
					+ _("{0} has no table {1}").format(entity.doctype, child.table)
				)
				continue
			child_meta = frappe.get_meta(table.options)
			for spec in child.fields:
				if not child_meta.has_field(spec.target):
					problems.append(
						f"{path}.children.{child.table}.fields.{spec.target}: "
						+ _("{0} has no field {1}").format(table.options, spec.target)
					)
		for link in entity.links:
			target_doctype = mapping.entities_named(link.entity)[0].doctype
			owner, fieldname = (
				(target_doctype, link.fieldname)
				if link.kind == "primary"
				else (entity.doctype, link.fieldname)
			)
			if link.kind == "dynamic":
				owner, fieldname = entity.doctype, "links"
			if not frappe.get_meta(owner).has_field(fieldname):
				problems.append(f"{path}.links: " + _("{0} has no field {1}").format(owner, fieldname))
	return problems


def sync_settings(doc: Any) -> SyncSettings:
	return SyncSettings(
		company=doc.company,
		customer_group=doc.customer_group,
		territory=doc.territory,
		selling_price_list=doc.selling_price_list,
		default_currency=doc.default_currency,
		item_group=doc.item_group,
		default_country=doc.default_country,
		delivery_rule=doc.delivery_date_rule or "Due date, else order date + days",
		delivery_days=doc.delivery_days or 0,
		submit_statuses=frozenset(s.strip() for s in (doc.submit_statuses or "").splitlines() if s.strip()),
		tax_accounts={row.vtiger_tax: (row.account_head, row.description) for row in doc.tax_accounts},
		deleted_record_action=doc.deleted_record_action or "Ignore",
	)


def hash_key() -> bytes:
	"""A per-site key for content hashes, derived from the site's encryption key."""
	return hashlib.sha256(f"vtigercrm_sync:{get_encryption_key()}".encode()).digest()


def documents_of(vtiger_id: str) -> list[tuple[str, str]]:
	"""Every synced document that came from this VTiger record (its prefixed crmid), dependents first."""
	found = []
	for doctype in DELETE_ORDER:
		for name in frappe.get_all(
			doctype,
			or_filters=[[VTIGER_ID_FIELD, "=", vtiger_id], [VTIGER_ID_FIELD, "like", f"{vtiger_id}:%"]],
			pluck="name",
		):
			found.append((doctype, name))
	return found


def remove_document(doctype: str, name: str, policy: str) -> tuple[str, str | None]:
	"""Disable, or delete a draft, as the policy says; what cannot be done is kept and said."""
	meta = frappe.get_meta(doctype)
	docstatus = frappe.db.get_value(doctype, name, "docstatus") if meta.is_submittable else 0
	if policy == "Delete Drafts" and meta.is_submittable and docstatus == 0:
		frappe.delete_doc(doctype, name, ignore_permissions=True)
		return "Deleted", None
	if meta.has_field("disabled"):
		frappe.db.set_value(doctype, name, "disabled", 1)
		return "Disabled", None
	reason = _("submitted") if docstatus == 1 else _("{0} cannot be disabled").format(_(doctype))
	return "Warning", _("Deleted in VTiger; kept ({0})").format(reason)


def restore_watermarks(connection: str, watermarks: dict[str, str | None]) -> None:
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	for module, value in watermarks.items():
		doc.set_watermark(module, value)
	frappe.db.commit()


def error_text(exc: BaseException) -> str:
	"""The message a user can act on: Frappe's own text when it has one, without markup."""
	message = str(exc) or exc.__class__.__name__
	return strip_html(message).strip()
