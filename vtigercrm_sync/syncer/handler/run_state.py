"""A connection's run state (watermarks, status) kept consistent with what each run committed."""

from __future__ import annotations

import frappe

from vtigercrm_sync.constants import SETTING_DOCTYPE


def restore_watermarks(connection: str, watermarks: dict[str, str | None]) -> None:
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	for module, value in watermarks.items():
		doc.set_watermark(module, value)
	frappe.db.commit()
