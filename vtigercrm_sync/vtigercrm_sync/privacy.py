"""A personal data deletion request reaches what the sync stored: SSNs and card data.

Bank Cards are redacted by Frappe itself (``user_data_fields`` in hooks.py, by the e-mail of the card's
customer). A Contact is redacted and renamed by Frappe's own entry, which replaces its e-mail by the request's
name; the SSN fields the app added are cleared here once the request is carried out, and the encrypted copies
Frappe's redaction cannot reach (``__Auth``) of both go too.

The redacted documents keep their ``vtiger_id`` but carry :data:`ERASED_HASH`, so no later pull writes VTiger's
values (the name, e-mail, SSN, birth date) back into them: the record must be erased in VTiger as well.
"""

import frappe

from vtigercrm_sync.constants import (
	BANK_CARD_DOCTYPE,
	ERASED_HASH,
	PULLED_FIELD,
	VTIGER_HASH_FIELD,
	VTIGER_ID_FIELD,
)

REDACTED = "[REDACTED]"
"""What Frappe writes into a redacted Data field (PersonalDataDeletionRequest.anonymization_value_map)."""
CONTACT_PERSONAL_FIELDS = (
	"vtiger_ssn",
	"vtiger_ssn_last4",
	"vtiger_birth_date",
	"vtiger_member_id",
	"vtiger_document",
)


def forget_redacted_secrets(doc, method=None) -> None:
	"""``on_change`` of a Personal Data Deletion Request: once it is Deleted, clear what is left."""
	if doc.status != "Deleted":
		return
	contacts = frappe.get_all("Contact", filters={"email_id": doc.name}, pluck="name")
	for name in contacts:
		frappe.db.set_value("Contact", name, dict.fromkeys(CONTACT_PERSONAL_FIELDS), update_modified=False)
	cards = frappe.get_all(BANK_CARD_DOCTYPE, filters={"card_last4": REDACTED}, pluck="name")
	addresses = frappe.get_all("Address", filters={"email_id": doc.name}, pluck="name")
	for doctype, names in (("Contact", contacts), (BANK_CARD_DOCTYPE, cards), ("Address", addresses)):
		for name in names:
			if frappe.db.get_value(doctype, name, VTIGER_ID_FIELD):
				frappe.db.set_value(doctype, name, VTIGER_HASH_FIELD, ERASED_HASH, update_modified=False)
			if frappe.get_meta(doctype).has_field(
				PULLED_FIELD
			):  # VTiger's names, e-mails, birth date as pulled
				frappe.db.set_value(doctype, name, PULLED_FIELD, None, update_modified=False)
	for doctype, fieldname, names in (
		("Contact", "vtiger_ssn", contacts),
		(BANK_CARD_DOCTYPE, "card_number", cards),
	):
		if names:
			frappe.db.delete("__Auth", {"doctype": doctype, "fieldname": fieldname, "name": ("in", names)})
