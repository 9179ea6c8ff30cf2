"""The handler of each target doctype: the ERPNext rules a plan alone cannot know."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import frappe
from erpnext.setup.utils import get_exchange_rate
from frappe import _
from frappe.model.document import Document
from frappe.utils import flt, getdate

from vtigercrm_sync.constants import VTIGER_ID_FIELD
from vtigercrm_sync.syncer.handler.amend import offer
from vtigercrm_sync.syncer.handler.base import (
	DocumentHandler,
	NoExchangeRate,
	Outcome,
	Resolver,
	TaxNotMapped,
)
from vtigercrm_sync.syncer.handler.guard import Refusal
from vtigercrm_sync.syncer.handler.naming import inbound_address_name
from vtigercrm_sync.syncer.plan import DocumentPlan
from vtigercrm_sync.syncer.setup.countries import erpnext_country

DEFAULT_UOM = "Nos"


class CustomerHandler(DocumentHandler):
	settings_fields = ("customer_group", "territory", "default_currency")

	def prepare(
		self, values: dict[str, Any], plan: DocumentPlan, resolver: Resolver, refusals: list[Refusal]
	) -> dict[str, Any]:
		values = super().prepare(values, plan, resolver, refusals)
		values["customer_group"] = (
			values.get("customer_group")
			or self.settings.customer_group
			or self.once(("customer_group",), lambda: _selling_default("customer_group"))
		)
		values["territory"] = (
			values.get("territory")
			or self.settings.territory
			or self.once(("territory",), lambda: _selling_default("territory"))
		)
		if self.settings.default_currency and not values.get("default_currency"):
			values["default_currency"] = self.settings.default_currency
		return values


class ContactHandler(DocumentHandler):
	pass


class AddressHandler(DocumentHandler):
	settings_fields = ("default_country",)
	reshapes = frozenset({"country"})

	def apply(self, plan: DocumentPlan, resolver: Resolver) -> Outcome:
		"""An order's address snapshot that equals an address of its customer is that address, not a copy."""
		if plan.meta.get("snapshot"):
			same = self.same_address_of_customer(plan, resolver)
			if same:
				resolver.remember(plan.doctype, plan.vtiger_id, same, self.stored_hash(plan))
				return Outcome("Skipped", same, repeat=True)
		outcome = super().apply(plan, resolver)
		if outcome.action in ("Created", "Updated"):
			resolver.forget()  # a customer's addresses changed
		return outcome

	def new_name(self, doc: Document) -> str | None:
		return inbound_address_name(doc)

	def same_address_of_customer(self, plan: DocumentPlan, resolver: Resolver) -> str | None:
		customer = next((link for link in plan.links if link.doctype == "Customer"), None)
		if customer is None:
			return None
		wanted = _address_key(self.prepare(dict(plan.values), plan, resolver, []))
		name = resolver.name_of(customer)
		candidates = resolver.memo(("addresses of", name), lambda: addresses_of_customer(name))
		return next((row.name for row in candidates if _address_key(row) == wanted), None)

	def prepare(
		self, values: dict[str, Any], plan: DocumentPlan, resolver: Resolver, refusals: list[Refusal]
	) -> dict[str, Any]:
		values = super().prepare(values, plan, resolver, refusals)
		values["country"] = self.country(values.get("country"), refusals)
		return values

	def country(self, value: str | None, refusals: list[Refusal]) -> str:
		"""An ERPNext Country for VTiger's free-text country (in any language), or the connection's default; a
		country that is not recognised is kept on the document and said."""
		found = self.once(("country", value), lambda: erpnext_country(value)) if value else None
		if found:
			return found
		if not self.settings.default_country:
			raise frappe.ValidationError(
				_("Country {0} is not an ERPNext country and the connection has no default country").format(
					frappe.bold(value or _("(empty)"))
				)
			)
		if value:
			refusals.append(
				Refusal(
					_("Country (country)"),
					value,
					_("not a country ERPNext knows; the connection's default {0} was used").format(
						self.settings.default_country
					),
				)
			)
		return self.settings.default_country


