# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

from __future__ import annotations

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.query_builder import Interval
from frappe.query_builder.functions import Now

from vtigercrm_sync.constants import LOG_DOCTYPE, SETTING_DOCTYPE, retry_job_id
from vtigercrm_sync.syncer.observer import log_lines
from vtigercrm_sync.syncer.run.retry import queue_retry
from vtigercrm_sync.syncer.run.state import is_alive, prefix_holder
from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync import vtiger_record_url

JOB_FIELDS = [
	"name",
	"stage",
	"module",
	"until_key",
	"status",
	"attempts",
	"records",
	"records_read",
	"failed",
]


class VTigerCRMSyncLog(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		connection: DF.Link | None
		created: DF.Int
		deleted: DF.Int
		duration: DF.Float
		ended_at: DF.Datetime | None
		error_summary: DF.LongText | None
		failed: DF.Int
		filtered: DF.Int
		full_resync: DF.Check
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
		"""What the form draws besides its fields: the summary and the jobs; the lines come a page at a time
		(:func:`get_lines`)."""
		self.set_onload("reasons", self.reasons())
		self.set_onload("jobs", log_lines.chunks_of(self.name, JOB_FIELDS))

	def reasons(self) -> list[dict]:
		"""The failures, then the warnings, grouped by reason, most frequent first, each with the records it
		concerns (up to five) so the form can link to them: the ERPNext document, VTiger's page, a retry. Counted
		and cut in SQL: a log of 50,000 lines is never loaded whole."""
		base = self.connection and frappe.db.get_value(SETTING_DOCTYPE, self.connection, "vtiger_url")
		groups = {
			(g.action, g.reason): {"action": g.action, "reason": g.reason, "count": g.count, "documents": []}
			for g in log_lines.reason_groups(self.name)
		}
		for line in log_lines.group_records(self.name):
			groups[(line.action, line.reason)]["documents"].append(
				{
					"doctype": line.target_doctype,
					"name": line.target_name,
					"vtiger_id": line.vtiger_id,
					"module": line.vtiger_module,
					"record": line.vtiger_record,
					"url": vtiger_record_url(base, line.vtiger_module, line.vtiger_record),
				}
			)
		return list(groups.values())

	def failed_records(self) -> list[list[str]]:
		"""Distinct [module, crmid] of the records this run could not write, in the order they failed."""
		return log_lines.failed_records(self.name)

	def on_trash(self):
		log_lines.delete_log_rows(self.name)

	@staticmethod
	def clear_old_logs(days: int = 30) -> None:
		"""Delete logs last touched more than ``days`` ago with their lines and chunks (Log Settings calls this,
		see hooks)."""
		log = frappe.qb.DocType(LOG_DOCTYPE)
		old = log.modified < (Now() - Interval(days=days))
		log_lines.delete_log_rows(frappe.qb.from_(log).select(log.name).where(old))
		frappe.db.delete(log, filters=old)


@frappe.whitelist()
def get_lines(log: str, start: int = 0, page_length: int = log_lines.PAGE_LENGTH, action: str | None = None):
	"""A page of the log's lines for its form, and how many there are (``action``: only those)."""
	frappe.get_doc(LOG_DOCTYPE, log).check_permission("read")
	return log_lines.page_lines(log, start, page_length, action)


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
	records = log_lines.failed_records(log, module, record)
	if record and not records:
		frappe.throw(_("That record did not fail in log {0}").format(frappe.bold(log)))
	if not records:
		frappe.throw(_("Log {0} has no failed records to retry").format(frappe.bold(log)))
	return queue_retry(connection.name, records, retry_job_id(log), retry_of=log)
