"""The handler of each target doctype: the ERPNext rules a plan alone cannot know."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import frappe
from frappe import _
from frappe.model.document import Document
from frappe.utils import flt, getdate

from vtigercrm_sync.constants import VTIGER_HASH_FIELD
from vtigercrm_sync.syncer.handler.base import DocumentHandler, Resolver
from vtigercrm_sync.syncer.plan import DocumentPlan

COUNTRY_ALIASES = {
	"usa": "United States",
	"us": "United States",
	"u.s.": "United States",
	"u.s.a.": "United States",
	"united states of america": "United States",
	"estados unidos": "United States",
	"uk": "United Kingdom",
	"great britain": "United Kingdom",
	"england": "United Kingdom",
	"deutschland": "Germany",
	"españa": "Spain",
	"méxico": "Mexico",
	"россия": "Russian Federation",
	"russia": "Russian Federation",
	"日本": "Japan",
	"polska": "Poland",
}


class CustomerHandler(DocumentHandler):
	def prepare(self, values: dict[str, Any], plan: DocumentPlan, resolver: Resolver) -> dict[str, Any]:
		values = super().prepare(values, plan, resolver)
		values.setdefault(
			"customer_group", self.settings.customer_group or _selling_default("customer_group")
		)
		values.setdefault("territory", self.settings.territory or _selling_default("territory"))
		if self.settings.default_currency:
			values.setdefault("default_currency", self.settings.default_currency)
		return values


class ContactHandler(DocumentHandler):
	pass


class AddressHandler(DocumentHandler):
	def prepare(self, values: dict[str, Any], plan: DocumentPlan, resolver: Resolver) -> dict[str, Any]:
		values = super().prepare(values, plan, resolver)
		values["country"] = self.country(values.get("country"))
		return values

	def country(self, value: str | None) -> str:
		"""An ERPNext Country for VTiger's free-text country, or the connection's default."""
		if value:
			name = COUNTRY_ALIASES.get(value.strip().casefold(), value.strip())
			found = frappe.db.get_value("Country", {"name": name}, "name") or frappe.db.get_value(
				"Country", {"code": name.lower()}, "name"
			)
			if found:
				return found
		if not self.settings.default_country:
			raise frappe.ValidationError(
				_("Country {0} is not an ERPNext country and the connection has no default country").format(
					frappe.bold(value or _("(empty)"))
				)
			)
		return self.settings.default_country


class ItemHandler(DocumentHandler):
	def prepare(self, values: dict[str, Any], plan: DocumentPlan, resolver: Resolver) -> dict[str, Any]:
		values = super().prepare(values, plan, resolver)
		values.setdefault("item_group", self.settings.item_group or _item_group_default())
		uom = values.get("stock_uom")
		if not uom or not frappe.db.exists("UOM", uom):
			values["stock_uom"] = "Nos"
		values.setdefault("include_item_in_manufacturing", 0)
		return values

	def find(self, plan: DocumentPlan) -> tuple[str | None, str | None]:
		name, stored = super().find(plan)
		if name:
			return name, stored
		# Items are shared: an item with this code may come from ERPNext itself or from another connection's
		# VTiger. Adopt it; its stored hash still lets an unchanged plan be skipped.
		code = plan.values.get("item_code")
		found = code and frappe.db.get_value("Item", code, ["name", VTIGER_HASH_FIELD], as_dict=True)
		return (found.name, found.get(VTIGER_HASH_FIELD)) if found else (None, None)


class BankAccountHandler(DocumentHandler):
	def prepare(self, values: dict[str, Any], plan: DocumentPlan, resolver: Resolver) -> dict[str, Any]:
		values = super().prepare(values, plan, resolver)
		bank = values.get("bank")
		if bank and not frappe.db.exists("Bank", bank):
			frappe.get_doc({"doctype": "Bank", "bank_name": bank}).insert(ignore_permissions=True)
		return values


class SalesOrderHandler(DocumentHandler):
	def prepare(self, values: dict[str, Any], plan: DocumentPlan, resolver: Resolver) -> dict[str, Any]:
		values = super().prepare(values, plan, resolver)
		settings = self.settings
		values["company"] = settings.company
		values["ignore_pricing_rule"] = 1
		if settings.selling_price_list:
			values["selling_price_list"] = settings.selling_price_list
		currency = values.get("currency") or settings.default_currency
		if currency:
			values["currency"] = currency
			values["conversion_rate"] = self.conversion_rate(
				currency, plan.meta.get("vtiger_conversion_rate")
			)
		values["delivery_date"] = self.delivery_date(
			getdate(values.get("transaction_date")), plan.meta.get("duedate")
		)
		return values

	def prepare_rows(
		self, table: str, rows: list[dict[str, Any]], values: dict[str, Any]
	) -> list[dict[str, Any]]:
		rows = super().prepare_rows(table, rows, values)
		if table == "items":
			for row in rows:
				row.setdefault("delivery_date", values["delivery_date"])
				row["conversion_factor"] = 1
			return rows
		if table == "taxes":
			mapped = []
			for row in rows:
				account = self.settings.tax_accounts.get(row["vtiger_tax"])
				if account:
					mapped.append(
						{**row, "account_head": account[0], "description": account[1] or row["description"]}
					)
			return mapped
		return rows

	def fill(self, doc: Document, plan: DocumentPlan, resolver: Resolver) -> None:
		super().fill(doc, plan, resolver)
		if doc.get("contact_person") and doc.get("customer"):
			link_contact_to_customer(doc.contact_person, doc.customer)

	def conversion_rate(self, currency: str, vtiger_rate: Decimal | None) -> float:
		"""ERPNext wants company-currency units per order-currency unit; VTiger stores the inverse against its
		base currency, which is taken to be the company's currency."""
		company_currency = frappe.get_cached_value("Company", self.settings.company, "default_currency")
		if currency == company_currency or not vtiger_rate:
			return 1.0
		return 1 / flt(vtiger_rate)

	def delivery_date(self, transaction_date: date, duedate: date | None) -> date:
		if (
			self.settings.delivery_rule.startswith("Due date")
			and duedate
			and getdate(duedate) >= transaction_date
		):
			return getdate(duedate)
		return transaction_date + timedelta(days=self.settings.delivery_days or 0)

	def after_save(self, doc: Document, plan: DocumentPlan, resolver: Resolver) -> str | None:
		notes = []
		expected = flt(plan.meta.get("vtiger_total"))
		difference = flt(doc.grand_total) - expected
		if abs(difference) > 0.01:
			unmapped = sorted(
				row["vtiger_tax"]
				for row in plan.children.get("taxes", [])
				if row["vtiger_tax"] not in self.settings.tax_accounts
			)
			reason = (
				_("VTiger rows without an ERPNext tax account: {0}").format(", ".join(unmapped))
				if unmapped
				else _("rounding or ERPNext taxes")
			)
			notes.append(
				_("Grand total {0} differs from VTiger's total {1} by {2} ({3})").format(
					flt(doc.grand_total, 2), expected, flt(difference, 2), reason
				)
			)
		if plan.meta.get("total_mismatch"):
			notes.append(plan.meta["total_mismatch"])
		if plan.meta.get("vtiger_status") in self.settings.submit_statuses:
			doc.submit()
		return "; ".join(notes) or None


