"""Read VTiger: connection check, incremental change batches, and record bundles.

Paging is keyset on ``(modifiedtime, crmid)`` because ``modifiedtime`` has one-second resolution: a page boundary
inside one second neither loses nor repeats a row. Each run reads only below a *signpost* taken from the server
clock when it starts (``modifiedtime < signpost``), so a record saved later in the same second as the last row we
read gets a time the next run still sees. Every batch opens its own unit of work, so memory and the InnoDB read
view stay per batch, however large the table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, Select, and_, func, or_, select, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from vtigercrm_sync import models as m
from vtigercrm_sync.config.graph import selected_columns
from vtigercrm_sync.config.resolution import resolve_mapping
from vtigercrm_sync.config.spec import STREAM_SOURCES, MappingConfig
from vtigercrm_sync.database.engine import ConnectionSettings, get_engine
from vtigercrm_sync.database.unit_of_work import SqlAlchemyUnitOfWork
from vtigercrm_sync.syncer.plan import RecordRef
from vtigercrm_sync.syncer.services.catalog import CF_TABLES, VTigerCatalog, load_catalog

DEFAULT_BATCH_SIZE = 500
KEY_PAGE = 10_000
WATERMARK_SEPARATOR = "#"
MISSING_ITEM = {
	"item_type": None,
	"item_deleted": None,
	"item_name": None,
	"item_no": None,
	"productcode": None,
	"usageunit": None,
	"item_modifiedtime": None,
}
"""Item fields of a line whose product or service no longer exists (purged, or never was)."""

REQUIRED_COLUMNS = {
	"account": {"crmid", "modifiedtime"},
	"contact": {"crmid", "modifiedtime", "accountid"},
	"salesorder": {
		"crmid",
		"createdtime",
		"modifiedtime",
		"accountid",
		"contactid",
		"total",
		"taxtype",
		"discount_percent",
		"discount_amount",
		"s_h_amount",
		"adjustment",
		"currency_code",
		"conversion_rate",
		"sostatus",
		"duedate",
		"charges",
	},
	"line": {
		"id",
		"productid",
		"sequence_no",
		"quantity",
		"listprice",
		"discount_percent",
		"discount_amount",
		"item_type",
		"item_deleted",
		"item_name",
		"item_no",
	},
}
"""Columns the processors use whatever the mapping says (keys, totals, currency, line arithmetic); every tax
column of the lines joins them (:attr:`VTigerCatalog.line_tax_columns`)."""


class ConnectionFailed(Exception):
	"""VTiger could not be reached; the message names where and why, never the password."""


@dataclass(frozen=True, order=True)
class Watermark:
	"""The (modifiedtime, crmid) of the last record committed: where the next read resumes."""

	modifiedtime: datetime
	crmid: int

	def __str__(self) -> str:
		return f"{self.modifiedtime:%Y-%m-%d %H:%M:%S}{WATERMARK_SEPARATOR}{self.crmid}"

	def rewound(self, overlap: timedelta, signpost: datetime | None = None) -> Watermark:
		"""Where the next run reads from: a VTiger save stamped before the last run's ``signpost`` but committed
		after that run read its second is caught by reading the ``overlap`` before that signpost again (before
		this watermark when the signpost is unknown). Never later than this watermark, and on a quiet database,
		whose watermark lies long before the last signpost, nothing is read twice."""
		start = (signpost or self.modifiedtime) - overlap
		return Watermark(start, 0) if overlap and start < self.modifiedtime else self

	@classmethod
	def parse(cls, value: str | None) -> Watermark | None:
		if not value:
			return None
		stamp, _, crmid = value.partition(WATERMARK_SEPARATOR)
		return cls(datetime.fromisoformat(stamp.strip()), int(crmid or 0))


@dataclass
class Bundle:
	"""One VTiger record with everything needed to plan its documents.

	``parts`` holds a row dict per source (``account``, ``contact``, ``salesorder``) or None when the reference is 0,
	points at a deleted record or at nothing; ``lines`` holds an order's line rows in ``sequence_no`` order.
	"""

	source: RecordRef
	modifiedtime: datetime
	parts: dict[str, dict[str, Any] | None]
	lines: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Change:
	"""One changed record at its place in keyset order: a live record's bundle, or a deleted record."""

	key: Watermark
	bundle: Bundle | None = None
	deleted: RecordRef | None = None
	unchanged: bool = False
	"""A live record whose sources did not move since it was last written (``syncer/services/fingerprint.py``):
	neither read nor planned, only counted."""


