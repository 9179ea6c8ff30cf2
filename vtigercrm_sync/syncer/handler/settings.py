"""A connection's settings as the handlers need them, and the site's key for content hashes."""

from __future__ import annotations

import hashlib
from typing import Any

from frappe.utils.password import get_encryption_key

from vtigercrm_sync.syncer.handler.base import SyncSettings


def sync_settings(doc: Any, catalog: Any = None, log: str | None = None) -> SyncSettings:
	"""The handlers' view of a connection (and of what its VTiger defines, when its ``catalog`` is at hand)."""
	return SyncSettings(
		company=doc.company,
		customer_group=doc.customer_group,
		territory=doc.territory,
		selling_price_list=doc.selling_price_list,
		default_currency=doc.default_currency,
		item_group=doc.item_group,
		default_country=doc.default_country,
		delivery_rule=doc.delivery_date_rule or "Due date, else order date + days",
		delivery_days=doc.delivery_days or 0,
		submit_statuses=frozenset(s.strip() for s in (doc.submit_statuses or "").splitlines() if s.strip()),
		tax_accounts={row.vtiger_tax: (row.account_head, row.description) for row in doc.tax_accounts},
		deleted_record_action=doc.deleted_record_action or "Ignore",
		units={row.vtiger_unit: row.uom for row in doc.get("units") or [] if row.vtiger_unit and row.uom},
		vtiger_base_currency=getattr(catalog, "base_currency", None),
		connection=doc.name,
		log=log,
		id_prefix=doc.id_prefix or "",
	)


def hash_key() -> bytes:
	"""A per-site key for content hashes, derived from the site's encryption key."""
	return hashlib.sha256(f"vtigercrm_sync:{get_encryption_key()}".encode()).digest()
