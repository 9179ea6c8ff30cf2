"""Writes records into a VTiger CRM 8.2 database exactly as VTiger does, so tests read realistic rows.

Follows shared/vtiger/README.md (sections 1-3, 7, 8, 10, 11) and fixture_example.sql: the same tables, the same
rows, the same empty-value conventions and counters. test_vtiger_writer.py checks this row by row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ProgrammingError

BASE_TIME = datetime(2025, 1, 15, 10, 0, 0)
"""createdtime of the first record a writer creates without `at`; each further record is one second later."""

MULTISELECT_SEPARATOR = " |##| "
NO_SUCH_TABLE = 1146
"""MariaDB's ER_NO_SUCH_TABLE."""

CF_TABLES = {
	"Accounts": "vtiger_accountscf",
	"Contacts": "vtiger_contactscf",
	"Products": "vtiger_productcf",
	"Services": "vtiger_servicecf",
	"SalesOrder": "vtiger_salesordercf",
	"Quotes": "vtiger_quotescf",
	"Invoice": "vtiger_invoicecf",
	"PurchaseOrder": "vtiger_purchaseordercf",
	"Leads": "vtiger_leadscf",
	"Vendors": "vtiger_vendorcf",
	"Potentials": "vtiger_potentialscf",
}

# Id column of every table the writer touches (a record's id under another name, README section 2).
ID_COLUMNS = {
	"vtiger_crmentity": "crmid",
	"vtiger_account": "accountid",
	"vtiger_accountbillads": "accountaddressid",
	"vtiger_accountshipads": "accountaddressid",
	"vtiger_accountscf": "accountid",
	"vtiger_contactdetails": "contactid",
	"vtiger_contactaddress": "contactaddressid",
	"vtiger_contactsubdetails": "contactsubscriptionid",
	"vtiger_customerdetails": "customerid",
	"vtiger_contactscf": "contactid",
	"vtiger_products": "productid",
	"vtiger_productcf": "productid",
	"vtiger_service": "serviceid",
	"vtiger_servicecf": "serviceid",
	"vtiger_salesorder": "salesorderid",
	"vtiger_sobillads": "sobilladdressid",
	"vtiger_soshipads": "soshipaddressid",
	"vtiger_salesordercf": "salesorderid",
	"vtiger_invoice_recurring_info": "salesorderid",
}

# What a delete unlinks (README section 8; Contacts/Accounts unlinkDependencies): (table, column, id column).
UNLINKED_ON_DELETE = {
	"Contacts": (
		("vtiger_salesorder", "contactid", "salesorderid"),
		("vtiger_quotes", "contactid", "quoteid"),
		("vtiger_purchaseorder", "contactid", "purchaseorderid"),
	),
	"Accounts": (
		("vtiger_contactdetails", "accountid", "contactid"),
		("vtiger_troubletickets", "parent_id", "ticketid"),
	),
}

# Layout Editor field types (README section 10): uitype, typeofdata (without ~O/~M), column DDL, defaultvalue.
_FIELD_KINDS = {
	"text": ("1", "V~{m}~LE~{length}", "VARCHAR({length}) DEFAULT ''", ""),
	"decimal": ("7", "NN~{m}", "DECIMAL({decimal_precision},{decimals})", "0"),
	"integer": ("7", "I~{m}", "{int_type}({length})", ""),
	"currency": ("71", "N~{m}", "DECIMAL({currency_precision},{decimals})", "0"),
	"percent": ("9", "N~{m}~2~2", "DECIMAL(5,2)", ""),
	"date": ("5", "D~{m}", "DATE", ""),
	"time": ("14", "T~{m}", "TIME", ""),
	"email": ("13", "E~{m}", "VARCHAR(50) DEFAULT ''", ""),
	"phone": ("11", "V~{m}", "VARCHAR(30) DEFAULT ''", ""),
	"url": ("17", "V~{m}", "VARCHAR(255) DEFAULT ''", ""),
	"checkbox": ("56", "C~{m}", "VARCHAR(3) DEFAULT '0'", ""),
	"textarea": ("21", "V~{m}", "TEXT", ""),
	"picklist": ("16", "V~{m}", "VARCHAR(255) DEFAULT ''", ""),
	"rolepicklist": ("15", "V~{m}", "VARCHAR(255) DEFAULT ''", ""),
	"multiselect": ("33", "V~{m}", "TEXT", ""),
}

_INVENTORY_MODULES = ("Quotes", "SalesOrder", "Invoice", "PurchaseOrder")
_NUMERIC_TYPES = {"tinyint", "smallint", "mediumint", "int", "bigint", "decimal", "float", "double"}
_TEMPORAL_TYPES = {"date", "time", "datetime", "timestamp", "year"}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TAX_COLUMN = re.compile(r"tax\d+")
_LINE_KEYS = {
	"productid",
	"quantity",
	"listprice",
	"discount_percent",
	"discount_amount",
	"comment",
	"description",
	"purchase_cost",
	"margin",
}
_EIGHT_PLACES = Decimal("0.00000001")
_CENTS = Decimal("0.01")


# One regex pass finds everything that can hide a ';': quoted strings (backslash escapes and doubled quotes),
# backtick identifiers and comments. Possessive quantifiers keep it linear on the 950 KB dump.
_SQL_TOKEN = re.compile(
	r"""
	'(?:[^'\\]++|\\.|'')*+'
	|"(?:[^"\\]++|\\.|"")*+"
	|`(?:[^`]++|``)*+`
	|/\*!.*?\*/
	|/\*.*?\*/
	|--(?:[ \t\r][^\n]*+)?(?=\n|$)
	|\#[^\n]*+
	|;
	""",
	re.S | re.X,
)


def split_sql(script: str) -> Iterator[str]:
	"""Yield the statements of a SQL script (no DELIMITER support), comments removed.

	mysqldump's executable comments (/*!40101 ... */) are kept: the server runs them, and user dumps rely on them.
	"""
	parts: list[str] = []
	pos = 0
	for match in _SQL_TOKEN.finditer(script):
		parts.append(script[pos : match.start()])
		pos = match.end()
		token = match.group()
		if token == ";":
			statement = "".join(parts).strip()
			parts = []
			if statement:
				yield statement
		elif token.startswith(("--", "#")) or (token.startswith("/*") and not token.startswith("/*!")):
			parts.append(" ")
		else:
			parts.append(token)
	parts.append(script[pos:])
	statement = "".join(parts).strip()
	if statement:
		yield statement


def _ident(name: str) -> str:
	"""Quote a table/column name; names cannot be bound parameters, so only plain identifiers pass."""
	if not _IDENTIFIER.fullmatch(name):
		raise ValueError(f"not a plain SQL identifier: {name!r}")
	return f"`{name}`"


def _dec(value: Any) -> Decimal:
	"""Exact decimal of a user number (1.5 stays 1.5, unlike float arithmetic)."""
	if value is None:
		return Decimal(0)
	return value if isinstance(value, Decimal) else Decimal(str(value))


def _num_str(value: Any) -> str:
	"""A number the way PHP echoes a submitted value into the charges JSON: '10', '4.5'."""
	normalized = _dec(value).normalize()
	return format(normalized if normalized != 0 else Decimal(0), "f")