@dataclass
class ChangeBatch:
	module: str
	changes: list[Change]
	"""Live and deleted records together, in (modifiedtime, crmid) order: a writer that commits part of a batch
	can move its watermark to the last change it committed."""
	last: Watermark
	size: int

	@property
	def bundles(self) -> list[Bundle]:
		return [change.bundle for change in self.changes if change.bundle is not None]

	@property
	def deleted(self) -> list[RecordRef]:
		return [change.deleted for change in self.changes if change.deleted is not None]


def check_connection(settings: ConnectionSettings) -> str:
	"""Return the server version, or raise :class:`ConnectionFailed` saying where and why."""
	try:
		with get_engine(settings).connect() as conn:
			if conn.dialect.name == "sqlite":
				return f"SQLite {conn.execute(text('select sqlite_version()')).scalar_one()}"
			return str(conn.execute(text("SELECT VERSION()")).scalar_one())
	except SQLAlchemyError as exc:
		raise ConnectionFailed(
			f"Cannot connect to VTiger at {settings.describe()}: {reason(exc, settings.password)}"
		) from None


def read_catalog(engine: Engine) -> VTigerCatalog:
	"""What this VTiger has (columns, labels, taxes, units), or :class:`ConnectionFailed` saying where and why."""
	try:
		with SqlAlchemyUnitOfWork(engine) as uow:
			return load_catalog(uow.session)
	except OperationalError as exc:
		url = engine.url
		raise ConnectionFailed(
			f"Cannot connect to VTiger at {describe_url(url)}: {reason(exc, url.password)}"
		) from None


def reason(exc: SQLAlchemyError, password: str | None = None) -> str:
	"""The driver's own message (MySQL's text for error 2003, 1045, ...), without SQL or parameters; a
	password, should a server ever echo one, is masked."""
	original = getattr(exc, "orig", None) or exc
	args = getattr(original, "args", ())
	text_ = str(args[1]) if len(args) > 1 else str(original)
	return text_.replace(password, "***") if password else text_


def describe_url(url: URL) -> str:
	"""user@host:port/database of an engine, never its password."""
	if url.drivername.startswith("sqlite"):
		return f"sqlite database {url.database or ':memory:'}"
	return f"{url.username}@{url.host}:{url.port or 3306}/{url.database}"


