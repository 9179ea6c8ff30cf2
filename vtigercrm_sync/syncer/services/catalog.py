"""What this VTiger install really has: the columns of each bundle part and the labels of its fields.

Built once per run from the live database (``information_schema`` through SQLAlchemy's inspector, plus
``vtiger_field``), so custom-field tables whose ``cf_NNN`` columns differ per install are discovered at run time and
never at import time. The catalog is plain data afterwards: config resolution and query building read it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import Column, Integer, MetaData, Numeric, Table, inspect, select
from sqlalchemy.orm import Session

from vtigercrm_sync import models as m
from vtigercrm_sync.config.spec import SOURCE_MODULES

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


TAX_COLUMN = re.compile(r"tax\d+")
"""A line tax column: VTiger adds one to ``vtiger_inventoryproductrel`` for every tax it defines."""
BASE_CURRENCY_ID = "-11"


@dataclass(frozen=True)
class TaxDefinition:
	"""A tax VTiger defines: ``key`` is its name, ``tax1`` (a percentage column of each line) or ``shtax1`` (a tax
	on shipping & handling, keyed by ``taxid`` in an order's charges JSON). A deleted tax stays on old orders."""

	key: str
	taxid: int
	label: str
	percentage: Decimal
	shipping: bool = False
	deleted: bool = False


DEFAULT_TAXES = tuple(
	TaxDefinition(f"{prefix}{taxid}", taxid, label, Decimal(percent), shipping=prefix == "shtax")
	for prefix in ("tax", "shtax")
	for taxid, label, percent in ((1, "VAT", "4.5"), (2, "Sales", "10"), (3, "Service", "12.5"))
)
"""The taxes of a fresh VTiger 8.2 install, for planners built without a live catalog."""


@dataclass(frozen=True)
class VTigerCatalog:
	"""source -> {column: table name}; source -> {label: column}; the tabid of each module; the taxes, base
	currency and usage units this install defines."""

	columns_by_source: Mapping[str, Mapping[str, str]]
	labels_by_source: Mapping[str, Mapping[str, str]]
	tabids: Mapping[str, int] = field(default_factory=dict)
	taxes: tuple[TaxDefinition, ...] = DEFAULT_TAXES
	base_currency: str | None = None
	usage_units: tuple[str, ...] = ()

	@property
	def line_tax_columns(self) -> tuple[str, ...]:
		"""Every tax column of the lines, deleted taxes included (old orders still carry their percentages)."""
		return tuple(name for name in self.columns_by_source.get("line", {}) if TAX_COLUMN.fullmatch(name))

	def line_table(self) -> Table:
		"""The lines table with the model's columns plus every tax column this install added."""
		base = m.InventoryProductRel.__table__
		extra = [c for c in self.line_tax_columns if c not in base.c]
		if not extra:
			return base
		return Table(
			base.name,
			MetaData(),
			*(c._copy() for c in base.columns),
			*(Column(c, Numeric(7, 3)) for c in extra),
		)

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
				taxes = source == "line" and TAX_COLUMN.fullmatch(name)
				if (is_cf and name.startswith("cf_")) or (not is_cf and (name in known or taxes)):
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
	return VTigerCatalog(
		columns_by_source,
		labels_by_source,
		tabids,
		taxes=_load_taxes(session),
		base_currency=session.execute(
			select(m.CurrencyInfo.currency_code).where(m.CurrencyInfo.defaultid == BASE_CURRENCY_ID)
		).scalar(),
		usage_units=_load_usage_units(session),
	)


def _load_taxes(session: Session) -> tuple[TaxDefinition, ...]:
	taxes = []
	for model, shipping in ((m.InventoryTaxInfo, False), (m.ShippingTaxInfo, True)):
		for row in session.execute(select(model).order_by(model.taxid)).scalars():
			taxes.append(
				TaxDefinition(
					key=row.taxname or f"{'shtax' if shipping else 'tax'}{row.taxid}",
					taxid=row.taxid,
					label=row.taxlabel or row.taxname or "",
					percentage=row.percentage or Decimal(0),
					shipping=shipping,
					deleted=bool(row.deleted),
				)
			)
	return tuple(taxes)


def _load_usage_units(session: Session) -> tuple[str, ...]:
	"""Every usage unit a product or a service can have, in picklist order, products first."""
	units = session.execute(select(m.UsageUnit.usageunit).order_by(m.UsageUnit.usageunitid)).scalars()
	services = session.execute(
		select(m.ServiceUsageUnit.service_usageunit).order_by(m.ServiceUsageUnit.service_usageunitid)
	).scalars()
	return tuple(dict.fromkeys(unit for unit in (*units, *services) if unit and unit.strip()))
