# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

from frappe.model.document import Document


class VTigerCRMSyncTaxAccount(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		account_head: DF.Link
		description: DF.Data | None
		parent: DF.Data
		parentfield: DF.Data
		parenttype: DF.Data
		vtiger_tax: DF.Data
	# end: auto-generated types
	pass
