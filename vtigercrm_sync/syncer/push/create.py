"""New Customers made in ERPNext become VTiger Accounts (with their primary Contact and Address), when a connection
opts in with *Create New Customers in VTiger*.

The values come from the mapping's own pushed fields, read backwards (the customer entity's, the billing address
entity that sets ``customer_primary_address``, and the contact entity of VTiger's Contacts), so a new Account holds
exactly what a pull of it would bring back. VTiger's ``create`` gives the record its number (``ACC…``); the
documents then get their VTiger ids and are synced like any other from the next pull on.

A row is sent again when its drain died or failed after VTiger created the Account: before calling VTiger, each
attempt commits on the row the first id a create may get (the first attempt's is kept) and the name it sends, and
a resend first looks from that id on for an Account of that name and its Contact, made by the web service user
and not linked yet (``services/created.py``), and links them instead of creating.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import frappe
from frappe import _
from frappe.utils import cint
from sqlalchemy.orm import Session

from vtigercrm_sync.config.spec import EntitySpec, MappingConfig
from vtigercrm_sync.constants import (
	ACTION_PUSHED,
	CONNECTION_FIELD,
	MODULE_FIELD,
	OUTBOX_DOCTYPE,
	SETTING_DOCTYPE,
	VTIGER_ID_FIELD,
)
from vtigercrm_sync.database.unit_of_work import SqlAlchemyUnitOfWork
from vtigercrm_sync.syncer.services.created import Made, accounts_made, contacts_made, highest_id
from vtigercrm_sync.syncer.services.reverse import same_value, vtiger_text


def connection_for_new_customers() -> str | None:
	"""The connection that creates new Customers in VTiger: the oldest enabled one that opts in."""
	found = frappe.get_all(
		SETTING_DOCTYPE,
		filters={"enabled": 1, "push_new_customers": 1},
		order_by="creation asc",
		pluck="name",
		limit=1,
	)
	return found[0] if found else None


def customer_entities(
	mapping: MappingConfig,
) -> tuple[EntitySpec | None, EntitySpec | None, EntitySpec | None]:
	"""The mapping's Account customer, its primary (billing) address and VTiger's Contacts contact."""
	customer = next(
		(e for e in mapping.entities if e.doctype == "Customer" and e.module == "Accounts" and not e.role),
		None,
	)
	address = next(
		(
			e
			for e in mapping.entities
			if customer
			and e.doctype == "Address"
			and e.source == customer.source
			and any(
				link.kind == "primary" and link.fieldname == "customer_primary_address" for link in e.links
			)
		),
		None,
	)
	contact = next((e for e in mapping.entities if e.doctype == "Contact" and e.module == "Contacts"), None)
	return customer, address, contact


def element_of(entity: EntitySpec, doc: Any) -> dict[str, str]:
	"""The VTiger fields of ``entity``'s pushed fields, from ``doc``; empty values are left out."""
	element = {}
	for spec in entity.pushed:
		text = vtiger_text(spec, doc.get(spec.target))
		if text:
			element[spec.sources[0]] = text
	return element


