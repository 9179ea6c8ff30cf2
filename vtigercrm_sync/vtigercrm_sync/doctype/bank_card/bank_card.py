# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

from __future__ import annotations

import re

import frappe
from frappe import _
from frappe.model.document import Document


class BankCard(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		billing_address_line1: DF.Data | None
		billing_address_line2: DF.Data | None
		billing_zip: DF.Data | None
		brand: DF.Data | None
		card_last4: DF.Data | None
		card_number: DF.Password | None
		card_type: DF.Literal["", "Debit", "Credit", "Other"]
		customer: DF.Link
		customer_email: DF.Data | None
		expiry_month: DF.Int
		expiry_year: DF.Int
		holder_name: DF.Data | None
		masked_number: DF.Data | None
		vtiger_hash: DF.Data | None
		vtiger_id: DF.Data | None

	# end: auto-generated types
	def validate(self):
		self.validate_last4()
		self.validate_masked_number()
		self.validate_expiry()

	def validate_last4(self):
		if self.card_last4 and not re.fullmatch(r"\d{4}", self.card_last4):
			frappe.throw(_("{0} must be exactly four digits").format(frappe.bold(_("Last 4 Digits"))))

	def validate_masked_number(self):
		"""A masked number shows at most the last four digits, so the full number never lands in a plain field."""
		if len(re.sub(r"\D", "", self.masked_number or "")) > 4:
			frappe.throw(
				_("{0} may show at most four digits; the full number goes in {1} only").format(
					frappe.bold(_("Masked Number")), frappe.bold(_("Card Number"))
				)
			)

	def validate_expiry(self):
		if self.expiry_month and not 1 <= self.expiry_month <= 12:
			frappe.throw(
				_("{0} {1} is not between 1 and 12").format(frappe.bold(_("Expiry Month")), self.expiry_month)
			)
