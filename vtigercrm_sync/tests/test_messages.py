"""Messages the Desk shows: figures written as people write them, in the user's language."""

from __future__ import annotations

from decimal import Decimal

import frappe
from frappe.tests.utils import FrappeTestCase

from vtigercrm_sync.syncer.services.catalog import TaxDefinition, VTigerCatalog
from vtigercrm_sync.syncer.setup.tax_accounts import tax_rows_needed

CATALOG = VTigerCatalog(
	{},
	{},
	taxes=(
		TaxDefinition("tax1", 1, "VAT", Decimal("7.500")),
		TaxDefinition("tax2", 2, "Sales", Decimal("10.000")),
		TaxDefinition("shtax2", 2, "Sales", Decimal("10.000"), shipping=True),
	),
)
"""VTiger keeps percentages as decimal(7,3)."""


class TestMessages(FrappeTestCase):
	def test_tax_labels_show_plain_percentages(self):
		labels = tax_rows_needed(CATALOG)
		self.assertEqual(labels["tax1"], "VAT (7.5 %)")
		self.assertEqual(labels["tax2"], "Sales (10 %)")
		self.assertEqual(labels["shtax2"], "Sales on Shipping & Handling (10 %)")

	def test_the_spanish_translation_applies(self):
		self.addCleanup(setattr, frappe.local, "lang", frappe.local.lang)
		frappe.local.lang = "es"
		self.assertEqual(tax_rows_needed(CATALOG)["shtax2"], "Sales sobre Envío y Manipulación (10 %)")
