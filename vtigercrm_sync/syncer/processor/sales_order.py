"""Sales Order and the Items its lines need.

VTiger's totals follow its own arithmetic (shared/vtiger/README.md, section 3): line discounts, then either
per-line ("individual") or order-level ("group") taxes, an overall discount, shipping & handling with its own tax,
and a signed adjustment. The plan carries each line's net rate and, as ``Actual`` tax rows, every amount ERPNext
must add on top of the discounted net total, so the handler can reproduce VTiger's grand total exactly once the
connection maps each row to an ERPNext account.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from vtigercrm_sync.config.transforms import is_empty
from vtigercrm_sync.syncer.plan import Message
from vtigercrm_sync.syncer.processor.base import Draft, EntityProcessor, FieldError, SkipEntity
from vtigercrm_sync.syncer.services.catalog import DEFAULT_TAXES, TaxDefinition
from vtigercrm_sync.syncer.services.query import Bundle

ZERO = Decimal(0)
CENT = Decimal("0.01")
SHIPPING = "shipping"
ADJUSTMENT = "adjustment"
ITEM_MODULES = {"Products": 1, "Services": 0}
"""VTiger module of a line's item -> ERPNext ``is_stock_item``."""


def _dec(value: Any) -> Decimal:
	if value.__class__ is Decimal:
		return value
	if is_empty(value):
		return ZERO
	return Decimal(str(value))


def _money(value: Decimal) -> Decimal:
	"""Rounded half up to the cent, as VTiger's UI shows an amount (917.325 is 917.33)."""
	return value.quantize(CENT, ROUND_HALF_UP)


def line_net(line: Mapping[str, Any]) -> Decimal:
	"""Quantity times list price less the line discount (an amount wins over a percent, as in VTiger)."""
	gross = _dec(line.get("quantity")) * _dec(line.get("listprice"))
	amount = _dec(line.get("discount_amount"))
	discount = amount if amount > 0 else gross * _dec(line.get("discount_percent")) / 100
	return gross - discount


def shipping_taxes(charges: str | None, keys: Mapping[int, str] | None = None) -> dict[str, Decimal]:
	"""Each tax on shipping & handling from the charges JSON (``{"1":{"value":"10","taxes":{"1":"4.5"}}}``, taxes
	keyed by ``vtiger_shippingtaxinfo.taxid``), by the tax's name (``shtax1``)."""
	if is_empty(charges):
		return {}
	try:
		parsed = json.loads(charges)
	except ValueError:
		raise FieldError("charges", Message("the shipping & handling charges are not valid JSON"))
	keys = keys or {}
	amounts: dict[str, Decimal] = {}
	for charge in parsed.values() if isinstance(parsed, dict) else ():
		value = _dec(charge.get("value"))
		for taxid, percent in (charge.get("taxes") or {}).items():
			key = keys.get(int(taxid), f"shtax{taxid}") if str(taxid).isdigit() else str(taxid)
			amounts[key] = amounts.get(key, ZERO) + value * _dec(percent) / 100
	return {key: amount for key, amount in amounts.items() if amount}


def order_totals(
	order: Mapping[str, Any],
	lines: list[Mapping[str, Any]],
	nets: list[Decimal] | None = None,
	taxes: Iterable[TaxDefinition] = DEFAULT_TAXES,
) -> dict[str, Any]:
	"""Recompute VTiger's totals from the lines and return the amounts ERPNext needs."""
	taxes = tuple(taxes)
	tax_columns = [tax.key for tax in taxes if not tax.shipping]
	nets = nets if nets is not None else [line_net(line) for line in lines]
	individual = (order.get("taxtype") or "").strip().lower() == "individual"
	net_total = sum(nets, ZERO)
	if individual:
		line_taxes = {
			col: sum((n * _dec(line.get(col)) / 100 for n, line in zip(nets, lines, strict=True)), ZERO)
			for col in tax_columns
		}
		subtotal = net_total + sum(line_taxes.values(), ZERO)
	else:
		subtotal = net_total
	discount_amount = _dec(order.get("discount_amount"))
	discount = (
		discount_amount if discount_amount > 0 else subtotal * _dec(order.get("discount_percent")) / 100
	)
	if not individual:
		first = lines[0] if lines else {}
		line_taxes = {col: (net_total - discount) * _dec(first.get(col)) / 100 for col in tax_columns}
	shipping = _dec(order.get("s_h_amount"))
	sh_taxes = shipping_taxes(order.get("charges"), {tax.taxid: tax.key for tax in taxes if tax.shipping})
	sh_tax = sum(sh_taxes.values(), ZERO)
	adjustment = _dec(order.get("adjustment"))
	total = net_total + sum(line_taxes.values(), ZERO) - discount + shipping + sh_tax + adjustment
	return {
		"taxtype": "individual" if individual else "group",
		"net_total": net_total,
		"subtotal": subtotal,
		"discount": discount,
		"taxes": {col: amount for col, amount in line_taxes.items() if amount},
		"shipping": shipping,
		"shipping_taxes": sh_taxes,
		"shipping_tax": sh_tax,
		"adjustment": adjustment,
		"total": total,
	}


