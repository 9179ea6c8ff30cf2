"""What an earlier attempt of a create left in VTiger: a create sent again links it instead of making a second.

A drain killed (or failing) after VTiger's web service created an Account, but before ERPNext committed the link,
leaves the Account in VTiger and the outbox row to be sent again. VTiger's web service has no idempotency key, and
its duplicate prevention is a per-install setting that does not cover Contacts, so the row keeps the first id a
create could get before its first call (:func:`highest_id` + 1); a resend looks from there for what the web service
user made.

Plain Python, SELECT only. Ids come from one sequence (``vtiger_crmentity_seq``), so "from there" needs no clock.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vtigercrm_sync import models as m


@dataclass(frozen=True)
class Made:
	"""A live record the web service user created: its crmid and number (``ACC…``, ``CON…``)."""

	crmid: int
	number: str


def highest_id(session: Session) -> int:
	"""The highest record id VTiger holds: whatever is created from now on gets a higher one."""
	return session.execute(select(func.max(m.CrmEntity.__table__.c.crmid))).scalar() or 0


def accounts_made(session: Session, ids_from: int, creator: int, name: str) -> list[Made]:
	"""Live Accounts named ``name`` that user ``creator`` created with an id from ``ids_from`` on, oldest first."""
	e, a = m.CrmEntity.__table__, m.Account.__table__
	rows = session.execute(
		select(a.c.accountid, a.c.account_no, a.c.accountname)
		.join(e, e.c.crmid == a.c.accountid)
		.where(e.c.crmid >= ids_from, e.c.smcreatorid == creator, e.c.deleted == 0, e.c.setype == "Accounts")
		.order_by(a.c.accountid)
	)
	wanted = _text(name)
	return [Made(crmid, number) for crmid, number, stored in rows if _text(stored) == wanted]


def contacts_made(session: Session, ids_from: int, creator: int, account: int) -> list[Made]:
	"""Live Contacts of Account ``account`` that user ``creator`` created with an id from ``ids_from`` on, oldest
	first: the account is the one an earlier attempt made, so they are what that attempt created."""
	e, c = m.CrmEntity.__table__, m.ContactDetails.__table__
	rows = session.execute(
		select(c.c.contactid, c.c.contact_no)
		.join(e, e.c.crmid == c.c.contactid)
		.where(e.c.crmid >= ids_from, e.c.smcreatorid == creator, e.c.deleted == 0, c.c.accountid == account)
		.order_by(c.c.contactid)
	)
	return [Made(crmid, number) for crmid, number in rows]


def _text(value: str | None) -> str:
	"""A name as VTiger's form would show it (its save may store ``&`` as ``&amp;``)."""
	return html.unescape(value or "").strip()