def addresses_of_customer(customer: str) -> list[Any]:
	"""The customer's enabled addresses, oldest first, with the fields that say two addresses are the same."""
	address = frappe.qb.DocType("Address")
	link = frappe.qb.DocType("Dynamic Link")
	return (
		frappe.qb.from_(address)
		.join(link)
		.on((link.parent == address.name) & (link.parenttype == "Address"))
		.select(address.name, *(address[f] for f in ADDRESS_KEY_FIELDS))
		.where((link.link_doctype == "Customer") & (link.link_name == customer) & (address.disabled == 0))
		.orderby(address.creation)
		.run(as_dict=True)
	)


class ItemHandler(DocumentHandler):
	"""Items of one connection are its own: VTiger's product numbers (``PRO1``) repeat across databases. An Item
	of ERPNext or of another connection is used only when the mapping's ``match`` names it explicitly."""

	settings_fields = ("item_group",)
	plan_settings = ("units",)

	def shaping(self, plan: DocumentPlan) -> dict[str, Any]:
		unit = (plan.values.get("stock_uom") or "").strip()
		return {**super().shaping(plan), "uom": self.settings.units.get(unit)}

	def apply(self, plan: DocumentPlan, resolver: Resolver) -> Outcome:
		shared = self.shared_item(plan)
		if shared:
			resolver.remember(plan.doctype, plan.vtiger_id, shared, self.stored_hash(plan))
			return Outcome(
				"Skipped",
				shared,
				_("matched by {0}; kept as its own connection writes it").format(", ".join(plan.match)),
			)
		return super().apply(plan, resolver)

	def shared_item(self, plan: DocumentPlan) -> str | None:
		"""An Item another connection synced that the mapping's explicit match names."""
		if not plan.match or frappe.db.exists("Item", {VTIGER_ID_FIELD: plan.vtiger_id}):
			return None
		found = frappe.db.get_value("Item", plan.match, ["name", VTIGER_ID_FIELD], as_dict=True)
		return found.name if found and found.get(VTIGER_ID_FIELD) else None

	def prepare(
		self, values: dict[str, Any], plan: DocumentPlan, resolver: Resolver, refusals: list[Refusal]
	) -> dict[str, Any]:
		values = super().prepare(values, plan, resolver, refusals)
		values["item_group"] = (
			values.get("item_group")
			or self.settings.item_group
			or self.once(("item_group",), _item_group_default)
		)
		values["stock_uom"] = uom_for(values.get("stock_uom"), self.settings.units)
		values.setdefault("include_item_in_manufacturing", 0)
		return values

	def fill(self, doc: Document, plan: DocumentPlan, resolver: Resolver, warnings: list[str]) -> None:
		super().fill(doc, plan, resolver, warnings)
		if doc.is_new():
			doc.item_code = _free_item_code(doc.item_code, plan.vtiger_id)
		elif doc.stock_uom != doc.get_db_value("stock_uom") and frappe.db.exists(
			"Stock Ledger Entry", {"item_code": doc.name, "is_cancelled": 0}
		):
			warnings.append(
				_("Default Unit of Measure {0} kept: {1} has stock transactions").format(
					doc.get_db_value("stock_uom"), doc.name
				)
			)
			doc.stock_uom = doc.get_db_value("stock_uom")


class BankAccountHandler(DocumentHandler):
	def prepare(
		self, values: dict[str, Any], plan: DocumentPlan, resolver: Resolver, refusals: list[Refusal]
	) -> dict[str, Any]:
		values = super().prepare(values, plan, resolver, refusals)
		bank = values.get("bank")
		if bank and not frappe.db.exists("Bank", bank):
			frappe.get_doc({"doctype": "Bank", "bank_name": bank}).insert(ignore_permissions=True)
		return values

	def fill(self, doc: Document, plan: DocumentPlan, resolver: Resolver, warnings: list[str]) -> None:
		"""ERPNext names a bank account "<account name> - <bank>": two customers' "Checking" at one bank would
		collide, so a new one that would is told apart by its customer (and, failing that, its VTiger id)."""
		super().fill(doc, plan, resolver, warnings)
		if not doc.is_new() or not doc.account_name or not doc.bank:
			return
		for name in (
			doc.account_name,
			f"{doc.account_name} ({doc.party})",
			f"{doc.account_name} ({plan.vtiger_id})",
		):
			if not frappe.db.exists("Bank Account", f"{name} - {doc.bank}"):
				doc.account_name = name
				return


