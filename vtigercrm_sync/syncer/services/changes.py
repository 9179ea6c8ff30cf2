"""VTiger's change feed: the records ModTracker logged since the last run, read by its ``id``.

``modifiedtime`` misses what VTiger changes without moving it: the contacts a deleted account unlinks and the
orders a deleted contact empties (raw UPDATEs, kept in ``vtiger_relatedlists_rb``), the contact a related-list
unlink empties (VTiger moves the *account's* time), and a restore whose record plans to the same hash. ModTracker
logs each of them on one record; this module turns its rows into the records to read again. A purge deletes the
record's ModTracker rows and backups: only the reconciliation of ids (``reconcile.py``) sees it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import and_, column, func, literal, or_, select, table
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from vtigercrm_sync import models as m
from vtigercrm_sync.syncer.services.query import Watermark, reason

UPDATED, DELETED, CREATED, RESTORED, LINKED, UNLINKED = range(6)
FEED_PAGE = 5_000
DEPENDENT_TABLES = {
	"vtiger_account": "Accounts",
	"vtiger_contactdetails": "Contacts",
	"vtiger_salesorder": "SalesOrder",
}
"""The module of the rows a delete unlinks (``vtiger_relatedlists_rb.rel_table``)."""


@dataclass
class FeedPage:
	"""The records one page of the feed names, by module; ``last`` is the id to resume after."""

	last: int
	records: dict[str, set[int]] = field(default_factory=dict)
	restored: dict[str, set[int]] = field(default_factory=dict)
	rows: int = 0

	def add(self, module: str | None, crmid: int | None, modules: Iterable[str]) -> None:
		if module in modules and crmid:
			self.records.setdefault(module, set()).add(int(crmid))


def feed_head(session: Session) -> int:
	"""The id of the last ModTracker row: where a connection's feed starts when it has none yet."""
	return session.execute(select(func.coalesce(func.max(m.ModTrackerBasic.id), 0))).scalar_one()


def read_feed(session: Session, after: int, modules: Sequence[str], limit: int = FEED_PAGE) -> FeedPage:
	"""The records named by up to ``limit`` ModTracker rows after ``after``: every logged record of a synced
	module, both records of a link or unlink, and the dependents each delete unlinked."""
	b, r = m.ModTrackerBasic.__table__, m.ModTrackerRelation.__table__
	rows = session.execute(
		select(b.c.id, b.c.crmid, b.c.module, b.c.status, r.c.targetmodule, r.c.targetid)
		.outerjoin(r, r.c.id == b.c.id)
		.where(b.c.id > after, or_(b.c.module.in_(modules), b.c.status.in_((LINKED, UNLINKED))))
		.order_by(b.c.id)
		.limit(limit)
	).all()
	page = FeedPage(last=rows[-1].id if rows else after, rows=len(rows))
	deleted = []
	for row in rows:
		page.add(row.module, row.crmid, modules)
		if row.status in (LINKED, UNLINKED):
			page.add(row.targetmodule, row.targetid, modules)
		elif row.status == DELETED:
			deleted.append(row.crmid)
		elif row.status == RESTORED and row.module in modules:
			page.restored.setdefault(row.module, set()).add(int(row.crmid))
	for module, crmid in unlinked_by(session, deleted):
		page.add(module, crmid, modules)
	return page


def changed_since(
	session: Session,
	watermarks: dict[str, Watermark | None],
	feed_after: int | None,
	ignore_user: int | None = None,
) -> list[str]:
	"""What changed after a connection's watermarks, cheaply (one ``LIMIT 1`` query per stream and one on
	ModTracker): the modules whose ``(modifiedtime, crmid)`` keyset has a row after the stream's watermark (any row,
	for a stream without one: none yet, or never read), and ``"ModTracker"`` when the feed has a row after ``feed_after`` for these
	modules or a link. ``ignore_user`` (the VTiger user id of a web service user only the app uses) leaves out
	what that user saved: the app's own pushes. Empty when nothing changed."""
	e, b = m.CrmEntity.__table__, m.ModTrackerBasic.__table__
	changed = []
	for module, since in watermarks.items():
		conditions = [e.c.setype == module]
		if since is not None:
			conditions += [
				e.c.modifiedtime >= since.modifiedtime,
				or_(
					e.c.modifiedtime > since.modifiedtime,
					and_(e.c.modifiedtime == since.modifiedtime, e.c.crmid > since.crmid),
				),
			]
		if ignore_user is not None:
			conditions.append(e.c.modifiedby != ignore_user)
		if session.execute(select(e.c.crmid).where(*conditions).limit(1)).first():
			changed.append(module)
	if feed_after is not None:
		conditions = [
			b.c.id > feed_after,
			or_(b.c.module.in_(list(watermarks)), b.c.status.in_((LINKED, UNLINKED))),
		]
		if ignore_user is not None:
			conditions.append(b.c.whodid != ignore_user)
		if session.execute(select(b.c.id).where(*conditions).limit(1)).first():
			changed.append("ModTracker")
	return changed


