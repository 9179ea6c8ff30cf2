# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

from __future__ import annotations

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import add_days, now_datetime

from vtigercrm_sync.constants import JOB_TIMEOUT, LOG_LINE_DOCTYPE, retry_job_id
from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync import check_sync_permission


class VTigerCRMSyncLog(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_log_line.vtigercrm_sync_log_line import (
			VTigerCRMSyncLogLine,
		)

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
		skipped: DF.Int
		started_at: DF.Datetime | None
		status: DF.Literal["Queued", "Running", "Success", "Partial Success", "Failed", "Timed Out"]
		trigger: DF.Literal["Button", "Schedule", "CLI", "Retry"]
		updated: DF.Int
		user: DF.Link | None
		watermark_after: DF.SmallText | None
		watermark_before: DF.SmallText | None

	# end: auto-generated types
	@staticmethod
	def clear_old_logs(days: int = 30) -> None:
		"""Called by Frappe's log settings (``default_log_clearing_doctypes``)."""
		cutoff = add_days(now_datetime(), -days)
		old = frappe.get_all("VTigerCRM Sync Log", filters={"modified": ("<", cutoff)}, pluck="name")
		if old:
			frappe.db.delete(LOG_LINE_DOCTYPE, {"parent": ("in", old)})
			frappe.db.delete("VTigerCRM Sync Log", {"name": ("in", old)})

	def failed_records(self) -> list[list]:
		"""Distinct (module, crmid) of the records this run could not write."""
		seen: dict[tuple[str, str], None] = {}
		for row in self.lines:
			if row.action == "Failed":
				seen[(row.vtiger_module, row.vtiger_id.split(":")[0])] = None
		return [list(key) for key in seen]


@frappe.whitelist()
def retry_failed(log: str) -> dict:
	"""Re-read and re-apply the records a run could not write; a new log tells how it went."""
	doc = frappe.get_doc("VTigerCRM Sync Log", log)
	doc.check_permission("read")
	check_sync_permission(frappe.get_doc("VTigerCRM Sync", doc.connection))
	records = doc.failed_records()
	if not records:
		frappe.throw(_("Log {0} has no failed records to retry").format(frappe.bold(log)))
	frappe.enqueue(
		"vtigercrm_sync.syncer.handler.sync.retry_records",
		queue="long",
		timeout=JOB_TIMEOUT,
		job_id=retry_job_id(log),
		deduplicate=True,
		enqueue_after_commit=not frappe.flags.in_test,
		now=frappe.flags.in_test,
		connection=doc.connection,
		records=records,
		retry_of=log,
		user=frappe.session.user,
	)
	return {"status": "queued", "count": len(records)}
