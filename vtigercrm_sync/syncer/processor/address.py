"""Address: billing/shipping of an account, a contact's mailing address, an order's address snapshot.

An address that is entirely empty plans nothing. One that lacks what ERPNext requires (a first line and a city)
is skipped with a warning, so the record still syncs and the log says which address was left out and why.

A *snapshot* (``options.snapshot``: an order's billing or shipping address, copied into the order by VTiger) is
never the customer's preferred address, and the handler reuses an identical address of the customer for it. The
orders of one account usually repeat its address: a snapshot identical to one planned before reuses that plan under
its own id instead of being planned again.
"""

from __future__ import annotations

from vtigercrm_sync.config.spec import EntitySpec
from vtigercrm_sync.config.transforms import is_empty
from vtigercrm_sync.syncer.plan import Message
from vtigercrm_sync.syncer.processor.base import Draft, EntityProcessor, PlanContext, SkipEntity
from vtigercrm_sync.syncer.services.query import Bundle

ADDRESS_TYPES = (
	"Billing",
	"Shipping",
	"Office",
	"Personal",
	"Plant",
	"Postal",
	"Shop",
	"Subsidiary",
	"Warehouse",
	"Current",
	"Permanent",
	"Other",
)
ADDRESS_FIELDS = ("address_line1", "address_line2", "city", "state", "pincode", "country")
REQUIRED = ("address_line1", "city")
TITLE_LENGTH = 140


class AddressProcessor(EntityProcessor):
	def __init__(self, spec: EntitySpec, context: PlanContext):
		self.shares_content = bool(spec.options.get("snapshot"))
		super().__init__(spec, context)

	def adjust(self, draft: Draft, bundle: Bundle) -> None:
		values = draft.values
		if all(is_empty(values.get(f)) for f in ADDRESS_FIELDS):
			raise SkipEntity()
		for fieldname in REQUIRED:
			if is_empty(values.get(fieldname)):
				raise SkipEntity(
					Message("address left out: ERPNext needs {field} and VTiger has none", field=fieldname),
					fieldname,
				)
		if is_empty(values.get("country")):
			values["country"] = self.context.defaults.get("country")
		if values.get("address_type") not in ADDRESS_TYPES:
			values["address_type"] = "Other" if values.get("address_type") else "Billing"
		title = values.get("address_title") or values["address_line1"]
		values["address_title"] = " ".join(str(title).split())[:TITLE_LENGTH]
		if self.spec.options.get("snapshot"):
			values["is_primary_address"] = values["is_shipping_address"] = 0
			draft.meta["snapshot"] = True
