# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

from frappe.model.document import Document


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
		direction: DF.Literal["VTiger → ERPNext", "ERPNext → VTiger"]
		entity: DF.Data | None
		message: DF.SmallText | None
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		target_doctype: DF.Link | None
		target_name: DF.DynamicLink | None
		vtiger_id: DF.Data | None
		vtiger_module: DF.Data | None
		vtiger_record: DF.Int
	# end: auto-generated types
	pass
