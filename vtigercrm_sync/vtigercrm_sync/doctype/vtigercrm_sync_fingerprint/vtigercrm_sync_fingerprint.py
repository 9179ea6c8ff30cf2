# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

from __future__ import annotations

from frappe.model.document import Document


class VTigerCRMSyncFingerprint(Document):
	"""The sources of one VTiger record as a run last wrote it (``syncer/run/fingerprint.py``): one row per
	connection and crmid, named by both, written and read in bulk by runs only."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		connection: DF.Link | None
		crmid: DF.Int
		fingerprint: DF.Data | None
		module: DF.Data | None
		record: DF.Data | None
		sources: DF.SmallText | None
	# end: auto-generated types
