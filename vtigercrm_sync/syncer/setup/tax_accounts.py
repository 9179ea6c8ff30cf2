"""ERPNext accounts for what VTiger adds to an order's net total: its taxes, shipping & handling, the adjustment.

A connection must map each of them to an account, or an order that carries one would be written with a wrong
total; such an order fails with the reason instead. :func:`create_tax_accounts` does the mapping in one click:
accounts named after VTiger's labels, taxes under the company's "Duties and Taxes", shipping & handling and the
adjustment under its indirect income (both are charged to the customer, not owed to a tax authority).
"""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _

from vtigercrm_sync.syncer.processor.sales_order import ADJUSTMENT, SHIPPING
from vtigercrm_sync.syncer.services.catalog import TaxDefinition, VTigerCatalog

CHARGES = {SHIPPING: "Shipping & Handling", ADJUSTMENT: "Adjustment"}


def tax_rows_needed(catalog: VTigerCatalog) -> dict[str, str]:
	"""Every key an order's tax rows may carry -> a label for it: the live taxes, shipping, the adjustment."""
	rows = {tax.key: _tax_label(tax) for tax in catalog.taxes if not tax.deleted}
	return {**rows, **{key: _(label) for key, label in CHARGES.items()}}


def unmapped_tax_rows(doc: Any, catalog: VTigerCatalog) -> dict[str, str]:
	mapped = {row.vtiger_tax for row in doc.tax_accounts if row.account_head}
	return {key: label for key, label in tax_rows_needed(catalog).items() if key not in mapped}


def create_tax_accounts(doc: Any, catalog: VTigerCatalog) -> list[str]:
	"""Map every unmapped VTiger tax row of ``doc`` to an account named after it, creating the accounts the
	company lacks; returns the accounts it created. A tax and the same tax on shipping share one account."""
	company = doc.company
	created = []
	labels = {tax.key: tax.label for tax in catalog.taxes}
	for key in unmapped_tax_rows(doc, catalog):
		is_tax = key not in CHARGES
		account_name = labels[key] if is_tax else CHARGES[key]
		kind = {"account_type": "Tax"} if is_tax else {"root_type": "Income"}
		account = _account(company, account_name, kind)
		if not account and frappe.db.exists("Account", {"company": company, "account_name": account_name}):
			# the name is another kind of account's (ERPNext's charts have "Sales" and "Service" income)
			account_name = (
				_("{0} Tax").format(account_name) if is_tax else _("{0} Charges").format(account_name)
			)
			account = _account(company, account_name, kind)
		if not account:
			tax = next((t for t in catalog.taxes if t.key == key), None)
			account = _new_account(company, account_name, tax).name
			created.append(account)
		row = next((r for r in doc.tax_accounts if r.vtiger_tax == key), None) or doc.append(
			"tax_accounts", {"vtiger_tax": key}
		)
		row.account_head = account
	return created


def _account(company: str, account_name: str, kind: dict[str, str]) -> str | None:
	"""The company's ledger of that name, only if it is of the kind the row needs (a tax, or income)."""
	filters = {"company": company, "account_name": account_name, "is_group": 0, **kind}
	return frappe.db.get_value("Account", filters, "name")


def _new_account(company: str, account_name: str, tax: TaxDefinition | None) -> Any:
	parent = _parent_account(company, "Liability" if tax else "Income", tax is not None)
	return frappe.get_doc(
		{
			"doctype": "Account",
			"company": company,
			"account_name": account_name,
			"parent_account": parent,
			"account_type": "Tax" if tax else "Chargeable",
			"tax_rate": tax.percentage if tax else 0,
			"is_group": 0,
		}
	).insert()


def _parent_account(company: str, root_type: str, is_tax: bool) -> str:
	filters = {"company": company, "is_group": 1, "root_type": root_type}
	found = frappe.db.get_value(
		"Account",
		{**filters, "account_type": "Tax"} if is_tax else {**filters, "account_name": "Indirect Income"},
	) or frappe.db.get_value("Account", {**filters, "parent_account": ("is", "set")}, order_by="lft")
	if not found:
		frappe.throw(
			_("Company {0} has no {1} group account to create VTiger's accounts under").format(
				frappe.bold(company), _(root_type)
			)
		)
	return found


def _tax_label(tax: TaxDefinition) -> str:
	percentage = format(
		tax.percentage.normalize(), "f"
	)  # 10.000 -> "10", where normalize() alone gives "1E+1"
	if tax.shipping:
		return _("{0} on Shipping & Handling ({1} %)").format(tax.label, percentage)
	return _("{0} ({1} %)").format(tax.label, percentage)
