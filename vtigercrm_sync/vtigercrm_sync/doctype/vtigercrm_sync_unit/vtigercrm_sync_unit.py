# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

from frappe.model.document import Document


class VTigerCRMSyncUnit(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		uom: DF.Link | None
		vtiger_unit: DF.Data
		whole_number: DF.Check
	# end: auto-generated types
	pass
