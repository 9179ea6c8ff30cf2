"""Shared set-up of the two-way tests: the kit's real VTiger 8.2 server, its write-back fields, a connection.

The server is started once per process (``tests/vtiger_server.py``; set VTIGER_PORT, VTIGER_DB and
VTIGER_SERVER_DIR to keep it apart from other sessions). The connection reads the server's own database over SQL
and writes through its web service, as a production connection does. Records are made through the web service,
so every VTiger row is one VTiger's own code wrote.
"""

from __future__ import annotations

import json
import time
import uuid

import frappe
from frappe.tests.utils import FrappeTestCase
from sqlalchemy import create_engine, text

from vtigercrm_sync.constants import LOG_DOCTYPE, SETTING_DOCTYPE
from vtigercrm_sync.database.engine import dispose_engines
from vtigercrm_sync.syncer.services.webservice import VTigerWebService, WebServiceSettings
from vtigercrm_sync.tests.utils import CHECKOUT_TESTS

assert CHECKOUT_TESTS.is_dir()  # importing utils put the checkout's tests/ on sys.path

from vtiger_inventory import euro_currency, euro_order, inventory_rows
from vtiger_server import add_custom_field, start_server

WRITEBACK_LABELS = {
	"SalesOrder": ("ERPNext Sales Order", "ERPNext Status", "ERPNext Delivered %", "ERPNext Billed %"),
	"Accounts": ("ERPNext Customer",),
}
_server: list = []


def vtiger_server():
	"""The real VTiger server with the preset's write-back fields, added in its Layout Editor (once)."""
	if not _server:
		server = start_server()
		engine = create_engine(server.database_url())
		with engine.connect() as conn:
			for module, labels in WRITEBACK_LABELS.items():
				block = conn.execute(
					text(
						"SELECT b.blockid FROM vtiger_blocks b JOIN vtiger_tab t ON t.tabid = b.tabid "
						"WHERE t.name = :module ORDER BY b.sequence LIMIT 1"
					),
					{"module": module},
				).scalar()
				for label in labels:
					add_custom_field(server, module, label, block)
		engine.dispose()
		_server.append(server)
	return _server[0]


class TwoWayTestCase(FrappeTestCase):
	"""A connection to the real VTiger server, a web service client of the test's own, and SQL to check."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.server = vtiger_server()
		cls.engine = create_engine(cls.server.database_url())
		cls.client = VTigerWebService(
			WebServiceSettings(cls.server.url, cls.server.username, cls.server.access_key)
		)
		cls.client.login()
		cls.run_id = uuid.uuid4().hex[:6]
		cls.company = (
			frappe.db.get_single_value("Global Defaults", "default_company")
			or frappe.get_all("Company", pluck="name", limit=1)[0]
		)
		cls.connection = cls.make_connection()

	@classmethod
	def tearDownClass(cls):
		cls.engine.dispose()
		dispose_engines()
		super().tearDownClass()

	@classmethod
	def connection_values(cls, **overrides) -> dict:
		url = cls.server.database_url()
		tax_account = frappe.db.get_value(
			"Account", {"company": cls.company, "account_type": "Tax", "is_group": 0}, "name"
		)
		return {
			"doctype": SETTING_DOCTYPE,
			"title": f"VTiger {cls.__name__} {cls.run_id}",
			"enabled": 1,
			"host": url.host,
			"port": url.port or 3306,
			"database_name": url.database,
			"db_user": url.username,
			"db_password": url.password or "",
			"mapping_preset": "standard",
			"company": cls.company,
			"default_country": "United States",
			"delivery_days": 7,
			"vtiger_time_zone": "UTC",
			"vtiger_url": cls.server.url,
			"vtiger_user": cls.server.username,
			"vtiger_access_key": cls.server.access_key,
			"tax_accounts": [
				{"vtiger_tax": key, "account_head": tax_account}
				for key in ("tax1", "tax2", "tax3", "shipping", "shtax1", "shtax2", "shtax3", "adjustment")
			],
			**overrides,
		}

	@classmethod
	def make_connection(cls, **overrides) -> str:
		doc = frappe.get_doc(cls.connection_values(**overrides))
		doc.flags.ignore_permissions = True
		doc.insert()
		frappe.db.commit()
		return doc.name

	def vtiger_value(self, sql: str, **params):
		with self.engine.connect() as conn:
			return conn.execute(text(sql), params).scalar()

	def vtiger_rows(self, sql: str, **params) -> list:
		with self.engine.connect() as conn:
			return list(conn.execute(text(sql), params).mappings())

	@classmethod
	def sync(cls, connection: str | None = None):
		from vtigercrm_sync.syncer.run.job import run_sync

		time.sleep(1.1)  # a run reads what VTiger stamped strictly before its start, to the second
		run_sync(connection or cls.connection, trigger="CLI", user="Administrator")
		return frappe.get_doc(
			LOG_DOCTYPE, frappe.db.get_value(SETTING_DOCTYPE, connection or cls.connection, "last_log")
		)

	def find(self, doctype: str, vtiger_id) -> str | None:
		prefix = frappe.db.get_value(SETTING_DOCTYPE, self.connection, "id_prefix")
		return frappe.db.get_value(doctype, {"vtiger_id": f"{prefix}{vtiger_id}"}, "name")

	def name(self, text_: str) -> str:
		return f"{text_} {self.run_id}"


def ws_product(client, name: str) -> dict:
	return client.create(
		"Products",
		{"productname": name, "assigned_user_id": client.user_id, "unit_price": "10.00", "discontinued": "1"},
	)


def ws_order(client, account_id: str, product_id: str, subject: str, contact_id: str | None = None) -> dict:
	"""A Sales Order made the way VTiger's own form makes one: one line, 3 x 10.00, no taxes."""
	element = {
		"subject": subject,
		"account_id": account_id,
		"sostatus": "Created",
		"invoicestatus": "AutoCreated",
		"bill_street": "1 Main St",
		"ship_street": "1 Main St",
		"assigned_user_id": client.user_id,
		"productid": product_id,
		"currency_id": "21x1",
		"hdnTaxType": "group",
		"LineItems": [{"productid": product_id, "quantity": "3", "listprice": "10.00"}],
	}
	if contact_id:
		element["contact_id"] = contact_id
	return client.create("SalesOrder", element)


