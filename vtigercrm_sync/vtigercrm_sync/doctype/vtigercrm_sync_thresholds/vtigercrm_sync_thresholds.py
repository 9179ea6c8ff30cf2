# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

import frappe
from frappe import _
from frappe.model.document import Document

CARDS = ("waiting", "failed_pushes", "conflicts", "changed_orders", "totals_differ")
"""The workspace's cards with thresholds (``number_cards.py``): each has a ``<card>_yellow`` and ``<card>_red``."""


class VTigerCRMSyncThresholds(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		changed_orders_red: DF.Int
		changed_orders_yellow: DF.Int
		conflicts_red: DF.Int
		conflicts_yellow: DF.Int
		failed_pushes_red: DF.Int
		failed_pushes_yellow: DF.Int
		totals_differ_red: DF.Int
		totals_differ_yellow: DF.Int
		waiting_red: DF.Int
		waiting_yellow: DF.Int
	# end: auto-generated types

	def validate(self):
		"""A card turns yellow before it turns red."""
		for card in CARDS:
			yellow, red = self.get(f"{card}_yellow"), self.get(f"{card}_red")
			if yellow and red and red < yellow:
				frappe.throw(
					_("{0}: Red From ({1}) is below Yellow From ({2})").format(
						_(self.meta.get_field(f"{card}_section").label), red, yellow
					)
				)