def _db_value(value: Any) -> Any:
	"""VTiger stores checkboxes as '1'/'0' and multi-select values joined with ' |##| '."""
	if isinstance(value, bool):
		return "1" if value else "0"
	if isinstance(value, list | tuple):
		return MULTISELECT_SEPARATOR.join(str(v) for v in value)
	return value


def _empty_value(uitype: str | None, data_type: str) -> Any:
	"""Value VTiger writes for an unset field: '' text, '0' checkbox, 0 numbers, NULL dates/times (README 7)."""
	if uitype == "56":
		return "0"
	if data_type in _TEMPORAL_TYPES:
		return None
	if data_type in _NUMERIC_TYPES:
		return 0
	return ""


def _address(prefix: str, values: Mapping[str, Any] | None, keys: Sequence[str], column_of=None) -> dict:
	values = dict(values or {})
	unknown = set(values) - set(keys)
	if unknown:
		raise ValueError(f"unknown address keys {sorted(unknown)}; expected {list(keys)}")
	return {(column_of or (lambda k: f"{prefix}_{k}"))(key): values.get(key, "") for key in keys}


_ACCOUNT_ADDRESS_KEYS = ("city", "code", "country", "state", "street", "pobox")
_CONTACT_ADDRESS_KEYS = ("street", "city", "state", "zip", "country", "pobox")


def compute_totals(
	lines: Sequence[Mapping[str, Any]],
	*,
	taxtype: str | None = "individual",
	discount_percent: Any = None,
	discount_amount: Any = None,
	sh_amount: Any = 0,
	sh_tax: Any = 0,
	adjustment: Any = 0,
) -> dict[str, Decimal]:
	"""subtotal, pre_tax_total and total of an inventory record (README section 3), unrounded.

	`lines` carry quantity, listprice, discount_percent/discount_amount and tax1..taxN percentages; for group tax
	the line percentages are the group's (the same on every line). `sh_tax` is the S&H tax amount. NULL or ''
	taxtype counts as group, as VTiger computes it.
	"""
	nets: list[Decimal] = []
	taxed: list[Decimal] = []
	group_pct = Decimal(0)
	for index, line in enumerate(lines):
		gross = _dec(line.get("quantity")) * _dec(line.get("listprice"))
		line_amount = _dec(line.get("discount_amount"))
		if line_amount > 0:
			net = gross - line_amount
		else:
			net = gross - gross * _dec(line.get("discount_percent")) / 100
		pct = sum((_dec(v) for k, v in line.items() if _TAX_COLUMN.fullmatch(k)), Decimal(0))
		nets.append(net)
		taxed.append(net * (1 + pct / 100))
		if index == 0:
			group_pct = pct
	sh = _dec(sh_amount)
	extra = _dec(sh_tax) + _dec(adjustment)
	individual = taxtype == "individual"
	subtotal = sum(taxed if individual else nets, Decimal(0))
	overall = _dec(discount_amount) if _dec(discount_amount) > 0 else subtotal * _dec(discount_percent) / 100
	if individual:
		pre_tax_total = sum(nets, Decimal(0)) - overall + sh
		total = subtotal - overall + sh + extra
	else:
		pre_tax_total = subtotal - overall + sh
		total = pre_tax_total + (subtotal - overall) * group_pct / 100 + extra
	return {"subtotal": subtotal, "pre_tax_total": pre_tax_total, "total": total}


