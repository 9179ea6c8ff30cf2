"""Customer: a VTiger account, or the owner of a household policy."""

from __future__ import annotations

from vtigercrm_sync.config.transforms import is_empty
from vtigercrm_sync.syncer.plan import Message
from vtigercrm_sync.syncer.processor.base import REQUIRED, Draft, EntityProcessor, FieldError
from vtigercrm_sync.syncer.services.query import Bundle

CUSTOMER_TYPES = ("Company", "Individual", "Partnership")
NAME_LENGTH = 140


class CustomerProcessor(EntityProcessor):
	def adjust(self, draft: Draft, bundle: Bundle) -> None:
		values = draft.values
		name = values.get("customer_name")
		if is_empty(name):
			raise FieldError("customer_name", Message(REQUIRED))
		values["customer_name"] = " ".join(str(name).split())[:NAME_LENGTH]
		if "customer_name" in draft.match:
			draft.match["customer_name"] = values["customer_name"]
		customer_type = values.get("customer_type") or self.spec.options.get("customer_type", "Company")
		if customer_type not in CUSTOMER_TYPES:
			raise FieldError(
				"customer_type", Message("must be one of {choices}", choices=", ".join(CUSTOMER_TYPES))
			)
		values["customer_type"] = customer_type
