"""One run of one connection: the reader, planner and handlers it needs, and how one VTiger record is written.

Each VTiger record is applied inside its own savepoint, so a record that fails is rolled back alone and logged while
the batch goes on.
"""

from __future__ import annotations

import frappe
from frappe import _

from vtigercrm_sync.config.config import STREAM_ORDER, load_handler_config
from vtigercrm_sync.constants import SETTING_DOCTYPE
from vtigercrm_sync.syncer.handler.base import Resolver, error_text
from vtigercrm_sync.syncer.handler.deletion import documents_of, remove_document
from vtigercrm_sync.syncer.handler.factory import build_handlers
from vtigercrm_sync.syncer.handler.settings import hash_key, sync_settings
from vtigercrm_sync.syncer.observer.frappe import FrappeObserver
from vtigercrm_sync.syncer.plan import BundleResult, RecordRef
from vtigercrm_sync.syncer.processor.base import PlanContext
from vtigercrm_sync.syncer.processor.planner import BundlePlanner
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.services.query import VTigerReader


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