def create_account(pusher: Any, row: Any, customer: Any) -> list[tuple[str, str]]:
	"""Create the Account (and Contact) in VTiger for ``customer``, or link those an earlier attempt of ``row``
	created; returns the log lines."""
	if customer.get(VTIGER_ID_FIELD):
		return [
			(ACTION_PUSHED, _("Already linked to VTiger record {0}").format(customer.get(VTIGER_ID_FIELD)))
		]
	connection, client = pusher.connection, pusher.client
	mapping = pusher.mapping()
	account_entity, address_entity, contact_entity = customer_entities(mapping)
	if account_entity is None:
		raise frappe.ValidationError(_("The mapping writes no Customer from VTiger Accounts"))
	element = element_of(account_entity, customer)
	address = customer.customer_primary_address and frappe.get_doc(
		"Address", customer.customer_primary_address
	)
	if address and address_entity:
		element.update(element_of(address_entity, address))
	owner = client.user_id or client.login()  # VTiger assigns the record to the web service user
	creator, prefix = client.crmid_of(owner), connection.id_prefix or ""
	ids_from, sent = _earlier_attempt(pusher, row, element.get("accountname") or "")
	earlier = ids_from and _unlinked(
		"Customer", prefix, lambda s: accounts_made(s, ids_from, creator, sent), pusher
	)
	if earlier:
		account = {"id": client.ws_id("Accounts", earlier.crmid), "account_no": earlier.number}
		_bring_up_to_date(client, account["id"], element)
		lines = [
			(ACTION_PUSHED, _("Linked VTiger Account {0}, made by an earlier attempt").format(earlier.number))
		]
	else:
		account = client.create("Accounts", {**element, "assigned_user_id": owner})
		number = account.get("account_no") or account["id"]
		lines = [(ACTION_PUSHED, _("Created VTiger Account {0}").format(number))]
	crmid = client.crmid_of(account["id"])
	_link(customer, f"{prefix}{crmid}", connection.name, "Accounts", account.get("account_no"))
	if address and address_entity:
		_link(address, f"{prefix}{crmid}:{address_entity.role_id}", connection.name, "Accounts")
	person = customer.customer_primary_contact and frappe.get_doc(
		"Contact", customer.customer_primary_contact
	)
	if person and contact_entity and not person.get(VTIGER_ID_FIELD):
		values = element_of(contact_entity, person)
		if not values.get("lastname"):  # VTiger requires a last name; ERPNext does not
			values["lastname"] = values.pop("firstname", None) or customer.customer_name
		made = earlier and _unlinked(
			"Contact", prefix, lambda s: contacts_made(s, ids_from, creator, crmid), pusher
		)
		if made:
			created = {"id": client.ws_id("Contacts", made.crmid), "contact_no": made.number}
			_bring_up_to_date(client, created["id"], values)
			lines.append(
				(
					ACTION_PUSHED,
					_("Linked VTiger Contact {0}, made by an earlier attempt").format(made.number),
				)
			)
		else:
			created = client.create(
				"Contacts", {**values, "account_id": account["id"], "assigned_user_id": owner}
			)
			number = created.get("contact_no") or created["id"]
			lines.append((ACTION_PUSHED, _("Created VTiger Contact {0}").format(number)))
		_link(
			person,
			f"{prefix}{client.crmid_of(created['id'])}",
			connection.name,
			"Contacts",
			created.get("contact_no"),
		)
	pusher.echo.record(frappe.get_doc("Customer", customer.name), "Accounts")
	return lines


def _earlier_attempt(pusher: Any, row: Any, name: str) -> tuple[int, str]:
	"""Note on ``row``, committed before VTiger is called, the Account name sent and (on the first attempt) the
	first id a create may get. Returns that id and the name as an earlier attempt noted them (0 and ``name`` on
	the first): whatever that attempt created, VTiger numbered from there."""
	noted = frappe.db.get_value(OUTBOX_DOCTYPE, row.name, ["vtiger_ids_from", "sent_name"], as_dict=True)
	first = cint(noted.vtiger_ids_from)
	if not first:
		with SqlAlchemyUnitOfWork(pusher.engine()) as uow:
			first = highest_id(uow.session) + 1
	frappe.db.set_value(
		OUTBOX_DOCTYPE, row.name, {"vtiger_ids_from": first, "sent_name": name}, update_modified=False
	)
	frappe.db.commit()
	return cint(noted.vtiger_ids_from), noted.sent_name or name


def _unlinked(doctype: str, prefix: str, made: Callable[[Session], list[Made]], pusher: Any) -> Made | None:
	"""The oldest record ``made`` finds that no ``doctype`` document links yet."""
	with SqlAlchemyUnitOfWork(pusher.engine()) as uow:
		found = made(uow.session)
	return next(
		(r for r in found if not frappe.db.exists(doctype, {VTIGER_ID_FIELD: f"{prefix}{r.crmid}"})), None
	)


def _bring_up_to_date(client: Any, ws_id: str, element: dict[str, str]) -> None:
	"""A record an earlier attempt made gets the values the document was edited to since."""
	current = client.retrieve(ws_id)
	stale = {key: value for key, value in element.items() if not same_value(current.get(key), value)}
	if stale:
		client.revise({"id": ws_id, **stale}, current)


def _link(doc: Any, vtiger_id: str, connection: str, module: str, number: str | None = None) -> None:
	values = {VTIGER_ID_FIELD: vtiger_id, CONNECTION_FIELD: connection, MODULE_FIELD: module}
	if number and doc.meta.has_field("vtiger_number"):
		values["vtiger_number"] = number
	frappe.db.set_value(doc.doctype, doc.name, values, update_modified=False)