USERS = table("vtiger_users", column("id"), column("user_name"), column("deleted"))


def user_id(session: Session, user_name: str) -> int | None:
	"""The id of a VTiger user (``vtiger_users``), to recognise its saves by ``modifiedby`` and ``whodid``."""
	return session.execute(
		select(USERS.c.id).where(USERS.c.user_name == user_name, USERS.c.deleted == 0)
	).scalar_one_or_none()


def unlinked_by(session: Session, deleted: Sequence[int]) -> list[tuple[str, int]]:
	"""(module, crmid) of every record the deletes of ``deleted`` unlinked, from their Recycle Bin backups (gone
	once the record is restored or purged)."""
	if not deleted:
		return []
	rb = m.RelatedListsRb.__table__
	found = []
	for start in range(0, len(deleted), FEED_PAGE):
		rows = session.execute(
			select(rb.c.rel_table, rb.c.related_crm_ids).where(
				rb.c.entityid.in_(deleted[start : start + FEED_PAGE]),
				rb.c.rel_table.in_(DEPENDENT_TABLES),
			)
		).all()
		for row in rows:
			found.extend(
				(DEPENDENT_TABLES[row.rel_table], int(crmid))
				for crmid in (row.related_crm_ids or "").split(",")
				if crmid.strip().isdigit()
			)
	return found


def tracked_modules(session: Session, modules: Sequence[str]) -> set[str]:
	"""Which of ``modules`` ModTracker logs (``vtiger_modtracker_tabs.visible = 1``)."""
	tab, tracked = m.Tab.__table__, m.ModTrackerTab.__table__
	return set(
		session.execute(
			select(tab.c.name)
			.join(tracked, tracked.c.tabid == tab.c.tabid)
			.where(tab.c.name.in_(modules), tracked.c.visible == 1)
		).scalars()
	)


PREFLIGHT_TABLES = (m.ModTrackerBasic, m.ModTrackerRelation, m.ModTrackerTab, m.RelatedListsRb)


def preflight(session: Session, modules: Sequence[str], time_zone: str | None = None) -> list[str]:
	"""What keeps the change feed from seeing every change, in plain words (empty when nothing): modules
	ModTracker does not log, tables the database user cannot read, and VTiger's clock disagreeing with the
	database's (``time_zone``: the connection's VTiger time zone, else none is known)."""
	problems = []
	for model in PREFLIGHT_TABLES:
		try:
			with session.begin_nested():
				session.execute(select(literal(1)).select_from(model.__table__).limit(1)).all()
		except SQLAlchemyError as exc:
			problems.append(f"the database user cannot read {model.__tablename__}: {reason(exc)}")
	if problems:
		return problems
	untracked = sorted(set(modules) - tracked_modules(session, modules))
	if untracked:
		problems.append(
			f"ModTracker is off for {', '.join(untracked)}: deletes, restores and unlinks of these records "
			"arrive only with the nightly reconciliation (turn it on in VTiger: Settings > Module Manager > "
			"ModTracker)"
		)
	skew = clock_skew_minutes(session, time_zone)
	if skew:
		problems.append(
			f"VTiger's clock and the database's differ by {skew} minutes: set the connection's VTiger Time Zone "
			"to VTiger's $default_timezone (config.inc.php), or changes saved near a run's start may be read late"
		)
	return problems


def clock_skew_minutes(session: Session, time_zone: str | None) -> int:
	"""How many minutes VTiger's latest ModTracker stamp lies ahead of the clock a run takes for VTiger's (the
	database's UTC clock in ``time_zone``, else its NOW()): VTiger stamps in its own zone, so a stamp in that
	clock's future means the two zones disagree. 0 when they agree (or nothing is logged yet)."""
	now, utc_now, latest = session.execute(
		select(func.now(), func.utc_timestamp(), func.max(m.ModTrackerBasic.changedon))
	).one()
	if time_zone:
		now = utc_now.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)
	if latest is None or latest - now <= SKEW_TOLERANCE:
		return 0
	return round((latest - now).total_seconds() / 60)


SKEW_TOLERANCE = timedelta(minutes=2)
"""A stamp this far ahead is a clock set wrong, not a save committed while the run started."""
