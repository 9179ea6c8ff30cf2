# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

import frappe
from frappe.model.document import Document

from vtigercrm_sync.constants import LOG_LINE_DOCTYPE


class VTigerCRMSyncLogLine(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		action: DF.Literal[
			"Created",
			"Updated",
			"Skipped",
			"Failed",
			"Deleted",
			"Disabled",
			"Warning",
			"Filtered",
			"Pushed",
			"Conflict",
			"Retrying",
		]
		chunk: DF.Link | None
		direction: DF.Literal["VTiger → ERPNext", "ERPNext → VTiger"]
		entity: DF.Data | None
		log: DF.Link
		message: DF.SmallText | None
		name: DF.Int | None
		reason: DF.SmallText | None
		target_doctype: DF.Link | None
		target_name: DF.DynamicLink | None
		vtiger_id: DF.Data | None
		vtiger_module: DF.Data | None
		vtiger_record: DF.Int
	# end: auto-generated types
	pass


def on_doctype_update():
	"""The log's grouped summary and its failed records read one action's lines of one log."""
	frappe.db.add_index(LOG_LINE_DOCTYPE, ["log", "action"])