class VTigerReader:
	"""Reads change batches and record bundles for one resolved mapping."""

	def __init__(
		self,
		uow_factory: Callable[[], SqlAlchemyUnitOfWork],
		catalog: VTigerCatalog,
		mapping: MappingConfig,
		batch_size: int = DEFAULT_BATCH_SIZE,
	):
		if not mapping.resolved:
			raise ValueError("resolve the mapping against the catalog before reading")
		if batch_size < 1:
			raise ValueError("batch_size must be at least 1")
		self._uow_factory = uow_factory
		self.catalog = catalog
		self.mapping = mapping
		self.batch_size = batch_size
		self._lines = catalog.line_table()
		# Built once: one statement per stream and source keeps SQLAlchemy's compiled cache at one entry each.
		self._selects: dict[str, dict[str, Select]] = {}
		for module, sources in STREAM_SOURCES.items():
			selected = selected_columns(mapping, module)
			columns = {source: selected[source] | REQUIRED_COLUMNS[source] for source in sources}
			self._selects[module] = {
				source: self._source_select(source, wanted) if source != "line" else self._line_select(wanted)
				for source, wanted in columns.items()
			}

	@classmethod
	def connect(cls, settings: ConnectionSettings, mapping: MappingConfig, **kwargs: Any) -> VTigerReader:
		"""Load the catalog, resolve the mapping against it and return a reader (raises MappingError)."""
		return cls.from_engine(get_engine(settings), mapping, **kwargs)

	@classmethod
	def from_engine(cls, engine: Engine, mapping: MappingConfig, **kwargs: Any) -> VTigerReader:
		catalog = read_catalog(engine)
		return cls(lambda: SqlAlchemyUnitOfWork(engine), catalog, resolve_mapping(mapping, catalog), **kwargs)

	def unit_of_work(self) -> SqlAlchemyUnitOfWork:
		"""A read-only unit of work on this reader's VTiger, for the feed and the reconciliation."""
		return self._uow_factory()

	def signpost(self, time_zone: str | None = None) -> datetime:
		"""Now on VTiger's clock, truncated to the second: this run reads records modified strictly before it.

		VTiger stamps ``modifiedtime`` with PHP's clock in its ``$default_timezone``, which need not be the
		database session's: with ``time_zone`` (an IANA name), the database server's UTC clock is read in that
		zone; without it, the session's ``NOW()`` is taken to be VTiger's clock.
		"""
		with self._uow_factory() as uow:
			now = uow.session.execute(select(func.utc_timestamp() if time_zone else func.now())).scalar_one()
		if isinstance(now, str):
			now = datetime.fromisoformat(now)
		if time_zone:
			now = now.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(time_zone)).replace(tzinfo=None)
		return now.replace(microsecond=0)

	def count_changes(self, module: str, since: Watermark | None, until: datetime) -> int:
		"""How many records a run will read (live and deleted), for progress and ETA."""
		e = m.CrmEntity.__table__
		with self._uow_factory() as uow:
			return uow.session.execute(
				select(func.count()).select_from(e).where(*self._window(module, since, until))
			).scalar_one()

	def iter_changes(
		self,
		module: str,
		since: Watermark | None,
		until: datetime,
		unchanged: Callable[[Session, list[Any]], set[int]] | None = None,
		upto: Watermark | None = None,
	) -> Iterator[ChangeBatch]:
		"""Batches of changed records in (modifiedtime, crmid) order; no watermark reads everything. ``upto``
		(a chunk's last key) ends the window there, so a chunk never reads the next chunk's records. With
		``unchanged`` (the page's session and key rows in: crmid, modifiedtime, deleted; the crmids whose sources
		did not move out), those records come as :attr:`Change.unchanged`, without reading their bundles."""
		cursor = since
		while True:
			with self._uow_factory() as uow:
				keys = self._read_keys(uow.session, module, cursor, until, upto=upto)
				if not keys:
					return
				skipped = unchanged(uow.session, keys) if unchanged else set()
				live = [row.crmid for row in keys if not row.deleted and row.crmid not in skipped]
				bundles = {b.source.crmid: b for b in self._read_bundles(uow.session, module, live)}
			changes = [
				Change(
					Watermark(row.modifiedtime, row.crmid),
					bundle=bundles.get(row.crmid),
					deleted=RecordRef(module, row.crmid)
					if row.deleted and row.crmid not in skipped
					else None,
					unchanged=row.crmid in skipped,
				)
				for row in keys
				if row.deleted or row.crmid in bundles or row.crmid in skipped
			]
			cursor = Watermark(keys[-1].modifiedtime, keys[-1].crmid)
			yield ChangeBatch(module, changes, cursor, len(keys))
			if len(keys) < self.batch_size:
				return

	def iter_keys(
		self,
		module: str,
		since: Watermark | None,
		until: datetime,
		unchanged: Callable[[Session, list[Any]], set[int]] | None = None,
	) -> Iterator[tuple[Watermark, bool]]:
		"""The key of every change in (modifiedtime, crmid) order, without the records, each with whether it
		moved (False for a record ``unchanged`` finds unchanged, as in :meth:`iter_changes`): where a run cuts
		its chunks."""
		cursor = since
		while True:
			with self._uow_factory() as uow:
				keys = self._read_keys(uow.session, module, cursor, until, KEY_PAGE)
				skipped = unchanged(uow.session, keys) if unchanged and keys else set()
			yield from ((Watermark(row.modifiedtime, row.crmid), row.crmid not in skipped) for row in keys)
			if len(keys) < KEY_PAGE:
				return
			cursor = Watermark(keys[-1].modifiedtime, keys[-1].crmid)

	def read_records(self, module: str, crmids: Sequence[int]) -> list[Bundle]:
		"""Bundles of chosen live records (a retry of failed records); missing or deleted ids are left out."""
		bundles: list[Bundle] = []
		for start in range(0, len(crmids), self.batch_size):
			with self._uow_factory() as uow:
				bundles.extend(
					self._read_bundles(uow.session, module, list(crmids[start : start + self.batch_size]))
				)
		return bundles

	# -- queries -----------------------------------------------------------------------------------------------

	def _window(
		self, module: str, since: Watermark | None, until: datetime, upto: Watermark | None = None
	) -> list[Any]:
		e = m.CrmEntity.__table__
		conditions = [e.c.setype == module, e.c.modifiedtime < until]
		if upto is not None:
			conditions.append(e.c.modifiedtime <= upto.modifiedtime)
			conditions.append(
				or_(
					e.c.modifiedtime < upto.modifiedtime,
					and_(e.c.modifiedtime == upto.modifiedtime, e.c.crmid <= upto.crmid),
				)
			)
		if since is not None:
			# The plain range first, so an index on (setype, modifiedtime, crmid) serves it; the tie-break after.
			conditions.append(e.c.modifiedtime >= since.modifiedtime)
			conditions.append(
				or_(
					e.c.modifiedtime > since.modifiedtime,
					and_(e.c.modifiedtime == since.modifiedtime, e.c.crmid > since.crmid),
				)
			)
		return conditions

	def keys_select(
		self,
		module: str,
		since: Watermark | None,
		until: datetime,
		limit: int | None = None,
		upto: Watermark | None = None,
	) -> Select:
		"""One page of changed keys in keyset order: sargable, so an index on ``(setype, modifiedtime, crmid)``
		turns it into an index range read in order (VTiger ships none: without one each page scans)."""
		e = m.CrmEntity.__table__
		return (
			select(e.c.crmid, e.c.modifiedtime, e.c.deleted)
			.where(*self._window(module, since, until, upto))
			.order_by(e.c.modifiedtime, e.c.crmid)
			.limit(limit or self.batch_size)
		)

	def _read_keys(
		self,
		session: Session,
		module: str,
		since: Watermark | None,
		until: datetime,
		limit: int | None = None,
		upto: Watermark | None = None,
	) -> list[Any]:
		return list(session.execute(self.keys_select(module, since, until, limit, upto)).all())

	def _read_bundles(self, session: Session, module: str, crmids: list[int]) -> list[Bundle]:
		if not crmids:
			return []
		primary = STREAM_SOURCES[module][0]
		rows = self._fetch(session, module, primary, crmids)
		if module == "Accounts":
			return [
				Bundle(RecordRef(module, i), rows[i]["modifiedtime"], {"account": rows[i]})
				for i in crmids
				if i in rows
			]
		account_ids = {reference(rows[i].get("accountid")) for i in rows} - {None}
		accounts = self._fetch(session, module, "account", sorted(account_ids)) if account_ids else {}
		if module == "Contacts":
			return [
				Bundle(
					RecordRef(module, i),
					rows[i]["modifiedtime"],
					{"contact": rows[i], "account": accounts.get(reference(rows[i].get("accountid")))},
				)
				for i in crmids
				if i in rows
			]
		contact_ids = {reference(rows[i].get("contactid")) for i in rows} - {None}
		contacts = self._fetch(session, module, "contact", sorted(contact_ids)) if contact_ids else {}
		lines = self._fetch_lines(session, module, crmids)
		return [
			Bundle(
				RecordRef(module, i),
				rows[i]["modifiedtime"],
				{
					"salesorder": rows[i],
					"account": accounts.get(reference(rows[i].get("accountid"))),
					"contact": contacts.get(reference(rows[i].get("contactid"))),
				},
				lines.get(i, []),
			)
			for i in crmids
			if i in rows
		]

	def _fetch(
		self, session: Session, module: str, source: str, crmids: list[int]
	) -> dict[int, dict[str, Any]]:
		"""Live records of one source by id, with only the columns the stream's entities and processors need."""
		stmt = self._selects[module][source].where(m.CrmEntity.__table__.c.crmid.in_(crmids))
		return {row["crmid"]: row for row in _dicts(session.execute(stmt))}

	def _source_select(self, source: str, wanted: set[str]) -> Select:
		"""The record's row of one source by primary key, joining only the tables that hold a wanted column."""
		e = m.CrmEntity.__table__
		tables = {
			"account": (m.Account.__table__, m.AccountBillAddress.__table__, m.AccountShipAddress.__table__),
			"contact": (
				m.ContactDetails.__table__,
				m.ContactAddress.__table__,
				m.ContactSubDetails.__table__,
			),
			"salesorder": (
				m.SalesOrder.__table__,
				m.SalesOrderBillAddress.__table__,
				m.SalesOrderShipAddress.__table__,
			),
		}[source]
		main, *extensions = tables
		main_key = next(iter(main.primary_key.columns))
		cf_columns = {
			c for c in wanted if self.catalog.columns_by_source[source].get(c) == CF_TABLES[source].name
		}
		cf = self.catalog.cf_table(source, cf_columns)
		columns = [e.c.crmid]
		seen = {"crmid"}
		for table in (e, *tables):
			for column in table.columns:
				if column.name in wanted and column.name not in seen:
					columns.append(column)
					seen.add(column.name)
		columns.extend(cf.c[name] for name in sorted(cf_columns))
		joined = e.join(main, main_key == e.c.crmid)
		for ext in extensions:
			if any(column.name in wanted for column in ext.columns):
				joined = joined.outerjoin(ext, next(iter(ext.primary_key.columns)) == main_key)
		if cf_columns:
			joined = joined.outerjoin(cf, next(iter(cf.primary_key.columns)) == main_key)
		if source == "salesorder":
			cur, charges = m.CurrencyInfo.__table__, m.InventoryChargesRel.__table__
			joined = joined.outerjoin(cur, cur.c.id == main.c.currency_id).outerjoin(
				charges, charges.c.recordid == main_key
			)
			columns += [cur.c.currency_code, charges.c.charges]
		return select(*columns).select_from(joined).where(e.c.deleted == 0)

	def _line_select(self, wanted: set[str]) -> Select:
		i = self._lines
		wanted = wanted | set(self.catalog.line_tax_columns)
		return select(*(c for c in i.columns if c.name in wanted)).order_by(i.c.id, i.c.sequence_no)

	def _fetch_lines(
		self, session: Session, module: str, order_ids: list[int]
	) -> dict[int, list[dict[str, Any]]]:
		"""Lines in ``sequence_no`` order, each with its product's or service's fields (read once per item)."""
		stmt = self._selects[module]["line"].where(self._lines.c.id.in_(order_ids))
		lines: dict[int, list[dict[str, Any]]] = {}
		for line in _dicts(session.execute(stmt)):
			lines.setdefault(line["id"], []).append(line)
		items = self._fetch_items(session, {line["productid"] for rows in lines.values() for line in rows})
		for rows in lines.values():
			for line in rows:
				line.update(items.get(line["productid"], MISSING_ITEM))
		return lines

	def _fetch_items(self, session: Session, item_ids: set[int]) -> dict[int, dict[str, Any]]:
		"""Product or service fields by crmid; a deleted item is still returned, as lines keep pointing at it."""
		if not item_ids:
			return {}
		e = m.CrmEntity.__table__
		p, sv = m.Product.__table__, m.Service.__table__
		stmt = (
			select(
				e.c.crmid,
				e.c.setype.label("item_type"),
				e.c.deleted.label("item_deleted"),
				func.coalesce(p.c.productname, sv.c.servicename).label("item_name"),
				func.coalesce(p.c.product_no, sv.c.service_no).label("item_no"),
				p.c.productcode.label("productcode"),
				func.coalesce(p.c.usageunit, sv.c.service_usageunit).label("usageunit"),
				e.c.modifiedtime.label("item_modifiedtime"),
			)
			.select_from(
				e.outerjoin(p, p.c.productid == e.c.crmid).outerjoin(sv, sv.c.serviceid == e.c.crmid)
			)
			.where(e.c.crmid.in_(sorted(item_ids)), e.c.setype.in_(("Products", "Services")))
		)
		return {row.pop("crmid"): row for row in _dicts(session.execute(stmt))}


def _dicts(result: Any) -> Iterator[dict[str, Any]]:
	"""Plain dicts from a result, built with one zip per row (cheaper than RowMapping on large batches)."""
	keys = list(result.keys())
	for row in result:
		yield dict(zip(keys, row, strict=True))


def reference(value: Any) -> int | None:
	"""VTiger's "no reference" is 0 (or '0' for reportsto); normalise it, and anything empty, to None."""
	try:
		ref = int(value)
	except (TypeError, ValueError):
		return None
	return ref or None
