# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

from frappe.model.document import Document


class VTigerCRMSyncChunk(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		attempts: DF.Int
		created: DF.Int
		deleted: DF.Int
		done_key: DF.Data | None
		enqueued: DF.Int
		error: DF.SmallText | None
		failed: DF.Int
		filtered: DF.Int
		lines: DF.Int
		lock_retries: DF.Int
		log: DF.Link
		module: DF.Data | None
		records: DF.Int
		records_read: DF.Int
		since_key: DF.Data | None
		skipped: DF.Int
		stage: DF.Data | None
		status: DF.Literal["Queued", "Running", "Done", "Failed", "Timed Out"]
		until_key: DF.Data | None
		unchanged: DF.Int
		updated: DF.Int
	# end: auto-generated types
	pass
