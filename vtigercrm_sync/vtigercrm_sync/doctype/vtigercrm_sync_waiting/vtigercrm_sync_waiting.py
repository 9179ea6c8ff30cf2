# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

from __future__ import annotations

from frappe.model.document import Document


class VTigerCRMSyncWaiting(Document):
	"""A VTiger record that waits on a reason in its data or the settings (``syncer/run/waiting.py``): one row
	per connection and crmid, named by both, written by runs only."""

	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		connection: DF.Link | None
		crmid: DF.Int
		fingerprint: DF.Data | None
		first_seen: DF.Datetime | None
		last_seen: DF.Datetime | None
		log: DF.Link | None
		module: DF.Data | None
		reason: DF.SmallText | None
		reason_kind: DF.Literal[
			"Tax not mapped",
			"No exchange rate",
			"Record needed is missing",
			"Value refused",
			"Could not be planned",
		]
		setting: DF.Data | None
	# end: auto-generated types
