"""What this VTiger install really has: the columns of each bundle part and the labels of its fields.

Built once per run from the live database (``information_schema`` through SQLAlchemy's inspector, plus
``vtiger_field``), so custom-field tables whose ``cf_NNN`` columns differ per install are discovered at run time and
never at import time. The catalog is plain data afterwards: config resolution and query building read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Column, Integer, MetaData, Table, inspect, select
from sqlalchemy.orm import Session

from vtigercrm_sync import models as m
from vtigercrm_sync.config.config import SOURCE_MODULES

SOURCE_TABLES: dict[str, tuple[Table, ...]] = {
	"account": (
		m.CrmEntity.__table__,
		m.Account.__table__,
		m.AccountBillAddress.__table__,
		m.AccountShipAddress.__table__,
		m.AccountCustomFields.__table__,
	),
	"contact": (
		m.CrmEntity.__table__,
		m.ContactDetails.__table__,
		m.ContactAddress.__table__,
		m.ContactSubDetails.__table__,
		m.ContactCustomFields.__table__,
	),
	"salesorder": (
		m.CrmEntity.__table__,
		m.SalesOrder.__table__,
		m.SalesOrderBillAddress.__table__,
		m.SalesOrderShipAddress.__table__,
		m.SalesOrderCustomFields.__table__,
	),
	"line": (m.InventoryProductRel.__table__,),
}
"""The tables each bundle part is read from; the last table of a record source is its custom-field table."""

CF_TABLES = {source: tables[-1] for source, tables in SOURCE_TABLES.items() if source != "line"}

DERIVED_COLUMNS = {
	"salesorder": ("currency_code", "charges"),
	"line": ("item_type", "item_deleted", "item_name", "item_no", "productcode", "usageunit"),
}
"""Columns a bundle part gets from joined tables (currency, charges JSON, the line's product or service)."""


@dataclass(frozen=True)
class VTigerCatalog:
	"""source -> {column: table name}; source -> {label: column}; and the tabid of each module."""

	columns_by_source: Mapping[str, Mapping[str, str]]
	labels_by_source: Mapping[str, Mapping[str, str]]
	tabids: Mapping[str, int] = field(default_factory=dict)

	def columns(self, source: str) -> set[str]:
		return set(self.columns_by_source.get(source, {}))

	def labels(self, source: str) -> dict[str, str]:
		return dict(self.labels_by_source.get(source, {}))

	def table_of(self, source: str, column: str) -> str:
		return self.columns_by_source[source][column]

	def cf_table(self, source: str, columns: set[str]) -> Table:
		"""A lightweight Table of the custom-field table holding only checked ``cf`` columns."""
		base = CF_TABLES[source]
		key = next(iter(base.primary_key.columns)).name
		missing = columns - {c for c, t in self.columns_by_source[source].items() if t == base.name}
		if missing:
			raise ValueError(f"{base.name} has no column(s) {', '.join(sorted(missing))}")
		return Table(
			base.name,
			MetaData(),
			Column(key, Integer, primary_key=True),
			*(Column(c) for c in sorted(columns)),
		)


def load_catalog(session: Session) -> VTigerCatalog:
	"""Reflect the source tables and read field labels of Accounts, Contacts and SalesOrder."""
	inspector = inspect(session.connection())
	columns_by_source: dict[str, dict[str, str]] = {}
	for source, tables in SOURCE_TABLES.items():
		found: dict[str, str] = {}
		for table in tables:
			live = {col["name"] for col in inspector.get_columns(table.name)}
			known = set(table.columns.keys())
			is_cf = table in CF_TABLES.values()
			for name in sorted(live):
				if (is_cf and name.startswith("cf_")) or (not is_cf and name in known):
					found.setdefault(name, table.name)
		for name in DERIVED_COLUMNS.get(source, ()):
			found.setdefault(name, "")
		columns_by_source[source] = found

	tab, fld = m.Tab.__table__, m.Field.__table__
	modules = sorted(set(SOURCE_MODULES.values()))
	tabids = dict(session.execute(select(tab.c.name, tab.c.tabid).where(tab.c.name.in_(modules))).all())
	rows = session.execute(
		select(fld.c.tabid, fld.c.tablename, fld.c.columnname, fld.c.fieldlabel).where(
			fld.c.tabid.in_(list(tabids.values()))
		)
	).all()
	labels_by_source: dict[str, dict[str, str]] = {}
	for source, module in SOURCE_MODULES.items():
		if source == "line":
			continue
		cols = columns_by_source[source]
		labels_by_source[source] = {
			row.fieldlabel: row.columnname
			for row in rows
			if row.tabid == tabids.get(module) and cols.get(row.columnname) == row.tablename
		}
	return VTigerCatalog(columns_by_source, labels_by_source, tabids)
