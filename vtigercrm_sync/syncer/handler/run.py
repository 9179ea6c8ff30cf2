"""One run of one connection: the reader, planner and handlers it needs, and how one VTiger record is written.

Each document of a record is written inside its own savepoint: one that fails is rolled back alone and logged, and
the record's other documents still land (an order whose contact ERPNext refuses lands without the contact). A
document fails with the one it needs: a required link to a document that could not be written fails too.
"""

from __future__ import annotations

import itertools

import frappe
from frappe import _

from vtigercrm_sync.config.config import STREAM_ORDER, load_handler_config
from vtigercrm_sync.constants import SETTING_DOCTYPE
from vtigercrm_sync.syncer.handler.base import Outcome, Resolver, error_text
from vtigercrm_sync.syncer.handler.deletion import documents_of, remove_document
from vtigercrm_sync.syncer.handler.factory import build_handlers
from vtigercrm_sync.syncer.handler.settings import hash_key, sync_settings
from vtigercrm_sync.syncer.observer.frappe import FrappeObserver
from vtigercrm_sync.syncer.plan import BundleResult, DocumentPlan, RecordRef
from vtigercrm_sync.syncer.processor.base import PlanContext
from vtigercrm_sync.syncer.processor.planner import BundlePlanner
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.services.query import VTigerReader


class SyncRun:
	"""One run of one connection: the reader, planner and handlers it needs, built once."""

	def __init__(self, connection: str):
		self.doc = frappe.get_doc(SETTING_DOCTYPE, connection)
		handler_config = load_handler_config()
		self.reader = VTigerReader.connect(
			self.doc.connection_settings(), self.doc.mapping_config(), batch_size=self.doc.batch_size or 500
		)
		self.settings = sync_settings(self.doc, self.reader.catalog)
		context = PlanContext(
			hash_key=hash_key(),
			defaults={"country": self.settings.default_country},
			id_prefix=self.doc.id_prefix or "",
			taxes=self.reader.catalog.taxes,
		)
		self.planner = BundlePlanner(self.reader.mapping, context, handler_config)
		self.handlers = build_handlers(self.reader.mapping, handler_config, self.settings)
		self.resolver = Resolver()
		self._savepoints = itertools.count()

	@property
	def streams(self) -> list[str]:
		return [module for module in STREAM_ORDER if module in self.reader.mapping.streams]

	def apply(self, result: BundleResult, observer: FrappeObserver) -> None:
		"""Write one record's plans, each in a savepoint of its own, and log what did not simply succeed."""
		module, crmid = result.source.module, result.source.crmid
		record_id = f"{self.doc.id_prefix or ''}{crmid}"
		secrets = [value for plan in result.plans for value in plan.secrets.values()]
		for issue in result.issues:
			action = "Warning" if issue.severity == "warning" else "Failed"
			observer.line(
				action, module, record_id, redact(issue.message, secrets), issue.entity, record=crmid
			)
		if result.filtered:
			observer.line("Filtered", module, record_id, result.filtered, record=crmid)
			return
		for plan in result.plans:
			outcome = self._apply_plan(plan, module, crmid, secrets, observer)
			if outcome is None:
				continue
			for warning in outcome.warnings:
				observer.line(
					"Warning",
					module,
					plan.vtiger_id,
					redact(warning, secrets),
					plan.entity,
					plan.doctype,
					outcome.name,
					record=crmid,
				)
			if not outcome.repeat:
				observer.line(
					outcome.action,
					module,
					plan.vtiger_id,
					outcome.message,
					plan.entity,
					plan.doctype,
					outcome.name,
					record=crmid,
				)
		self.resolver.accept()

	def _apply_plan(
		self, plan: DocumentPlan, module: str, crmid: int, secrets: list[str], observer: FrappeObserver
	) -> Outcome | None:
		"""One document in its own savepoint; None (and a Failed line) when it could not be written."""
		savepoint = f"vtiger_{next(self._savepoints)}"
		frappe.db.savepoint(savepoint)
		try:
			outcome = self.handlers[plan.entity.split("#")[0]].apply(plan, self.resolver)
		except Exception as exc:
			frappe.db.rollback(save_point=savepoint)
			frappe.clear_messages()
			reason = redact(f"{plan.entity} ({_(plan.doctype)}): {error_text(exc)}", secrets)
			observer.line("Failed", module, plan.vtiger_id, reason, plan.entity, plan.doctype, record=crmid)
			return None
		frappe.db.release_savepoint(savepoint)
		return outcome

	def delete(self, ref: RecordRef, observer: FrappeObserver) -> None:
		"""Follow the connection's policy for a record deleted in VTiger."""
		action = self.settings.deleted_record_action
		record_id = f"{self.doc.id_prefix or ''}{ref.crmid}"
		documents = documents_of(record_id)
		if not documents:
			return
		if action == "Ignore":
			observer.line(
				"Skipped",
				ref.module,
				record_id,
				_("Deleted in VTiger; kept (policy: Ignore)"),
				record=ref.crmid,
			)
			return
		savepoint = f"vtiger_del_{ref.crmid}"
		frappe.db.savepoint(savepoint)
		try:
			for doctype, name in documents:
				outcome, message = remove_document(doctype, name, action)
				observer.line(
					outcome,
					ref.module,
					record_id,
					message,
					target_doctype=doctype,
					target_name=name,
					record=ref.crmid,
				)
		except Exception as exc:
			frappe.db.rollback(save_point=savepoint)
			frappe.clear_messages()
			observer.line("Failed", ref.module, record_id, redact(error_text(exc)), record=ref.crmid)