class SalesOrderHandler(DocumentHandler):
	settings_fields = (
		"company",
		"selling_price_list",
		"default_currency",
		"delivery_rule",
		"delivery_days",
		"submit_statuses",
		"vtiger_base_currency",
	)
	plan_settings = ("tax_accounts", "units")
	version = 3

	def submitted(self, doc: Document, plan: DocumentPlan, resolver: Resolver, content_hash: str):
		return offer(self, doc, plan, resolver, content_hash)

	def locks_shared_rows(self, doc: Document) -> bool:
		"""A submitted order reserved its items' stock: their ``tabBin`` rows, which every order of the same
		items updates, stay locked until the group commits."""
		return doc.docstatus == 1

	def shaping(self, plan: DocumentPlan) -> dict[str, Any]:
		"""Only the tax accounts and units this order uses, so mapping a tax or a unit rewrites just the orders
		that carry it."""
		keys = {row["vtiger_tax"] for row in plan.children.get("taxes", [])}
		return {
			**super().shaping(plan),
			"tax_accounts": {k: v for k, v in self.settings.tax_accounts.items() if k in keys},
			"units": {unit: self.settings.units.get(unit) for unit in plan.meta.get("units") or ()},
		}

	def prepare(
		self, values: dict[str, Any], plan: DocumentPlan, resolver: Resolver, refusals: list[Refusal]
	) -> dict[str, Any]:
		values = super().prepare(values, plan, resolver, refusals)
		settings = self.settings
		values["company"] = settings.company
		values["ignore_pricing_rule"] = 1
		values["disable_rounded_total"] = 1  # VTiger's total is the total, to the cent
		if settings.selling_price_list:
			values["selling_price_list"] = settings.selling_price_list
		values["currency"] = values.get("currency") or settings.default_currency or self.company_currency
		values["delivery_date"] = self.delivery_date(
			getdate(values.get("transaction_date")), plan.meta.get("duedate")
		)
		return values

	def prepare_rows(
		self, table: str, rows: list[dict[str, Any]], values: dict[str, Any]
	) -> list[dict[str, Any]]:
		if table == "items":
			for row in rows:
				row.setdefault("delivery_date", values["delivery_date"])
				row["conversion_factor"] = 1
				if row.get("item_code"):
					row["uom"] = self.stock_uom(row["item_code"])
			return rows
		if table == "taxes":
			unmapped = [row for row in rows if row["vtiger_tax"] not in self.settings.tax_accounts]
			if unmapped:
				raise TaxNotMapped(
					", ".join(sorted({row["vtiger_tax"] for row in unmapped})),
					_(
						"VTiger applies {0} to this order and the connection maps no ERPNext account to it, so "
						"its total would be wrong: use Create Tax Accounts on the connection, or map the row "
						"under Tax Accounts, then retry"
					).format(
						", ".join(
							f"{row['description']} ({row['vtiger_tax']}) {row['tax_amount']}"
							for row in unmapped
						)
					),
				)
			return [
				{
					**row,
					"account_head": self.settings.tax_accounts[row["vtiger_tax"]][0],
					"description": self.settings.tax_accounts[row["vtiger_tax"]][1] or row["description"],
				}
				for row in rows
			]
		return rows

	def stock_uom(self, item_code: str) -> str | None:
		"""The Item's unit, one column read once per run and Item (``get_cached_value`` loaded and cached the
		whole Item, with its child tables, for each Item an order names). Items are written before the orders
		that name them (the Linked stage, or earlier in the record), so a run reads each Item's final unit."""
		return self.once(
			("stock_uom", item_code), lambda: frappe.db.get_value("Item", item_code, "stock_uom")
		)

	def fill(self, doc: Document, plan: DocumentPlan, resolver: Resolver, warnings: list[str]) -> None:
		super().fill(doc, plan, resolver, warnings)
		if plan.meta.get("vtiger_status") in self.settings.submit_statuses:
			doc.docstatus = 1  # submitted by the save that writes it: ERPNext validates it once, not twice
		doc.flags.vtiger_notes = []
		doc.conversion_rate = self.conversion_rate(doc, plan.meta.get("vtiger_conversion_rate"))
		for row, unit in zip(doc.items, plan.meta.get("units") or [], strict=False):
			self.fit_fraction(row, unit, warnings)
		if doc.get("contact_person") and doc.get("customer"):
			link_contact_to_customer(doc.contact_person, doc.customer)
		self.match_vtiger_total(doc, flt(plan.meta.get("vtiger_total")))

	@property
	def company_currency(self) -> str:
		return frappe.get_cached_value("Company", self.settings.company, "default_currency")

	def conversion_rate(self, doc: Document, vtiger_rate: Decimal | None) -> float:
		"""Company-currency units per order-currency unit. VTiger stores the inverse against its base currency:
		usable when that is the company's currency; otherwise ERPNext's own exchange rates decide."""
		company_currency = self.company_currency
		if doc.currency == company_currency:
			return 1.0
		base = self.settings.vtiger_base_currency or company_currency
		if base == company_currency and vtiger_rate:
			return 1 / flt(vtiger_rate)
		rate = get_exchange_rate(doc.currency, company_currency, doc.transaction_date, "for_selling")
		if not rate:
			raise NoExchangeRate(
				f"{doc.currency}→{company_currency}",
				_(
					"ERPNext has no exchange rate from {0} to {1} on {2} (VTiger's base currency is {3}): "
					"add a Currency Exchange, then retry"
				).format(doc.currency, company_currency, doc.transaction_date, base),
			)
		doc.flags.vtiger_notes.append(
			_(
				"conversion rate {0} {1}→{2} from ERPNext's exchange rates (VTiger's base currency is {3})"
			).format(rate, doc.currency, company_currency, base)
		)
		return flt(rate)

	def fit_fraction(self, row: Document, unit: str, warnings: list[str]) -> None:
		"""A fractional VTiger quantity in a whole-number UOM lands as one line of its amount, the quantity kept
		in the description: the order and its total land, and nothing is rounded away."""
		qty = flt(row.qty)
		if (
			qty == int(qty)
			or not row.uom
			or not frappe.get_cached_value("UOM", row.uom, "must_be_whole_number")
		):
			return
		amount = flt(row.rate) * qty
		note = _("{0} {1} × {2}").format(qty, unit or row.uom, flt(row.rate))
		row.description = f"{note}: {row.description or row.item_name}"
		row.qty, row.rate, row.price_list_rate = 1, amount, amount
		row.discount_percentage = row.discount_amount = 0
		warnings.append(
			_(
				"line {0}: quantity {1} is a fraction and UOM {2} counts whole units, so it is written as 1 × {3} "
				"with the quantity in its description; map {4} to a UOM that allows fractions to keep quantities"
			).format(row.idx, qty, row.uom, amount, unit or row.uom)
		)

	def match_vtiger_total(self, doc: Document, target: float) -> None:
		"""Make the grand total VTiger's total, rounded half up, to the cent, while every row VTiger computed
		keeps VTiger's amount. ERPNext rounds each rate and amount to the cent where VTiger does not (a list
		price of 46.595 becomes 46.60, as many times as the quantity); those cents, at most half a cent per unit
		and one per row, go on one row, "Rounding to VTiger's total", on the company's Round Off account. A
		larger difference is not rounding, and is said on the log line."""
		if target < 0:
			raise frappe.ValidationError(
				_(
					"VTiger's total for this order is {0} (its discount exceeds what it sells), and ERPNext keeps no "
					"Sales Order with a negative total: correct the order in VTiger"
				).format(target)
			)
		doc.calculate_taxes_and_totals()
		cents = round((target - flt(doc.grand_total)) * 100)
		rounding = sum(abs(flt(item.qty)) for item in doc.items) / 2 + len(doc.items) + len(doc.taxes) + 1
		if cents and abs(cents) <= rounding:
			self.add_round_off_row(doc, _("Rounding to VTiger's total"), "rounding", cents / 100)
			doc.calculate_taxes_and_totals()

	def add_round_off_row(self, doc: Document, description: str, key: str, amount: float) -> None:
		doc.append(
			"taxes",
			{
				"charge_type": "Actual",
				"account_head": frappe.get_cached_value("Company", doc.company, "round_off_account"),
				"description": description,
				"vtiger_tax": key,
				"tax_amount": flt(amount, 2),
			},
		)

	def delivery_date(self, transaction_date: date, duedate: date | None) -> date:
		if (
			self.settings.delivery_rule.startswith("Due date")
			and duedate
			and getdate(duedate) >= transaction_date
		):
			return getdate(duedate)
		return transaction_date + timedelta(days=self.settings.delivery_days or 0)

	def after_save(self, doc: Document, plan: DocumentPlan, resolver: Resolver) -> str | None:
		notes = list(doc.flags.vtiger_notes or [])
		expected = flt(plan.meta.get("vtiger_total"))
		difference = flt(doc.grand_total) - expected
		if abs(difference) >= 0.005:
			notes.append(
				_("Grand total {0} differs from VTiger's total {1} by {2}").format(
					flt(doc.grand_total, 2), expected, flt(difference, 2)
				)
			)
		if plan.meta.get("total_mismatch"):
			notes.append(plan.meta["total_mismatch"].translated(_))
		return "; ".join(notes) or None