def link_contact_to_customer(contact: str, customer: str) -> None:
	"""VTiger lets an order name a contact of another account; ERPNext wants the order's contact linked to its
	customer. Add that link (a contact may belong to several customers) rather than drop VTiger's contact."""
	if frappe.db.exists(
		"Dynamic Link",
		{"parenttype": "Contact", "parent": contact, "link_doctype": "Customer", "link_name": customer},
	):
		return
	doc = frappe.get_doc("Contact", contact)
	doc.append("links", {"link_doctype": "Customer", "link_name": customer})
	doc.flags.ignore_permissions = True
	doc.save()


def _selling_default(fieldname: str) -> str:
	return (
		frappe.db.get_single_value("Selling Settings", fieldname)
		or {
			"customer_group": frappe.db.get_value("Customer Group", {"is_group": 0}, "name"),
			"territory": frappe.db.get_value("Territory", {"is_group": 0}, "name"),
		}[fieldname]
	)


def _item_group_default() -> str:
	return frappe.db.get_single_value("Stock Settings", "item_group") or frappe.db.get_value(
		"Item Group", {"is_group": 0}, "name"
	)


HANDLERS: dict[str, type[DocumentHandler]] = {
	"document": DocumentHandler,
	"customer": CustomerHandler,
	"contact": ContactHandler,
	"address": AddressHandler,
	"item": ItemHandler,
	"bank_account": BankAccountHandler,
	"sales_order": SalesOrderHandler,
}
