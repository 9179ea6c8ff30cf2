"""Contact: a VTiger contact, or a member of a household policy (owner, spouse, dependents).

ERPNext keeps e-mails and phones in child tables and derives ``email_id``/``phone``/``mobile_no`` from the rows
marked primary, so the processor moves mapped values into those tables. Both tables are always planned, so an
e-mail or phone removed in VTiger is removed in ERPNext. Whether ERPNext accepts an address or a number is the
handler's call (``syncer/handler/guard.py``): a value it refuses is set aside on the document, not the contact.
"""

from __future__ import annotations

from vtigercrm_sync.config.transforms import is_empty
from vtigercrm_sync.syncer.plan import Message
from vtigercrm_sync.syncer.processor.base import Draft, EntityProcessor, FieldError
from vtigercrm_sync.syncer.services.query import Bundle

EMAIL_FIELDS = ("email_id", "secondary_email")
PHONE_FIELDS = {"phone": "is_primary_phone", "mobile_no": "is_primary_mobile_no", "other_phone": None}


class ContactProcessor(EntityProcessor):
	consumed_fields = frozenset({*EMAIL_FIELDS, *PHONE_FIELDS})
	reshapes = frozenset({"first_name", "last_name", *consumed_fields})

	def adjust(self, draft: Draft, bundle: Bundle) -> None:
		values = draft.values
		first, last = values.get("first_name"), values.get("last_name")
		if is_empty(first) and is_empty(last):
			raise FieldError("first_name", Message("the contact has neither a first nor a last name"))
		if is_empty(first):
			values["first_name"], values["last_name"] = last, None
		emails = []
		for fieldname in EMAIL_FIELDS:
			email = values.pop(fieldname, None)
			if is_empty(email):
				continue
			if email not in (row["email_id"] for row in emails):
				emails.append({"email_id": email, "is_primary": 0 if emails else 1})
		phones = []
		for fieldname, primary_flag in PHONE_FIELDS.items():
			phone = values.pop(fieldname, None)
			if is_empty(phone):
				continue
			row = {"phone": phone, "is_primary_phone": 0, "is_primary_mobile_no": 0}
			if primary_flag:
				row[primary_flag] = 1
			phones.append(row)
		draft.children["email_ids"] = emails
		draft.children["phone_nos"] = phones