def link_contact_to_customer(contact: str, customer: str) -> None:
	"""VTiger lets an order name a contact of another account; ERPNext wants the order's contact linked to its
	customer. Add that link (a contact may belong to several customers) rather than drop VTiger's contact: one
	Dynamic Link row between two documents that exist, without loading and saving the whole contact."""
	links = frappe.get_all(
		"Dynamic Link",
		filters={"parenttype": "Contact", "parent": contact, "parentfield": "links"},
		fields=["link_doctype", "link_name", "idx"],
	)
	if any((row.link_doctype, row.link_name) == ("Customer", customer) for row in links):
		return
	frappe.get_doc(
		{
			"doctype": "Dynamic Link",
			"parenttype": "Contact",
			"parentfield": "links",
			"parent": contact,
			"idx": max((row.idx for row in links), default=0) + 1,
			"link_doctype": "Customer",
			"link_name": customer,
		}
	).db_insert()


ADDRESS_KEY_FIELDS = ("address_line1", "address_line2", "city", "state", "pincode", "country")


def _address_key(values: Any) -> tuple[str, ...]:
	"""What makes two addresses the same place: their lines, city, state, postcode and country, compared without
	case or repeated spaces."""
	return tuple(" ".join(str(values.get(f) or "").split()).casefold() for f in ADDRESS_KEY_FIELDS)


def uom_for(unit: str | None, units: dict[str, str]) -> str:
	"""The ERPNext UOM of a VTiger usage unit: the connection's mapping, a UOM of the same name, or a new UOM of
	that name (fractions allowed, as VTiger allows them); a product without a unit counts in Nos."""
	unit = (unit or "").strip()
	if not unit:
		return DEFAULT_UOM
	if units.get(unit):
		return units[unit]
	existing = frappe.db.get_value("UOM", unit, "name")
	if existing:
		return existing
	frappe.get_doc({"doctype": "UOM", "uom_name": unit, "must_be_whole_number": 0}).insert(
		ignore_permissions=True
	)
	return unit


def _free_item_code(code: str, vtiger_id: str) -> str:
	"""VTiger's product number, or, when another Item already has it (another connection's ``PRO1``), the number
	with this connection's prefix, so each connection's items stay its own."""
	if not frappe.db.exists("Item", code) and not frappe.db.exists("Item", {"item_code": code}):
		return code
	prefix = vtiger_id.rpartition("/")[0] or "vtiger"
	return f"{code}-{prefix}"


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