class VTigerWriter:
	"""Creates, updates and deletes VTiger records with the exact rows VTiger 8.2 writes.

	Every public method runs in its own transaction and commits it. `at` is the record's createdtime (=
	modifiedtime); left out, it is BASE_TIME plus one second per record created by this writer, so tests are
	deterministic. Records are created as `source` ('WEBSERVICE') by `user_id` (admin = 1).
	"""

	def __init__(
		self,
		engine: Engine,
		*,
		user_id: int = 1,
		source: str = "WEBSERVICE",
		base_time: datetime = BASE_TIME,
	) -> None:
		self.engine = engine
		self.user_id = user_id
		self.source = source
		self.base_time = base_time
		self._created = 0
		self._column_cache: dict[str, dict[str, str]] = {}
		self._meta_cache: dict[tuple, Any] = {}

	# -----------------------------------------------------------------------------------------------------------
	# Custom fields (Layout Editor, README section 10)
	# -----------------------------------------------------------------------------------------------------------

	def add_custom_field(
		self,
		module: str,
		label: str,
		kind: str = "text",
		length: int = 50,
		mandatory: bool = False,
		picklist_values: Iterable[str] | None = None,
		*,
		decimals: int = 2,
	) -> str:
		"""Add a custom field as the Layout Editor does; returns its column `cf_NNN`.

		Idempotent by label: an existing field with that label in the module is returned unchanged.
		"""
		return self._add_field(module, None, label, kind, length, mandatory, picklist_values, decimals)

	def add_custom_field_as(
		self,
		module: str,
		column: str,
		label: str,
		kind: str = "text",
		length: int = 50,
		mandatory: bool = False,
		picklist_values: Iterable[str] | None = None,
		*,
		decimals: int = 2,
	) -> str:
		"""Like add_custom_field but with a fixed column name (e.g. cf_2115), to mirror another install."""
		if not re.fullmatch(r"cf_\d+", column):
			raise ValueError(f"custom field columns are named cf_NNN, got {column!r}")
		return self._add_field(module, column, label, kind, length, mandatory, picklist_values, decimals)

	def _add_field(self, module, column, label, kind, length, mandatory, picklist_values, decimals) -> str:
		if kind not in _FIELD_KINDS:
			raise ValueError(f"unknown custom field kind {kind!r}; one of {sorted(_FIELD_KINDS)}")
		uitype, typeofdata, ddl, default = _FIELD_KINDS[kind]
		fmt = {
			"m": "M" if mandatory else "O",
			"length": length,
			"decimals": decimals,
			"decimal_precision": length + decimals + 1,
			"currency_precision": length + decimals,
			"int_type": "BIGINT" if length > 10 else "INT",
		}
		typeofdata, ddl = typeofdata.format(**fmt), ddl.format(**fmt)
		cftable = CF_TABLES.get(module)
		if cftable is None:
			raise ValueError(f"no custom field table known for module {module!r}")
		with self.engine.connect() as conn:
			tabid = self._tabid(conn, module)
			existing = conn.execute(
				text("SELECT columnname FROM vtiger_field WHERE tabid = :tabid AND fieldlabel = :label"),
				{"tabid": tabid, "label": label},
			).scalar()
			if existing:
				return existing
			block = conn.execute(
				text(
					"SELECT blockid FROM vtiger_blocks WHERE tabid = :tabid AND blocklabel = 'LBL_CUSTOM_INFORMATION'"
				),
				{"tabid": tabid},
			).scalar_one()
			columns = self._columns(conn, cftable)
			# Two numbers from vtiger_field_seq: the column name, then the fieldid.
			while column is None:
				candidate = f"cf_{self._next_id(conn, 'vtiger_field_seq')}"
				column = None if candidate in columns else candidate
			fieldid = self._next_id(conn, "vtiger_field_seq")
			conn.commit()
			if column not in columns:
				conn.execute(text(f"ALTER TABLE {_ident(cftable)} ADD COLUMN {_ident(column)} {ddl}"))
				self._column_cache.clear()
			sequence = conn.execute(
				text(
					"SELECT IFNULL(MAX(sequence), 0) + 1 FROM vtiger_field WHERE tabid = :tabid AND block = :block"
				),
				{"tabid": tabid, "block": block},
			).scalar_one()
			quickcreate = 3 if module in _INVENTORY_MODULES else 1
			quickcreatesequence = 0
			if quickcreate != 1:
				quickcreatesequence = conn.execute(
					text(
						"SELECT IFNULL(MAX(quickcreatesequence), 0) + 1 FROM vtiger_field WHERE tabid = :tabid"
					),
					{"tabid": tabid},
				).scalar_one()
			self._insert(
				conn,
				"vtiger_field",
				{
					"tabid": tabid,
					"fieldid": fieldid,
					"columnname": column,
					"tablename": cftable,
					"generatedtype": 2,
					"uitype": uitype,
					"fieldname": column,
					"fieldlabel": label,
					"readonly": 1,
					"presence": 2,
					"defaultvalue": default,
					"maximumlength": 100,
					"sequence": sequence,
					"block": block,
					"displaytype": 1,
					"typeofdata": typeofdata,
					"quickcreate": quickcreate,
					"quickcreatesequence": quickcreatesequence,
					"info_type": "BAS",
					"masseditable": 1,
					"helpinfo": "",
					"summaryfield": 0,
					"headerfield": 0,
					"isunique": 0,
				},
			)
			self._insert(
				conn,
				"vtiger_def_org_field",
				{"tabid": tabid, "fieldid": fieldid, "visible": 0, "readonly": 0},
			)
			conn.execute(
				text(
					"INSERT INTO vtiger_profile2field (profileid, tabid, fieldid, visible, readonly) "
					"SELECT profileid, :tabid, :fieldid, 0, 0 FROM vtiger_profile"
				),
				{"tabid": tabid, "fieldid": fieldid},
			)
			conn.commit()
			if uitype in ("15", "16", "33"):
				self._create_picklist(conn, column, uitype, list(picklist_values or ()))
				conn.commit()
			self._meta_cache.clear()
		return column

	def _create_picklist(self, conn: Connection, column: str, uitype: str, values: list[str]) -> None:
		"""The picklist value table (+ _seq) a picklist field needs; role-based ones also get role rows."""
		table, seq = f"vtiger_{column}", f"vtiger_{column}_seq"
		if uitype == "16":
			conn.execute(
				text(
					f"CREATE TABLE IF NOT EXISTS {_ident(table)} ({_ident(column + 'id')} INT NOT NULL AUTO_INCREMENT "
					f"PRIMARY KEY, {_ident(column)} VARCHAR(200) NOT NULL, sortorderid INT(11), "
					"presence INT(11) NOT NULL DEFAULT 1, color VARCHAR(10)) ENGINE=InnoDB DEFAULT CHARSET=utf8"
				)
			)
		else:
			conn.execute(
				text(
					f"CREATE TABLE IF NOT EXISTS {_ident(table)} ({_ident(column + 'id')} INT NOT NULL AUTO_INCREMENT "
					f"PRIMARY KEY, {_ident(column)} VARCHAR(200) NOT NULL, presence INT(1) NOT NULL DEFAULT 1, "
					"picklist_valueid INT NOT NULL DEFAULT 0, sortorderid INT DEFAULT 0, color VARCHAR(10)) "
					"ENGINE=InnoDB DEFAULT CHARSET=utf8"
				)
			)
		conn.execute(
			text(
				f"CREATE TABLE IF NOT EXISTS {_ident(seq)} (id INT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8"
			)
		)
		conn.execute(
			text(
				f"INSERT INTO {_ident(seq)} (id) SELECT 0 FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM {_ident(seq)})"
			)
		)
		picklistid = None
		if uitype != "16":
			picklistid = conn.execute(
				text("SELECT picklistid FROM vtiger_picklist WHERE name = :name"), {"name": column}
			).scalar()
			if picklistid is None:
				picklistid = self._next_id(conn, "vtiger_picklist_seq")
				self._insert(conn, "vtiger_picklist", {"picklistid": picklistid, "name": column})
		present = set(conn.execute(text(f"SELECT {_ident(column)} FROM {_ident(table)}")).scalars())
		for position, value in enumerate(values):
			if value in present:
				continue
			if uitype == "16":
				row_id = self._next_id(conn, seq)
				self._insert(
					conn,
					table,
					{column + "id": row_id, column: value, "sortorderid": position, "presence": 1},
				)
				continue
			valueid = self._next_id(conn, "vtiger_picklistvalues_seq")
			row_id = self._next_id(conn, seq)
			self._insert(
				conn,
				table,
				{
					column + "id": row_id,
					column: value,
					"presence": 1,
					"picklist_valueid": valueid,
					"sortorderid": position + 1,
				},
			)
			conn.execute(
				text(
					"INSERT INTO vtiger_role2picklist (roleid, picklistvalueid, picklistid, sortid) "
					"SELECT roleid, :valueid, :picklistid, :sortid FROM vtiger_role"
				),
				{"valueid": valueid, "picklistid": picklistid, "sortid": position + 1},
			)

	# -----------------------------------------------------------------------------------------------------------
	# Records (README section 11)
	# -----------------------------------------------------------------------------------------------------------

	def create_product(
		self,
		name: str,
		*,
		code: str = "",
		unit_price: Any = 0,
		usageunit: str = "Each",
		taxes: Mapping[int, Any] | None = None,
		cf: Mapping[str, Any] | None = None,
		description: str = "",
		owner: int | None = None,
		at: datetime | None = None,
		**fields: Any,
	) -> int:
		"""A product; `taxes` maps vtiger_inventorytaxinfo.taxid -> percentage (producttaxrel rows).

		`fields`: other vtiger_products columns (qtyinstock, productcategory, discontinued=0 for inactive, ...).
		"""
		row = {
			"product_no": None,
			"productname": name,
			"productcode": code,
			"productcategory": "",
			"manufacturer": "",
			"qty_per_unit": 0,
			"unit_price": unit_price,
			"commissionrate": 0,
			"discontinued": 1,
			"usageunit": usageunit,
			"reorderlevel": 0,
			"website": "",
			"taxclass": "",
			"mfr_part_no": "",
			"vendor_part_no": "",
			"serialno": "",
			"qtyinstock": 0,
			"productsheet": "",
			"qtyindemand": 0,
			"glacct": "",
			"vendor_id": 0,
			"imagename": "",
			"currency_id": 1,
			"purchase_cost": 0,
			"tags": "",
		}
		return self._create_priced(
			"Products", "vtiger_products", row, fields, taxes, cf, description, owner, at
		)

	def create_service(
		self,
		name: str,
		*,
		unit_price: Any = 0,
		usageunit: str = "Hours",
		taxes: Mapping[int, Any] | None = None,
		cf: Mapping[str, Any] | None = None,
		description: str = "",
		owner: int | None = None,
		at: datetime | None = None,
		**fields: Any,
	) -> int:
		"""A service; `fields`: other vtiger_service columns (servicecategory, discontinued, ...)."""
		row = {
			"service_no": None,
			"servicename": name,
			"servicecategory": "",
			"qty_per_unit": 0,
			"unit_price": unit_price,
			"discontinued": 1,
			"service_usageunit": usageunit,
			"website": "",
			"taxclass": "",
			"currency_id": 1,
			"commissionrate": 0,
			"tags": "",
			"purchase_cost": 0,
		}
		return self._create_priced(
			"Services", "vtiger_service", row, fields, taxes, cf, description, owner, at
		)

	def _create_priced(self, module, table, row, fields, taxes, cf, description, owner, at) -> int:
		with self.engine.begin() as conn:
			row = self._merge(conn, table, row, fields)
			crmid, number, at = self._new_entity(conn, module, row, description, owner, at)
			row[self._number_column(module)] = number
			self._insert(conn, table, {ID_COLUMNS[table]: crmid, **row})
			self._insert_cf(conn, module, crmid, cf)
			price = row["unit_price"]
			self._insert(
				conn,
				"vtiger_productcurrencyrel",
				{
					"productid": crmid,
					"currencyid": row["currency_id"],
					"converted_price": price,
					"actual_price": price,
				},
			)
			for taxid, percentage in (taxes or {}).items():
				self._insert(
					conn,
					"vtiger_producttaxrel",
					{"productid": crmid, "taxid": taxid, "taxpercentage": percentage, "regions": "[]"},
				)
			self._finish_entity(conn, module, crmid, at)
		return crmid

	def create_account(
		self,
		name: str,
		*,
		bill: Mapping[str, Any] | None = None,
		ship: Mapping[str, Any] | None = None,
		cf: Mapping[str, Any] | None = None,
		description: str = "",
		owner: int | None = None,
		at: datetime | None = None,
		**fields: Any,
	) -> int:
		"""An account; bill/ship keys street, city, state, code, country, pobox; `fields`: vtiger_account columns."""
		row = {
			"account_no": None,
			"accountname": name,
			"parentid": 0,
			"account_type": "",
			"industry": "",
			"annualrevenue": 0,
			"rating": "",
			"ownership": "",
			"siccode": "",
			"tickersymbol": "",
			"phone": "",
			"otherphone": "",
			"email1": "",
			"email2": "",
			"website": "",
			"fax": "",
			"employees": 0,
			"emailoptout": "0",
			"notify_owner": "0",
			"isconvertedfromlead": "0",
			"tags": "",
		}
		with self.engine.begin() as conn:
			row = self._merge(conn, "vtiger_account", row, fields)
			crmid, row["account_no"], at = self._new_entity(conn, "Accounts", row, description, owner, at)
			self._insert(conn, "vtiger_account", {"accountid": crmid, **row})
			self._insert_bill_ship(
				conn, ("vtiger_accountbillads", "vtiger_accountshipads"), crmid, bill, ship
			)
			self._insert_cf(conn, "Accounts", crmid, cf)
			self._finish_entity(conn, "Accounts", crmid, at)
		return crmid

	def create_contact(
		self,
		lastname: str,
		*,
		firstname: str = "",
		account_id: int = 0,
		mailing: Mapping[str, Any] | None = None,
		other: Mapping[str, Any] | None = None,
		birthday: Any = None,
		cf: Mapping[str, Any] | None = None,
		description: str = "",
		owner: int | None = None,
		at: datetime | None = None,
		**fields: Any,
	) -> int:
		"""A contact; mailing/other keys street, city, state, zip, country, pobox.

		`fields`: columns of vtiger_contactdetails (email, phone, ...), vtiger_contactsubdetails (homephone,
		leadsource, ...) or vtiger_customerdetails (portal, support dates).
		"""
		details = {
			"contact_no": None,
			"accountid": account_id,
			"salutation": "",
			"firstname": firstname,
			"lastname": lastname,
			"email": "",
			"phone": "",
			"mobile": "",
			"title": "",
			"department": "",
			"fax": "",
			"reportsto": "0",
			"secondaryemail": "",
			"donotcall": "0",
			"emailoptout": "0",
			"imagename": "",
			"reference": "0",
			"notify_owner": "0",
			"isconvertedfromlead": "0",
			"tags": "",
		}
		sub = {
			"homephone": "",
			"otherphone": "",
			"assistant": "",
			"assistantphone": "",
			"birthday": birthday,
			"laststayintouchrequest": 0,
			"laststayintouchsavedate": 0,
			"leadsource": "",
		}
		customer = {"portal": "0", "support_start_date": None, "support_end_date": None}
		with self.engine.begin() as conn:
			fields = dict(fields)
			for target in (sub, customer):
				for key in list(fields):
					if key in target:
						target[key] = fields.pop(key)
			details = self._merge(conn, "vtiger_contactdetails", details, fields)
			crmid, details["contact_no"], at = self._new_entity(
				conn, "Contacts", details, description, owner, at
			)
			self._insert(conn, "vtiger_contactdetails", {"contactid": crmid, **details})
			address = {"contactaddressid": crmid}
			address.update(_address("mailing", mailing, _CONTACT_ADDRESS_KEYS, lambda k: f"mailing{k}"))
			address.update(_address("other", other, _CONTACT_ADDRESS_KEYS, lambda k: f"other{k}"))
			self._insert(conn, "vtiger_contactaddress", address)
			self._insert(conn, "vtiger_contactsubdetails", {"contactsubscriptionid": crmid, **sub})
			self._insert(conn, "vtiger_customerdetails", {"customerid": crmid, **customer})
			self._insert_cf(conn, "Contacts", crmid, cf)
			self._finish_entity(conn, "Contacts", crmid, at)
		return crmid

	def create_sales_order(
		self,
		subject: str,
		*,
		account_id: int,
		contact_id: int = 0,
		lines: Sequence[Mapping[str, Any]],
		taxtype: str | None = "individual",
		sh_amount: Any = 0,
		sh_tax_percent: Any = 0,
		discount_percent: Any = None,
		discount_amount: Any = None,
		adjustment: Any = 0,
		currency_id: int = 1,
		conversion_rate: Any = 1,
		sostatus: str = "Created",
		bill: Mapping[str, Any] | None = None,
		ship: Mapping[str, Any] | None = None,
		cf: Mapping[str, Any] | None = None,
		duedate: Any = None,
		recurring: Mapping[str, Any] | None = None,
		description: str = "",
		owner: int | None = None,
		at: datetime | None = None,
		round_totals: bool = False,
		**fields: Any,
	) -> int:
		"""A sales order with its lines, S&H charges row and computed totals (README sections 2, 3).

		`lines`: dicts with productid, quantity, listprice and optionally discount_percent, discount_amount,
		tax1..taxN (percentages), comment, description. For taxtype 'group' the group tax percentages are taken
		from the lines and repeated on every line row. `sh_tax_percent` is the percentage of shipping tax 1, or a
		mapping of vtiger_shippingtaxinfo.taxid -> percentage. `recurring` (recurring_frequency, start_period,
		end_period, payment_duration, invoice_status) enables recurring invoicing. `round_totals` mimics a UI save.
		"""
		row = {
			"subject": subject,
			"potentialid": 0,
			"customerno": "",
			"salesorder_no": None,
			"quoteid": 0,
			"contactid": contact_id,
			"duedate": duedate,
			"carrier": "",
			"pending": "",
			"adjustment": adjustment,
			"salescommission": 0,
			"exciseduty": 0,
			"taxtype": taxtype,
			"discount_percent": discount_percent,
			"discount_amount": discount_amount,
			"s_h_amount": sh_amount,
			"accountid": account_id,
			"terms_conditions": "",
			"purchaseorder": "",
			"sostatus": sostatus,
			"currency_id": currency_id,
			"conversion_rate": conversion_rate,
			"enable_recurring": 1 if recurring else 0,
			"compound_taxes_info": "null",
			"s_h_percent": sh_amount,
			"tags": "",
		}
		with self.engine.begin() as conn:
			row = self._merge(conn, "vtiger_salesorder", row, fields)
			line_rows = self._line_rows(conn, lines, row["taxtype"])
			sh_taxes = sh_tax_percent if isinstance(sh_tax_percent, Mapping) else {1: sh_tax_percent}
			sh_tax = sum((_dec(sh_amount) * _dec(p) / 100 for p in sh_taxes.values()), Decimal(0))
			row.update(self._totals(line_rows, row, sh_tax, round_totals))
			crmid, row["salesorder_no"], at = self._new_entity(
				conn, "SalesOrder", row, description, owner, at
			)
			self._insert(conn, "vtiger_salesorder", {"salesorderid": crmid, **row})
			self._insert_bill_ship(conn, ("vtiger_sobillads", "vtiger_soshipads"), crmid, bill, ship)
			self._insert_cf(conn, "SalesOrder", crmid, cf)
			if recurring:
				self._insert(conn, "vtiger_invoice_recurring_info", {"salesorderid": crmid, **recurring})
			self._insert_lines(conn, crmid, line_rows)
			self._insert(
				conn,
				"vtiger_inventorychargesrel",
				{"recordid": crmid, "charges": self._charges_json(conn, sh_amount, sh_taxes)},
			)
			self._finish_entity(conn, "SalesOrder", crmid, at)
		return crmid

	def add_currency(self, code: str, name: str, symbol: str, rate: Any, *, status: str = "Active") -> int:
		"""A non-base currency (defaultid '0'); the id comes from vtiger_currency_info_seq."""
		with self.engine.begin() as conn:
			# A fresh install leaves vtiger_currency_info_seq empty although USD has id 1: start after the max.
			if conn.execute(text("SELECT COUNT(*) FROM vtiger_currency_info_seq")).scalar_one() == 0:
				conn.execute(
					text(
						"INSERT INTO vtiger_currency_info_seq (id) SELECT COALESCE(MAX(id), 0) FROM vtiger_currency_info"
					)
				)
			currency_id = self._next_id(conn, "vtiger_currency_info_seq")
			self._insert(
				conn,
				"vtiger_currency_info",
				{
					"id": currency_id,
					"currency_name": name,
					"currency_code": code,
					"currency_symbol": symbol,
					"conversion_rate": rate,
					"currency_status": status,
					"defaultid": "0",
					"deleted": 0,
				},
			)
		return currency_id

	def add_tax(self, label: str, percentage: Any, *, shipping: bool = False) -> str:
		"""A tax as Settings > Taxes adds one (Settings_Vtiger_TaxRecord_Model::addTax): the next taxid, a
		``taxN`` column on the lines (``shtaxN`` on vtiger_inventoryshippingrel for a shipping tax) and its
		definition row; returns the tax's name."""
		table = "vtiger_shippingtaxinfo" if shipping else "vtiger_inventorytaxinfo"
		with self.engine.begin() as conn:
			# A fresh install leaves the seq table empty although taxids 1-3 exist: start after the max.
			if conn.execute(text(f"SELECT COUNT(*) FROM {table}_seq")).scalar_one() == 0:
				conn.execute(
					text(f"INSERT INTO {table}_seq (id) SELECT COALESCE(MAX(taxid), 0) FROM {table}")
				)
			taxid = self._next_id(conn, f"{table}_seq")
			name = f"{'shtax' if shipping else 'tax'}{taxid}"
			lines = "vtiger_inventoryshippingrel" if shipping else "vtiger_inventoryproductrel"
			conn.execute(text(f"ALTER TABLE {lines} ADD COLUMN {name} decimal(7,3) DEFAULT NULL"))
			self._insert(
				conn,
				table,
				{
					"taxid": taxid,
					"taxname": name,
					"taxlabel": label,
					"percentage": percentage,
					"deleted": 0,
					"method": "Simple",
					"type": "Fixed",
					"compoundon": "[]",
					"regions": "[]",
				},
			)
		self._column_cache.pop(lines, None)
		return name

	# -----------------------------------------------------------------------------------------------------------
	# Changes
	# -----------------------------------------------------------------------------------------------------------

	def update(self, crmid: int, *, at: datetime, table: str | None = None, **values: Any) -> None:
		"""Update columns of the record's module table (or `table`, e.g. vtiger_salesordercf) as a save does.

		Bumps modifiedtime to `at`, refreshes the label and the e-mail/phone lookups, logs ModTracker status 0.
		Totals are not recomputed; use set_lines for line changes.
		"""
		with self.engine.begin() as conn:
			module = self._setype(conn, crmid)
			base_table = self._entity(conn, module)["tablename"]
			table = table or base_table
			if values:
				columns = self._columns(conn, table)
				unknown = set(values) - set(columns)
				if unknown:
					raise ValueError(f"{table} has no columns {sorted(unknown)}")
				assignments = ", ".join(f"{_ident(c)} = :v{i}" for i, c in enumerate(values))
				params = {f"v{i}": _db_value(v) for i, v in enumerate(values.values())}
				idcol = self._id_column(conn, table)
				conn.execute(
					text(f"UPDATE {_ident(table)} SET {assignments} WHERE {_ident(idcol)} = :crmid"),
					{**params, "crmid": crmid},
				)
			self._touch(conn, module, crmid, at)

	def set_lines(
		self,
		salesorder_id: int,
		lines: Sequence[Mapping[str, Any]],
		*,
		at: datetime,
		round_totals: bool = True,
	) -> None:
		"""Replace an order's lines as a UI save does (delete + insert, new lineitem_ids) and recompute totals.

		The header's taxtype, discounts, S&H (from the charges JSON) and adjustment are kept. A UI save stores
		totals rounded to 2 decimals, hence `round_totals=True`.
		"""
		with self.engine.begin() as conn:
			module = self._setype(conn, salesorder_id)
			header = (
				conn.execute(
					text(
						"SELECT taxtype, discount_percent, discount_amount, s_h_amount, adjustment "
						"FROM vtiger_salesorder WHERE salesorderid = :id"
					),
					{"id": salesorder_id},
				)
				.mappings()
				.one()
			)
			charges = conn.execute(
				text("SELECT charges FROM vtiger_inventorychargesrel WHERE recordid = :id"),
				{"id": salesorder_id},
			).scalar()
			sh_tax = Decimal(0)
			for charge in json.loads(charges or "{}").values():
				if charge.get("value") is not None:
					sh_tax += (
						_dec(charge["value"]) * sum(_dec(p) for p in charge.get("taxes", {}).values()) / 100
					)
			line_rows = self._line_rows(conn, lines, header["taxtype"])
			totals = self._totals(line_rows, dict(header), sh_tax, round_totals)
			conn.execute(text("DELETE FROM vtiger_inventoryproductrel WHERE id = :id"), {"id": salesorder_id})
			self._insert_lines(conn, salesorder_id, line_rows)
			conn.execute(
				text(
					"UPDATE vtiger_salesorder SET subtotal = :subtotal, pre_tax_total = :pre_tax_total, total = :total "
					"WHERE salesorderid = :id"
				),
				{**totals, "id": salesorder_id},
			)
			self._touch(conn, module, salesorder_id, at)

	def delete(self, crmid: int, *, at: datetime, remove_lines: bool = False) -> None:
		"""Soft delete (Recycle Bin) exactly as VTiger: deleted=1, modifiedtime=at, dependents unlinked.

		Dependents (a contact's orders, an account's contacts) get their reference set to 0 WITHOUT a
		modifiedtime change; vtiger_relatedlists_rb keeps what was unlinked. `remove_lines=True` mimics a
		webservice delete, which also drops the record's vtiger_inventoryproductrel rows (a UI delete keeps them).
		"""
		with self.engine.begin() as conn:
			module = self._setype(conn, crmid)
			conn.execute(
				text(
					"UPDATE vtiger_crmentity SET deleted = 1, modifiedtime = :at, modifiedby = :user WHERE crmid = :id"
				),
				{"at": at, "user": self.user_id, "id": crmid},
			)
			self._insert(
				conn,
				"vtiger_relatedlists_rb",
				self._rb_row(crmid, "vtiger_crmentity", "deleted", "crmid", ""),
			)
			for table, column, idcol in UNLINKED_ON_DELETE.get(module, ()):
				ids = conn.execute(
					text(
						f"SELECT {_ident(idcol)} FROM {_ident(table)} WHERE {_ident(column)} = :id ORDER BY 1"
					),
					{"id": crmid},
				).scalars()
				ids = [str(i) for i in ids]
				if ids:
					self._insert(
						conn,
						"vtiger_relatedlists_rb",
						self._rb_row(crmid, table, column, idcol, ",".join(ids)),
					)
					conn.execute(
						text(f"UPDATE {_ident(table)} SET {_ident(column)} = 0 WHERE {_ident(column)} = :id"),
						{"id": crmid},
					)
			if module == "Contacts":
				conn.execute(
					text("UPDATE vtiger_customerdetails SET portal = '0' WHERE customerid = :id"),
					{"id": crmid},
				)
			if remove_lines:
				conn.execute(text("DELETE FROM vtiger_inventoryproductrel WHERE id = :id"), {"id": crmid})
			conn.execute(text("DELETE FROM vtiger_emailslookup WHERE crmid = :id"), {"id": crmid})
			conn.execute(text("DELETE FROM vtiger_pbxmanager_phonelookup WHERE crmid = :id"), {"id": crmid})
			self._track(conn, module, crmid, at, 1)

	def restore(self, crmid: int, *, at: datetime) -> None:
		"""Restore from the Recycle Bin as VTiger 8.2 does (CRMEntity::restore): deleted=0, modifiedtime=at, the
		backups in vtiger_relatedlists_rb deleted WITHOUT re-linking the dependents (8.2 compares
		strtoupper($action) with the lowercase RB_RECORD_UPDATED), then ModTracker status 3."""
		with self.engine.begin() as conn:
			module = self._setype(conn, crmid)
			conn.execute(
				text(
					"UPDATE vtiger_crmentity SET deleted = 0, modifiedtime = :at, modifiedby = :user WHERE crmid = :id"
				),
				{"at": at, "user": self.user_id, "id": crmid},
			)
			conn.execute(text("DELETE FROM vtiger_relatedlists_rb WHERE entityid = :id"), {"id": crmid})
			self._track(conn, module, crmid, at, 3)

	def unlink_contact(self, account_id: int, contact_id: int, *, at: datetime) -> None:
		"""Unlink a contact in the account's Contacts related list (CRMEntity::unlinkRelationship and
		trackUnLinkedInfo): the contact's accountid becomes NULL, the ACCOUNT's modifiedtime moves, and ModTracker
		logs status 5 on the account with the contact in vtiger_modtracker_relations."""
		with self.engine.begin() as conn:
			conn.execute(
				text("UPDATE vtiger_contactdetails SET accountid = NULL WHERE contactid = :id"),
				{"id": contact_id},
			)
			conn.execute(
				text("UPDATE vtiger_crmentity SET modifiedtime = :at, modifiedby = :user WHERE crmid = :id"),
				{"at": at, "user": self.user_id, "id": account_id},
			)
			row = self._track(conn, "Accounts", account_id, at, 5)
			if row is not None:
				self._insert(
					conn,
					"vtiger_modtracker_relations",
					{"id": row, "targetmodule": "Contacts", "targetid": contact_id, "changedon": at},
				)

	def purge(self, crmid: int) -> None:
		"""Delete one record from the Recycle Bin (RecycleBin_Module_Model::deleteRecords): its backups, its
		ModTracker rows and its rows vanish without a tombstone (README section 8).

		Orphan vtiger_inventorychargesrel and vtiger_modtracker_detail rows remain, as in VTiger.
		"""
		with self.engine.begin() as conn:
			conn.execute(text("DELETE FROM vtiger_relatedlists_rb WHERE entityid = :id"), {"id": crmid})
			conn.execute(text("DELETE FROM vtiger_inventoryproductrel WHERE id = :id"), {"id": crmid})
			conn.execute(text("DELETE FROM vtiger_modtracker_basic WHERE crmid = :id"), {"id": crmid})
			conn.execute(text("DELETE FROM vtiger_productcurrencyrel WHERE productid = :id"), {"id": crmid})
			conn.execute(text("DELETE FROM vtiger_crmentity WHERE crmid = :id"), {"id": crmid})

	def set_modifiedtime(self, crmid: int, at: datetime) -> None:
		"""Raw modifiedtime change, for tie and ordering tests; nothing else is written."""
		with self.engine.begin() as conn:
			conn.execute(
				text("UPDATE vtiger_crmentity SET modifiedtime = :at WHERE crmid = :id"),
				{"at": at, "id": crmid},
			)

	# -----------------------------------------------------------------------------------------------------------
	# Internals
	# -----------------------------------------------------------------------------------------------------------

	def _rb_row(self, crmid, table, column, idcol, ids) -> dict:
		return {
			"entityid": crmid,
			"action": "update",
			"rel_table": table,
			"rel_column": column,
			"ref_column": idcol,
			"related_crm_ids": ids,
		}

	def _next_time(self, at: datetime | None) -> datetime:
		self._created += 1
		return at if at is not None else self.base_time + timedelta(seconds=self._created - 1)

	def _next_id(self, conn: Connection, seq_table: str) -> int:
		"""VTiger's (ADOdb ``GenID``) counter: the _seq row holds the last id used. Like ADOdb, the first id asked
		of a counter that does not exist yet creates it (a fresh install has no ``vtiger_modtracker_basic_seq``
		until its first tracked save)."""
		bump = text(f"UPDATE {_ident(seq_table)} SET id = LAST_INSERT_ID(id + 1)")
		try:
			result = conn.execute(bump)
		except ProgrammingError as exc:
			if exc.orig.args[0] != NO_SUCH_TABLE:
				raise
			conn.execute(text(f"CREATE TABLE IF NOT EXISTS {_ident(seq_table)} (id INT NOT NULL)"))
			if not conn.execute(text(f"SELECT COUNT(*) FROM {_ident(seq_table)}")).scalar_one():
				conn.execute(text(f"INSERT INTO {_ident(seq_table)} VALUES (0)"))
			result = conn.execute(bump)
		if result.rowcount != 1:
			raise LookupError(f"{seq_table} must hold exactly one row")
		return conn.execute(text("SELECT LAST_INSERT_ID()")).scalar_one()

	def _next_record_number(self, conn: Connection, module: str) -> str:
		"""prefix||cur_id is the number; cur_id is then incremented keeping its zero padding (setModuleSeqNumber)."""
		found = conn.execute(
			text(
				"SELECT prefix, cur_id FROM vtiger_modentity_num WHERE semodule = :m AND active = 1 FOR UPDATE"
			),
			{"m": module},
		).one_or_none()
		if found is None:
			raise LookupError(f"no active vtiger_modentity_num row for {module}")
		prefix, cur_id = found
		following = str(int(cur_id) + 1).zfill(len(cur_id))
		conn.execute(
			text(
				"UPDATE vtiger_modentity_num SET cur_id = :new WHERE semodule = :m AND active = 1 AND cur_id = :cur"
			),
			{"new": following, "m": module, "cur": cur_id},
		)
		return f"{prefix}{cur_id}"

	def _new_entity(self, conn, module, row, description, owner, at) -> tuple[int, str, datetime]:
		"""Counters, then the vtiger_crmentity row (it must exist before any module row: foreign keys)."""
		at = self._next_time(at)
		crmid = self._next_id(conn, "vtiger_crmentity_seq")
		number = self._next_record_number(conn, module)
		self._insert(
			conn,
			"vtiger_crmentity",
			{
				"crmid": crmid,
				"smcreatorid": self.user_id,
				"smownerid": owner if owner is not None else self.user_id,
				"modifiedby": self.user_id,
				"setype": module,
				"description": description,
				"createdtime": at,
				"modifiedtime": at,
				"version": 0,
				"presence": 1,
				"deleted": 0,
				"smgroupid": 0,
				"source": self.source,
				"label": self._label(conn, module, row),
			},
		)
		return crmid, number, at

	def _finish_entity(self, conn, module, crmid, at) -> None:
		"""The rows every save adds after the module rows: starred flag, lookups, ModTracker."""
		self._insert(
			conn, "vtiger_crmentity_user_field", {"recordid": crmid, "userid": self.user_id, "starred": "0"}
		)
		self._refresh_lookups(conn, module, crmid)
		# Sales orders created through the webservice are logged as 'updated' (0), everything else as created (2).
		self._track(conn, module, crmid, at, 0 if module == "SalesOrder" else 2)

	def _touch(self, conn, module, crmid, at) -> None:
		"""What any later save does to vtiger_crmentity: modifiedtime, modifiedby, label; then lookups, ModTracker."""
		base = self._entity(conn, module)
		current = (
			conn.execute(
				text(
					f"SELECT * FROM {_ident(base['tablename'])} WHERE {_ident(base['entityidfield'])} = :id"
				),
				{"id": crmid},
			)
			.mappings()
			.one()
		)
		conn.execute(
			text(
				"UPDATE vtiger_crmentity SET modifiedtime = :at, modifiedby = :user, label = :label WHERE crmid = :id"
			),
			{"at": at, "user": self.user_id, "label": self._label(conn, module, current), "id": crmid},
		)
		self._refresh_lookups(conn, module, crmid)
		self._track(conn, module, crmid, at, 0)

	def _track(self, conn, module, crmid, at, status) -> int | None:
		"""The ModTracker row of a change (its id), when ModTracker logs the module."""
		tracked = conn.execute(
			text("SELECT 1 FROM vtiger_modtracker_tabs WHERE tabid = :tabid AND visible = 1"),
			{"tabid": self._tabid(conn, module)},
		).scalar()
		if not tracked:
			return None
		row_id = self._next_id(conn, "vtiger_modtracker_basic_seq")
		self._insert(
			conn,
			"vtiger_modtracker_basic",
			{
				"id": row_id,
				"crmid": crmid,
				"module": module,
				"whodid": self.user_id,
				"changedon": at,
				"status": status,
			},
		)
		return row_id

	def _refresh_lookups(self, conn, module, crmid) -> None:
		"""vtiger_emailslookup / vtiger_pbxmanager_phonelookup: one row per non-empty e-mail / phone field."""
		conn.execute(text("DELETE FROM vtiger_emailslookup WHERE crmid = :id"), {"id": crmid})
		conn.execute(text("DELETE FROM vtiger_pbxmanager_phonelookup WHERE crmid = :id"), {"id": crmid})
		for field in self._lookup_fields(conn, module):
			idcol = self._id_column(conn, field["tablename"])
			value = conn.execute(
				text(
					f"SELECT {_ident(field['columnname'])} FROM {_ident(field['tablename'])} WHERE {_ident(idcol)} = :id"
				),
				{"id": crmid},
			).scalar()
			if value is None or str(value) == "":
				continue
			if field["uitype"] == "13":
				row = {"crmid": crmid, "setype": module, "value": value, "fieldid": field["fieldid"]}
				self._insert(conn, "vtiger_emailslookup", row)
			else:
				digits = re.sub(r"\D", "", str(value))
				row = {
					"crmid": crmid,
					"setype": module,
					"fnumber": digits,
					"rnumber": digits[::-1],
					"fieldname": field["fieldname"],
				}
				self._insert(conn, "vtiger_pbxmanager_phonelookup", row)

	def _lookup_fields(self, conn, module) -> list[dict]:
		key = ("lookup", module)
		if key not in self._meta_cache:
			self._meta_cache[key] = [
				dict(r)
				for r in conn.execute(
					text(
						"SELECT fieldid, tablename, columnname, fieldname, uitype FROM vtiger_field "
						"WHERE tabid = :tabid AND uitype IN ('11', '13') AND presence IN (0, 2) ORDER BY fieldid"
					),
					{"tabid": self._tabid(conn, module)},
				).mappings()
			]
		return self._meta_cache[key]

	def _insert_cf(self, conn, module, crmid, cf) -> None:
		"""The custom-field row: given values, VTiger's empty value for every other field column (README 10)."""
		table = CF_TABLES[module]
		idcol = ID_COLUMNS[table]
		cf = dict(cf or {})
		columns = self._columns(conn, table)
		unknown = set(cf) - set(columns)
		if unknown:
			raise ValueError(f"{table} has no columns {sorted(unknown)}")
		uitypes = dict(
			conn.execute(
				text("SELECT columnname, uitype FROM vtiger_field WHERE tablename = :t"), {"t": table}
			).all()
		)
		row = {idcol: crmid}
		for column, data_type in columns.items():
			if column == idcol:
				continue
			if column in cf:
				row[column] = cf[column]
			elif column in uitypes:
				row[column] = _empty_value(uitypes[column], data_type)
		self._insert(conn, table, row)

	def _line_rows(self, conn, lines, taxtype) -> list[dict]:
		"""vtiger_inventoryproductrel rows (without id/sequence_no), tax columns as the table has them."""
		tax_columns = [
			c for c in self._columns(conn, "vtiger_inventoryproductrel") if _TAX_COLUMN.fullmatch(c)
		]
		group = taxtype != "individual"
		group_taxes: dict[str, Any] = {}
		if group:
			for column in tax_columns:
				given = {_dec(line[column]) for line in lines if _dec(line.get(column)) != 0}
				if len(given) > 1:
					raise ValueError(f"group tax {column} differs between lines: {sorted(given)}")
				group_taxes[column] = given.pop() if given else 0
		rows = []
		for line in lines:
			unknown = set(line) - _LINE_KEYS - set(tax_columns)
			if unknown:
				raise ValueError(f"unknown line keys {sorted(unknown)}")
			row = {
				"productid": line["productid"],
				"quantity": line["quantity"],
				"listprice": line["listprice"],
				"discount_percent": line.get("discount_percent", 0),
				"discount_amount": line.get("discount_amount", 0),
				"comment": line.get("comment", ""),
				"description": line.get("description", ""),
				"incrementondel": 0,
			}
			for column in tax_columns:
				row[column] = group_taxes[column] if group else line.get(column, 0)
			row.update(
				{"image": "", "purchase_cost": line.get("purchase_cost", 0), "margin": line.get("margin", 0)}
			)
			rows.append(row)
		return rows

	def _insert_lines(self, conn, crmid, line_rows) -> None:
		for sequence_no, line in enumerate(line_rows, start=1):
			self._insert(
				conn, "vtiger_inventoryproductrel", {"id": crmid, "sequence_no": sequence_no, **line}
			)

	def _totals(self, line_rows, header, sh_tax, round_totals) -> dict[str, Decimal]:
		totals = compute_totals(
			line_rows,
			taxtype=header.get("taxtype"),
			discount_percent=header.get("discount_percent"),
			discount_amount=header.get("discount_amount"),
			sh_amount=header.get("s_h_amount"),
			sh_tax=sh_tax,
			adjustment=header.get("adjustment"),
		)
		places = _CENTS if round_totals else _EIGHT_PLACES
		return {k: v.quantize(places, rounding=ROUND_HALF_UP) for k, v in totals.items()}

	def _charges_json(self, conn, sh_amount, sh_taxes: Mapping[int, Any]) -> str:
		"""vtiger_inventorychargesrel.charges, byte for byte as VTiger writes it (README section 2)."""
		chargeid = conn.execute(
			text("SELECT MIN(chargeid) FROM vtiger_inventorycharges WHERE deleted = 0")
		).scalar_one()
		if _dec(sh_amount) != 0:
			charge = {
				"value": _num_str(sh_amount),
				"taxes": {str(t): _num_str(p) for t, p in sh_taxes.items()},
			}
		else:
			taxids = conn.execute(text("SELECT taxid FROM vtiger_shippingtaxinfo ORDER BY taxid")).scalars()
			charge = {"value": None, "taxes": {str(t): 0 for t in taxids}}
		return json.dumps({str(chargeid): charge}, separators=(",", ":"))

	def _merge(self, conn, table, row, fields) -> dict:
		"""Defaults overlaid with caller-given columns, which must exist in the table."""
		columns = self._columns(conn, table)
		unknown = set(fields) - set(columns)
		if unknown:
			raise ValueError(f"{table} has no columns {sorted(unknown)}")
		return {**row, **fields}

	def _insert_bill_ship(self, conn: Connection, tables: tuple[str, str], crmid: int, bill, ship) -> None:
		"""The bill and ship address rows VTiger writes for every account and order, empty or not."""
		for table, prefix, values in zip(tables, ("bill", "ship"), (bill, ship), strict=True):
			key = ID_COLUMNS[table]
			self._insert(conn, table, {key: crmid, **_address(prefix, values, _ACCOUNT_ADDRESS_KEYS)})

	def _insert(self, conn: Connection, table: str, row: Mapping[str, Any]) -> None:
		columns = list(row)
		sql = (
			f"INSERT INTO {_ident(table)} ({', '.join(_ident(c) for c in columns)}) "
			f"VALUES ({', '.join(f':p{i}' for i in range(len(columns)))})"
		)
		conn.execute(text(sql), {f"p{i}": _db_value(row[c]) for i, c in enumerate(columns)})

	def _columns(self, conn, table) -> dict[str, str]:
		"""column -> data_type, in table order (cached; cleared when a custom field adds a column)."""
		if table not in self._column_cache:
			rows = conn.execute(
				text(
					"SELECT column_name, data_type FROM information_schema.columns "
					"WHERE table_schema = DATABASE() AND table_name = :t ORDER BY ordinal_position"
				),
				{"t": table},
			).all()
			if not rows:
				raise LookupError(f"table {table} does not exist")
			self._column_cache[table] = {name: data_type for name, data_type in rows}
		return self._column_cache[table]

	def _id_column(self, conn, table) -> str:
		if table in ID_COLUMNS:
			return ID_COLUMNS[table]
		key = ("pk", table)
		if key not in self._meta_cache:
			self._meta_cache[key] = conn.execute(
				text(
					"SELECT column_name FROM information_schema.key_column_usage WHERE table_schema = DATABASE() "
					"AND table_name = :t AND constraint_name = 'PRIMARY' ORDER BY ordinal_position LIMIT 1"
				),
				{"t": table},
			).scalar_one()
		return self._meta_cache[key]

	def _tabid(self, conn, module) -> int:
		key = ("tabid", module)
		if key not in self._meta_cache:
			tabid = conn.execute(text("SELECT tabid FROM vtiger_tab WHERE name = :m"), {"m": module}).scalar()
			if tabid is None:
				raise LookupError(
					f"module {module} is not in vtiger_tab (was schema.sql loaded with its data?)"
				)
			self._meta_cache[key] = tabid
		return self._meta_cache[key]

	def _entity(self, conn, module) -> dict:
		key = ("entity", module)
		if key not in self._meta_cache:
			found = (
				conn.execute(
					text(
						"SELECT tablename, fieldname, entityidfield FROM vtiger_entityname WHERE modulename = :m"
					),
					{"m": module},
				)
				.mappings()
				.one_or_none()
			)
			if found is None:
				raise LookupError(f"module {module} is not in vtiger_entityname")
			self._meta_cache[key] = dict(found)
		return self._meta_cache[key]

	def _number_column(self, module) -> str:
		return {"Products": "product_no", "Services": "service_no"}[module]

	def _label(self, conn, module, values: Mapping[str, Any]) -> str:
		"""crmentity.label: the vtiger_entityname columns joined with a space, trimmed."""
		names = self._entity(conn, module)["fieldname"].split(",")
		return " ".join(str(values.get(name.strip()) or "") for name in names).strip()

	def _setype(self, conn, crmid) -> str:
		module = conn.execute(
			text("SELECT setype FROM vtiger_crmentity WHERE crmid = :id"), {"id": crmid}
		).scalar()
		if module is None:
			raise LookupError(f"no vtiger_crmentity row {crmid}")
		return module
