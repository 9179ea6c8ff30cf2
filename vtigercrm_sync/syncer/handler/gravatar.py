"""No Gravatar lookup for the Contacts a sync writes.

Frappe's ``Contact.validate`` asks gravatar.com, over HTTPS with a 5 s time-out, whether a contact with an e-mail
address and no image has an avatar there, on every save. Data Import skips that (``frappe.flags.in_import``): a
bulk load would wait on a web request per contact, and send a hash of each customer's e-mail address to a third
party. A sync is such a load, so a synced contact is saved as a Data Import one is, without the rest of what
``in_import`` turns off (defaults, select checks): ``before_validate`` fills its empty image with a marker that
``validate``, which Frappe runs right after the controller's own, takes out again. The saved contact has no image.
"""

from __future__ import annotations

from typing import Any

NO_LOOKUP = "vtigercrm-sync:no-gravatar"
"""Stands in for an empty image while ``Contact.validate`` runs; never saved."""


def hold_lookup(doc: Any, method: str | None = None) -> None:
	"""doc_events ``before_validate`` of Contact."""
	if doc.flags.vtiger_inbound and not doc.image:
		doc.flags.vtiger_image = doc.image
		doc.image = NO_LOOKUP


def release_image(doc: Any, method: str | None = None) -> None:
	"""doc_events ``validate`` of Contact: the image the contact had before :func:`hold_lookup`."""
	if doc.image == NO_LOOKUP:
		doc.image = doc.flags.vtiger_image