class SalesOrderProcessor(EntityProcessor):
	cacheable = False

	def adjust(self, draft: Draft, bundle: Bundle) -> None:
		order = bundle.parts["salesorder"]
		lines = bundle.lines
		if not lines:
			raise FieldError("items", Message("the order has no line items"))
		mapped = draft.children.get("items") or [{} for _ in lines]
		nets = [line_net(line) for line in lines]
		draft.children["items"] = [
			self._item_row(index, line, mapped[index - 1], net)
			for index, (line, net) in enumerate(zip(lines, nets, strict=True), 1)
		]
		totals = order_totals(order, lines, nets, self.context.taxes)
		draft.children["taxes"] = _tax_rows(totals, self.context.taxes)
		# Always carried, so a discount removed in VTiger is removed in ERPNext.
		draft.values["discount_amount"] = _money(totals["discount"])
		draft.values["additional_discount_percentage"] = ZERO
		draft.values["apply_discount_on"] = "Net Total"
		if is_empty(draft.values.get("currency")) and order.get("currency_code"):
			draft.values["currency"] = order["currency_code"]
		stored_total = _dec(order.get("total"))
		draft.meta.update(
			vtiger_total=_money(stored_total),
			computed_total=_money(totals["total"]),
			taxtype=totals["taxtype"],
			vtiger_status=order.get("sostatus") or "",
			duedate=order.get("duedate"),
			vtiger_conversion_rate=_dec(order.get("conversion_rate")) or Decimal(1),
			units=[line.get("usageunit") or "" for line in lines],
		)
		if abs(stored_total - totals["total"]) > CENT:
			draft.meta["total_mismatch"] = Message(
				"VTiger's stored total {stored} differs from its line arithmetic {computed}",
				stored=_money(stored_total),
				computed=_money(totals["total"]),
			)

	def _item_row(
		self, index: int, line: Mapping[str, Any], mapped: dict[str, Any], net: Decimal
	) -> dict[str, Any]:
		if line.get("item_type") is None:
			raise FieldError(
				f"items[{index}].item_code",
				Message(
					"line {line} refers to VTiger product/service #{product}, which does not exist",
					line=index,
					product=line.get("productid"),
				),
			)
		if is_empty(line.get("item_no")):
			template = (
				"line {line}'s service has no number in VTiger"
				if line["item_type"] == "Services"
				else "line {line}'s product has no number in VTiger"
			)
			raise FieldError(f"items[{index}].item_code", Message(template, line=index))
		qty = _dec(line.get("quantity"))
		price = _dec(line.get("listprice"))
		rate = net / qty if qty else price
		row = dict(mapped)
		row.update(
			qty=qty,
			price_list_rate=price,
			rate=rate.quantize(Decimal("0.000001")),
			discount_amount=(price - rate).quantize(Decimal("0.000001")),
			discount_percentage=_dec(line.get("discount_percent"))
			if not _dec(line.get("discount_amount"))
			else ZERO,
			vtiger_line=index,
		)
		return row


def _tax_rows(totals: Mapping[str, Any], taxes: Iterable[TaxDefinition]) -> list[dict[str, Any]]:
	"""Everything added on top of the discounted net total, one ``Actual`` row each, keyed by VTiger's name for it
	(``tax1``, ``shipping``, ``shtax1``, ``adjustment``) so the connection can map each to an ERPNext account."""
	labels = {tax.key: tax.label for tax in taxes}
	amounts = [(key, labels.get(key, key), amount) for key, amount in totals["taxes"].items()]
	amounts.append((SHIPPING, "Shipping & Handling", totals["shipping"]))
	amounts += [
		(key, f"{labels.get(key, key)} on Shipping & Handling", amount)
		for key, amount in totals["shipping_taxes"].items()
	]
	amounts.append((ADJUSTMENT, "Adjustment", totals["adjustment"]))
	return [
		{"vtiger_tax": key, "charge_type": "Actual", "description": label, "tax_amount": _money(amount)}
		for key, label, amount in amounts
		if _money(amount)
	]


class ItemProcessor(EntityProcessor):
	"""One Item per product or service a line uses; the order reports lines whose item is missing."""

	row_columns = frozenset({"item_type"})

	def adjust(self, draft: Draft, bundle: Bundle) -> None:
		module = draft.row.get("item_type")
		if module not in ITEM_MODULES or is_empty(draft.values.get("item_code")):
			raise SkipEntity()
		draft.values["is_stock_item"] = ITEM_MODULES[module]
		if is_empty(draft.values.get("item_name")):
			draft.values["item_name"] = draft.values["item_code"]
		draft.meta["vtiger_module"] = module
