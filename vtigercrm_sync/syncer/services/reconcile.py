"""Reconciliation of ids: what ERPNext holds against what VTiger holds, compared in Python (SELECT only).

A purge leaves no trace a feed could read, and a record created while no run saw it is easy to miss; comparing the
two sets of ids finds both. VTiger and ERPNext may live on different servers, so no cross-database join: VTiger's
ids of the compared modules are read in one streamed query each (100,000 ids are a few megabytes) and compared
with ERPNext's as sets. The links that matter (a contact's account, an order's contact) are compared the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from vtigercrm_sync import models as m

STREAM_PAGE = 20_000

LINKS = {
	"Contacts": (m.ContactDetails.__table__.c.contactid, m.ContactDetails.__table__.c.accountid),
	"SalesOrder": (m.SalesOrder.__table__.c.salesorderid, m.SalesOrder.__table__.c.contactid),
}
"""The links compared: a contact's account, an order's contact (module -> record column, reference column)."""


@dataclass
class IdDifferences:
	"""By module: the crmids ERPNext holds whose VTiger record is purged (``gone``) or in the Recycle Bin
	(``deleted``), the live crmids ERPNext lacks (``missing``), those whose links differ (``links``) and the
	orders left without their account (``orphaned``); each sorted."""

	gone: dict[str, list[int]] = field(default_factory=dict)
	deleted: dict[str, list[int]] = field(default_factory=dict)
	missing: dict[str, list[int]] = field(default_factory=dict)
	links: dict[str, list[int]] = field(default_factory=dict)
	orphaned: dict[str, list[int]] = field(default_factory=dict)
	"""Live orders ERPNext holds whose account VTiger deleted or purged: a fresh sync could not write them."""
	"""Live records whose ERPNext document links other records than VTiger (:func:`link_differences`)."""


def compare_ids(session: Session, known: Mapping[str, Iterable[int]]) -> IdDifferences:
	"""Compare ERPNext's crmids by module (``known``) with VTiger's ``vtiger_crmentity``."""
	e = m.CrmEntity.__table__
	result = IdDifferences()
	for module, ids in known.items():
		ours = set(ids)
		live, deleted = set(), set()
		rows = session.execute(
			select(e.c.crmid, e.c.deleted).where(e.c.setype == module),
			execution_options={"yield_per": STREAM_PAGE},
		)
		for crmid, is_deleted in rows:
			(deleted if is_deleted else live).add(crmid)
		result.gone[module] = sorted(ours - live - deleted)
		result.deleted[module] = sorted(ours & deleted)
		result.missing[module] = sorted(live - ours)
	if "SalesOrder" in known:  # a fresh sync could not write them either: removed, and not missing
		orphans = orphaned_orders(session)
		result.orphaned["SalesOrder"] = sorted(set(known["SalesOrder"]) & orphans)
		result.missing["SalesOrder"] = sorted(set(result.missing["SalesOrder"]) - orphans)
	return result


def orphaned_orders(session: Session) -> set[int]:
	"""Live orders whose account is not live (VTiger keeps a deleted account's orders, and a purged one's)."""
	so, own, account = m.SalesOrder.__table__, m.CrmEntity.__table__, aliased(m.CrmEntity.__table__)
	return set(
		session.execute(
			select(so.c.salesorderid)
			.join(own, (own.c.crmid == so.c.salesorderid) & (own.c.deleted == 0))
			.outerjoin(account, (account.c.crmid == so.c.accountid) & (account.c.deleted == 0))
			.where(account.c.crmid.is_(None)),
			execution_options={"yield_per": STREAM_PAGE},
		).scalars()
	)


def live_links(session: Session, module: str) -> dict[int, int | None]:
	"""record crmid -> the live record its reference names (None for 0, a deleted or a purged one), for each
	live record of ``module`` (Contacts: the account; SalesOrder: the contact)."""
	record, reference = LINKS[module]
	own, target = m.CrmEntity.__table__, aliased(m.CrmEntity.__table__)
	rows = session.execute(
		select(record, target.c.crmid)
		.join(own, (own.c.crmid == record) & (own.c.deleted == 0))
		.outerjoin(target, (target.c.crmid == reference) & (target.c.deleted == 0)),
		execution_options={"yield_per": STREAM_PAGE},
	)
	return {crmid: linked for crmid, linked in rows}


def link_differences(session: Session, module: str, known: Mapping[int, Iterable[int]]) -> list[int]:
	"""The crmids whose ERPNext document links other records (``known``: crmid -> linked crmids) than VTiger's
	reference names: a link VTiger no longer holds, or one ERPNext lacks."""
	vtiger = live_links(session, module)
	differ = []
	for crmid, linked in known.items():
		if crmid not in vtiger:
			continue  # not live: compare_ids reports it
		linked, wanted = set(linked), vtiger[crmid]
		if (wanted is None and linked) or (wanted is not None and wanted not in linked):
			differ.append(crmid)
	return sorted(differ)
