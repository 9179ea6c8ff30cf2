# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

from __future__ import annotations

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.query_builder import Interval
from frappe.query_builder.functions import Now

from vtigercrm_sync.constants import (
	ACTION_FAILED,
	JOB_TIMEOUT,
	LOG_DOCTYPE,
	LOG_LINE_DOCTYPE,
	SETTING_DOCTYPE,
	retry_job_id,
)
from vtigercrm_sync.syncer.observer.base import group_reasons, reason_of
from vtigercrm_sync.syncer.run.state import is_alive, prefix_holder
from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync import vtiger_record_url


class VTigerCRMSyncLog(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_chunk.vtigercrm_sync_chunk import (
			VTigerCRMSyncChunk,
		)
		from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_log_line.vtigercrm_sync_log_line import (
			VTigerCRMSyncLogLine,
		)

		chunks: DF.Table[VTigerCRMSyncChunk]
		connection: DF.Link | None
		created: DF.Int
		deleted: DF.Int
		duration: DF.Float
		ended_at: DF.Datetime | None
		error_summary: DF.LongText | None
		failed: DF.Int
		filtered: DF.Int
		full_resync: DF.Check
		lines: DF.Table[VTigerCRMSyncLogLine]
		records_read: DF.Int
		retry_of: DF.Link | None
		run_window: DF.SmallText | None
		skipped: DF.Int
		stage: DF.Data | None
		started_at: DF.Datetime | None
		status: DF.Literal["Queued", "Running", "Success", "Partial Success", "Failed", "Timed Out"]
		total_records: DF.Int
		trigger: DF.Literal["Button", "Schedule", "CLI", "Retry", "Push"]
		unchanged: DF.Int
		updated: DF.Int
		user: DF.Link | None
		watermark_after: DF.SmallText | None
		watermark_before: DF.SmallText | None

	# end: auto-generated types

	def onload(self):
		self.set_onload("reasons", self.reasons())

	def reasons(self) -> list[dict]:
		"""The failures, then the warnings, grouped by reason, most frequent first, each with the records it
		concerns (up to five) so the form can link to them: the ERPNext document, VTiger's page, a retry."""
		base = self.connection and frappe.db.get_value(SETTING_DOCTYPE, self.connection, "vtiger_url")
		groups = []
		for action in (ACTION_FAILED, "Warning"):
			lines = [line for line in self.lines if line.action == action]
			for reason, count in group_reasons(line.message for line in lines):
				documents = [
					{
						"doctype": line.target_doctype,
						"name": line.target_name,
						"vtiger_id": line.vtiger_id,
						"module": line.vtiger_module,
						"record": line.vtiger_record,
						"url": vtiger_record_url(base, line.vtiger_module, line.vtiger_record),
					}
					for line in lines
					if reason_of(line.message) == reason
				][:5]
				groups.append({"action": action, "reason": reason, "count": count, "documents": documents})
		return groups

	@staticmethod
	def clear_old_logs(days: int = 30) -> None:
		"""Delete logs last touched more than ``days`` ago, lines first (Log Settings calls this, see hooks)."""
		log = frappe.qb.DocType(LOG_DOCTYPE)
		line = frappe.qb.DocType(LOG_LINE_DOCTYPE)
		old = log.modified < (Now() - Interval(days=days))
		frappe.db.delete(
			line,
			filters=(line.parenttype == LOG_DOCTYPE)
			& line.parent.isin(frappe.qb.from_(log).select(log.name).where(old)),
		)
		frappe.db.delete(log, filters=old)

	def failed_records(self) -> list[list[str]]:
		"""Distinct [module, crmid] of the records this run could not write, in the order they failed: the record
		each failed line came from (an order, for the contact it could not write)."""
		rows = frappe.get_all(
			LOG_LINE_DOCTYPE,
			filters={"parenttype": LOG_DOCTYPE, "parent": self.name, "action": ACTION_FAILED},
			fields=["vtiger_module", "vtiger_record"],
			order_by="idx asc",
		)
		seen = {(row.vtiger_module, str(row.vtiger_record)): None for row in rows if row.vtiger_record}
		return [list(key) for key in seen]


@frappe.whitelist(methods=["POST"])
def retry_failed(log: str, module: str | None = None, record: int | str | None = None) -> dict:
	"""Re-read and re-apply the records a run could not write (or only the one ``module`` ``record`` of them);
	a new log tells how it went."""
	doc = frappe.get_doc(LOG_DOCTYPE, log)
	doc.check_permission("read")
	connection = frappe.get_doc(SETTING_DOCTYPE, doc.connection)
	connection.check_permission("write")
	connection.check_sync_permission()
	holder = prefix_holder(connection.id_prefix or "")
	if is_alive(connection.name) or holder:
		frappe.throw(
			_(
				"A sync ({0}) is writing the documents of {1}; retry the failed records of {2} when it ends"
			).format(
				frappe.bold(holder or connection.last_log), frappe.bold(connection.name), frappe.bold(log)
			)
		)
	records = doc.failed_records()
	if record:
		records = [pair for pair in records if pair == [module, str(record)]]
		if not records:
			frappe.throw(_("That record did not fail in log {0}").format(frappe.bold(log)))
	if not records:
		frappe.throw(_("Log {0} has no failed records to retry").format(frappe.bold(log)))
	frappe.enqueue(
		"vtigercrm_sync.syncer.run.job.retry_records",
		queue="long",
		timeout=JOB_TIMEOUT,
		job_id=retry_job_id(log),
		deduplicate=True,
		enqueue_after_commit=True,
		now=frappe.flags.in_test,
		connection=connection.name,
		records=records,
		retry_of=log,
		user=frappe.session.user,
	)
	return {"status": "queued", "count": len(records)}