HOUSEHOLD_LABELS = (
	"HH Owner First",
	"HH Owner Last",
	"HH Dep 1 First",
	"HH Dep 1 Last",
	"HH Dep 2 First",
	"HH Dep 2 Last",
)


def household_mapping() -> dict:
	"""The insurance preset's shape in small: an order's custom fields hold the owner and a repeating group of
	dependents, each its own Contact; names push back into the member's own group columns."""
	member = {"first_name": {"from": "{first}", "push": True}, "last_name": {"from": "{last}", "push": True}}
	return {
		"streams": {"SalesOrder": {}},
		"entities": {
			"customer": {
				"source": "salesorder",
				"processor": "customer",
				"doctype": "Customer",
				"role": "owner",
				"fields": {
					"customer_name": {
						"from": ["HH Owner First", "HH Owner Last"],
						"join": " ",
						"required": True,
					},
					"customer_type": {"value": "Individual"},
				},
			},
			"owner": {
				"source": "salesorder",
				"processor": "contact",
				"doctype": "Contact",
				"role": "owner",
				"fields": {
					"first_name": {"from": "HH Owner First", "push": True},
					"last_name": {"from": "HH Owner Last", "push": True},
				},
				"links": [{"kind": "dynamic", "entity": "customer", "required": True}],
			},
			"dependent": {
				"source": "salesorder",
				"processor": "contact",
				"doctype": "Contact",
				"role": "dependent",
				"fields": member,
				"skip_if_empty": ["first_name", "last_name"],
				"links": [{"kind": "dynamic", "entity": "customer", "required": True}],
				"repeat": [
					{"first": "HH Dep 1 First", "last": "HH Dep 1 Last"},
					{"first": "HH Dep 2 First", "last": "HH Dep 2 Last"},
				],
			},
		},
	}


class HouseholdTestCase(TwoWayTestCase):
	"""A connection with :func:`household_mapping`, its columns added in VTiger's Layout Editor (once)."""

	@classmethod
	def make_connection(cls, **overrides) -> str:
		with cls.engine.connect() as conn:
			block = conn.execute(
				text(
					"SELECT b.blockid FROM vtiger_blocks b JOIN vtiger_tab t ON t.tabid = b.tabid "
					"WHERE t.name = 'SalesOrder' ORDER BY b.sequence LIMIT 1"
				)
			).scalar()
			have = {
				row[0]
				for row in conn.execute(
					text("SELECT fieldlabel FROM vtiger_field WHERE fieldlabel LIKE 'HH %'")
				)
			}
		for label in HOUSEHOLD_LABELS:
			if label not in have:
				add_custom_field(cls.server, "SalesOrder", label, block)
		return super().make_connection(
			mapping_preset="custom",
			custom_mapping=json.dumps(household_mapping()),
			sync_accounts=0,
			sync_contacts=0,
			sync_sales_orders=1,
			push_edits=1,
			**overrides,
		)

	def policy(self, holder: str) -> tuple[int, dict[str, str], dict[str, str]]:
		"""A policy (an order) whose household columns are filled, pulled: (its crmid, label -> column, label ->
		value)."""
		columns = {
			label: self.vtiger_value(
				"SELECT columnname FROM vtiger_field WHERE fieldlabel = :label", label=label
			)
			for label in HOUSEHOLD_LABELS
		}
		product = ws_product(self.client, self.name("Policy"))
		account = self.client.create(
			"Accounts", {"accountname": self.name(holder), "assigned_user_id": self.client.user_id}
		)
		values = dict(zip(HOUSEHOLD_LABELS, ("Ana", "Silva", "Bia", "Silva", "Caio", "Silva"), strict=True))
		order = ws_order(self.client, account["id"], product["id"], self.name("Policy"))
		self.client.revise({"id": order["id"], **{columns[label]: value for label, value in values.items()}})
		self.sync()
		return self.client.crmid_of(order["id"]), columns, values


def only_creator(test: TwoWayTestCase, connection: str):
	"""Make ``connection`` the one that creates new Customers in VTiger for the test."""
	others = frappe.get_all(
		SETTING_DOCTYPE, filters={"push_new_customers": 1, "name": ("!=", connection)}, pluck="name"
	)
	for other in others:
		frappe.db.set_value(SETTING_DOCTYPE, other, "push_new_customers", 0)
		test.addCleanup(frappe.db.set_value, SETTING_DOCTYPE, other, "push_new_customers", 1)
	if not frappe.db.get_value(SETTING_DOCTYPE, connection, "push_new_customers"):
		frappe.db.set_value(SETTING_DOCTYPE, connection, "push_new_customers", 1)
		test.addCleanup(frappe.db.set_value, SETTING_DOCTYPE, connection, "push_new_customers", 0)
	frappe.db.commit()
	test.addCleanup(frappe.db.commit)
