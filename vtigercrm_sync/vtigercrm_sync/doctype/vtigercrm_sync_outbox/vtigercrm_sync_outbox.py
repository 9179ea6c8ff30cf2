# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

from __future__ import annotations

import frappe
from frappe.model.document import Document
from frappe.query_builder import Interval
from frappe.query_builder.functions import Now

from vtigercrm_sync.constants import OUTBOX_DOCTYPE, OUTBOX_SENT, OUTBOX_SUPERSEDED


class VTigerCRMSyncOutbox(Document):
	"""One ERPNext change waiting to be written to VTiger (see ``syncer/push/pusher.py``)."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		attempts: DF.Int
		changed_at: DF.Datetime | None
		changes: DF.Code | None
		claimed_at: DF.Datetime | None
		connection: DF.Link | None
		kind: DF.Literal["Status", "Edit", "Create"]
		last_error: DF.SmallText | None
		log: DF.Link | None
		next_attempt_at: DF.Datetime | None
		reference_doctype: DF.Link | None
		reference_name: DF.DynamicLink | None
		sent_at: DF.Datetime | None
		status: DF.Literal["Pending", "Sending", "Sent", "Failed", "Superseded"]
		vtiger_id: DF.Data | None
	# end: auto-generated types

	@staticmethod
	def clear_old_logs(days: int = 30) -> None:
		"""Forget pushes sent (or overruled by VTiger at a pull) more than ``days`` ago; pending and failed ones
		stay until dealt with."""
		outbox = frappe.qb.DocType(OUTBOX_DOCTYPE)
		frappe.db.delete(
			outbox,
			filters=(outbox.status.isin([OUTBOX_SENT, OUTBOX_SUPERSEDED]))
			& (outbox.modified < (Now() - Interval(days=days))),
		)
