"""Real VTiger data lands whole, with VTiger's totals, out of the box.

The data is what VTiger writes (``tests/vtiger_writer.py``) with what real installs hold: non-ASCII in every text
column (names, cities, e-mail local parts), phones ERPNext refuses, fractional quantities in each kind of unit,
individual and group taxes with discounts, shipping and its tax and adjustments whose totals need cents spread,
orders that share or differ from their account's addresses, removals in VTiger, a currency other than the
company's, and two connections whose VTiger product numbers repeat.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import frappe
from frappe.utils import flt

from vtigercrm_sync.constants import LOG_DOCTYPE, SETTING_DOCTYPE
from vtigercrm_sync.tests.utils import DATABASE, VTigerSyncTestCase
from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync import form_create_tax_accounts


def half_up(value) -> float:
	return float(Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP))


class RealDataTestCase(VTigerSyncTestCase):
	"""Products in each kind of usage unit, and helpers to read what landed."""

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		w = cls.writer
		cls.widget = w.create_product(cls.name("Widget Ø"), unit_price=10, usageunit="Each", at=cls.tick())
		cls.coffee = w.create_product(
			cls.name("Kaffee Größe L"), unit_price=12, usageunit="Lb", at=cls.tick()
		)
		cls.consulting = w.create_service(
			cls.name("Conseil é"), unit_price=80, usageunit="Hours", at=cls.tick()
		)
		cls.support = w.create_service(
			cls.name("Support 日本"), unit_price=45, usageunit="Incidents", at=cls.tick()
		)

	def order_doc(self, order: int, connection: str | None = None):
		return frappe.get_doc("Sales Order", self.find("Sales Order", order, connection))

	def vtiger_total(self, order: int) -> float:
		return half_up(
			self.vtiger_value("SELECT total FROM vtiger_salesorder WHERE salesorderid = :id", id=order)
		)

	def lines_of(self, log, record: int) -> list[tuple[str, str]]:
		return [(line.action, line.message or "") for line in log.lines if line.vtiger_record == record]


class TestRealDataLandsWhole(RealDataTestCase):
	"""A connection as the form creates it, with its tax accounts mapped in one click."""

	@classmethod
	def make_connection(cls, **overrides):
		return super().make_connection(tax_accounts=[], **overrides)

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		w = cls.writer
		cls.soren = w.create_account(
			cls.name("Søren's Smørrebrød ApS"),
			bill={"street": "Nørrebrogade 1", "city": "København", "code": "2200", "country": "Danmark"},
			ship={"street": "Havnegade 2", "city": "Århus", "code": "8000", "country": "Schweiz"},
			at=cls.tick(),
		)
		cls.lukasz = w.create_account(
			cls.name("Łukasz Żółć Sp. k."),
			bill={"street": "ul. Floriańska 3", "city": "Kraków", "code": "31-019", "country": "Polska"},
			at=cls.tick(),
		)
		cls.chloe = w.create_contact(
			"Dubois",
			firstname="Chloé",
			account_id=cls.soren,
			email=f"chloé.{cls.run_id}@example.org",
			phone="+45 12 34 56 78 ext. 9",
			mailing={"street": "Vesterbrogade 7", "city": "København", "country": "Atlantis"},
			at=cls.tick(),
		)
		cls.nowak = w.create_contact(
			"Nowak",
			firstname="Łucja",
			account_id=cls.lukasz,
			email=f"lucja.{cls.run_id}@example.pl",
			mobile="+48 601 234 567",
			at=cls.tick(),
		)
		cls.individual = w.create_sales_order(
			cls.name("Individual"),
			account_id=cls.soren,
			contact_id=cls.chloe,
			taxtype="individual",
			lines=[
				{"productid": cls.widget, "quantity": 3, "listprice": "33.335", "tax1": 4.5},
				{
					"productid": cls.coffee,
					"quantity": "1.5",
					"listprice": "12.99",
					"tax2": 10,
					"discount_percent": 5,
				},
			],
			discount_percent=5,
			sh_amount="10.10",
			sh_tax_percent="4.5",
			adjustment="-0.335",
			bill={"street": "Nørrebrogade 1", "city": "København", "code": "2200", "country": "Danmark"},
			ship={"street": "Havnegade 2", "city": "Århus", "code": "8000", "country": "Schweiz"},
			at=cls.tick(),
		)
		cls.group = w.create_sales_order(
			cls.name("Group"),
			account_id=cls.soren,
			contact_id=cls.chloe,
			taxtype="group",
			lines=[
				{
					"productid": cls.consulting,
					"quantity": "2.25",
					"listprice": "80.333",
					"tax1": 4.5,
					"tax3": 12.5,
				},
				{"productid": cls.support, "quantity": 1, "listprice": "45.5", "tax1": 4.5, "tax3": 12.5},
			],
			discount_amount="7.77",
			sh_amount=5,
			sh_tax_percent="4.5",
			adjustment="1.01",
			at=cls.tick(),
		)
		cls.untaxed = w.create_sales_order(
			cls.name("Untaxed"),
			account_id=cls.lukasz,
			contact_id=cls.nowak,
			lines=[
				{"productid": cls.widget, "quantity": "2.5", "listprice": 10},
				{"productid": cls.coffee, "quantity": "0.75", "listprice": "12.99"},
				{"productid": cls.consulting, "quantity": "2.25", "listprice": 80},
				{"productid": cls.support, "quantity": "1.5", "listprice": 45},
			],
			bill={"street": "ul. Floriańska 3", "city": "Kraków", "code": "31-019", "country": "Polska"},
			ship={"street": "Magazynowa 9", "city": "Wieliczka", "code": "32-020", "country": "Polska"},
			at=cls.tick(),
		)
		cls.same_ship = w.create_sales_order(
			cls.name("Same shipping"),
			account_id=cls.lukasz,
			lines=[{"productid": cls.widget, "quantity": 1, "listprice": "19.99"}],
			bill={"street": "ul. Floriańska 3", "city": "Kraków", "code": "31-019", "country": "Polska"},
			ship={"street": "Magazynowa  9", "city": "wieliczka", "code": "32-020", "country": "Polska"},
			at=cls.tick(),
		)
		cls.overdiscounted = w.create_sales_order(
			cls.name("Discount beyond the total"),
			account_id=cls.lukasz,
			taxtype="group",
			lines=[{"productid": cls.widget, "quantity": 2, "listprice": "3.75"}],
			discount_amount="7.77",
			at=cls.tick(),
		)
		cls.first = cls.sync()
		# The other classes share this VTiger database: they must not meet an order that can never land.
		cls.addClassCleanup(cls.writer.delete, cls.overdiscounted, at=cls.tick())

	def test_countries_in_any_language_and_an_unknown_one(self):
		self.assertEqual(
			frappe.db.get_value("Address", self.find("Address", f"{self.soren}:billing"), "country"),
			"Denmark",
		)
		self.assertEqual(
			frappe.db.get_value("Address", self.find("Address", f"{self.soren}:shipping"), "country"),
			"Switzerland",
		)
		self.assertEqual(
			frappe.db.get_value("Address", self.find("Address", f"{self.lukasz}:billing"), "country"),
			"Poland",
		)
		mailing = frappe.get_doc("Address", self.find("Address", f"{self.chloe}:mailing"))
		self.assertEqual(mailing.country, "United States", "the connection's default")
		self.assertIn("Atlantis", mailing.vtiger_refused)
		warnings = [m for a, m in self.lines_of(self.first, self.chloe) if a == "Warning"]
		self.assertTrue(any("Atlantis" in m for m in warnings), warnings)

	def test_an_order_with_a_negative_total_fails_with_what_to_do(self):
		"""VTiger lets a discount exceed the order; ERPNext keeps no Sales Order with a negative total."""
		self.assertEqual(self.vtiger_total(self.overdiscounted), -0.27)
		self.assertIsNone(self.find("Sales Order", self.overdiscounted))
		failed = [m for a, m in self.lines_of(self.first, self.overdiscounted) if a == "Failed"]
		self.assertTrue(any("-0.27" in m and "negative total" in m for m in failed), failed)

	def test_first_run_lands_every_contact_and_untaxed_order(self):
		log = self.first
		self.assertEqual(log.status, "Partial Success", log.error_summary)
		for crmid in (self.soren, self.lukasz):
			self.assertTrue(self.find("Customer", crmid))
		for crmid in (self.chloe, self.nowak):
			self.assertTrue(self.find("Contact", crmid))
		for crmid in (self.untaxed, self.same_ship):
			self.assertTrue(self.find("Sales Order", crmid), self.lines_of(log, crmid))
		failed = {line.vtiger_record for line in log.lines if line.action == "Failed"}
		self.assertEqual(
			failed,
			{self.individual, self.group, self.overdiscounted},
			[(l.action, l.message) for l in log.lines],
		)

	def test_a_refused_email_and_phone_are_kept_on_the_contact_and_said(self):
		contact = frappe.get_doc("Contact", self.find("Contact", self.chloe))
		self.assertEqual((contact.first_name, contact.last_name), ("Chloé", "Dubois"))
		self.assertEqual(contact.email_ids, [])
		self.assertEqual(contact.phone_nos, [])
		self.assertIn(f"chloé.{self.run_id}@example.org", contact.vtiger_refused)
		self.assertIn("+45 12 34 56 78 ext. 9", contact.vtiger_refused)
		warnings = [m for a, m in self.lines_of(self.first, self.chloe) if a == "Warning"]
		self.assertTrue(any("refused by ERPNext" in m and "chloé" in m for m in warnings), warnings)
		self.assertTrue(any("phone" in m.lower() for m in warnings), warnings)

	def test_fractional_quantities_land_in_every_kind_of_unit(self):
		so = self.order_doc(self.untaxed)
		widget, coffee, consulting, support = so.items
		self.assertEqual((widget.uom, widget.qty, flt(widget.rate)), ("Nos", 1, 25.0))
		self.assertIn("2.5 Each", widget.description)
		self.assertEqual((coffee.uom, coffee.qty), ("Pound", 0.75))
		self.assertEqual((consulting.uom, consulting.qty), ("Hour", 2.25))
		self.assertEqual((support.uom, support.qty), ("Incidents", 1.5))
		self.assertEqual(frappe.db.get_value("UOM", "Incidents", "must_be_whole_number"), 0)
		self.assertEqual(flt(so.grand_total, 2), self.vtiger_total(self.untaxed))
		warnings = [m for a, m in self.lines_of(self.first, self.untaxed) if a == "Warning"]
		self.assertTrue(any("2.5" in m and "whole units" in m for m in warnings), warnings)

	def test_the_account_keeps_its_addresses_and_orders_reuse_identical_ones(self):
		customer = self.find("Customer", self.lukasz)
		billing = self.find("Address", f"{self.lukasz}:billing")
		self.assertEqual(frappe.db.get_value("Customer", customer, "customer_primary_address"), billing)
		first, second = self.order_doc(self.untaxed), self.order_doc(self.same_ship)
		self.assertEqual(first.customer_address, billing)
		self.assertEqual(second.customer_address, billing)
		own_shipping = self.find("Address", f"{self.untaxed}:shipping")
		self.assertEqual(first.shipping_address_name, own_shipping)
		self.assertEqual(second.shipping_address_name, own_shipping, "identical but for case and spaces")
		self.assertEqual(frappe.db.get_value("Address", own_shipping, "is_primary_address"), 0)
		self.assertEqual(
			frappe.db.count(
				"Dynamic Link", {"link_doctype": "Customer", "link_name": customer, "parenttype": "Address"}
			),
			2,
		)

	def test_an_order_with_an_unmapped_tax_fails_with_what_to_map(self):
		self.assertIsNone(self.find("Sales Order", self.individual))
		messages = [m for a, m in self.lines_of(self.first, self.individual) if a == "Failed"]
		self.assertTrue(any("VAT (tax1)" in m and "Create Tax Accounts" in m for m in messages), messages)


class TestTaxAccountsOutOfTheBox(RealDataTestCase):
	"""No tax account mapped; one click creates and maps them; Full Resync then lands VTiger's totals, and a
	changed account rewrites exactly the orders that carry it."""

	@classmethod
	def make_connection(cls, **overrides):
		return super().make_connection(tax_accounts=[], **overrides)

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		w = cls.writer
		cls.account = w.create_account(
			cls.name("Ærø Bryghus"), bill={"street": "Vestergade 1", "city": "Ærøskøbing"}, at=cls.tick()
		)
		cls.orders = {
			"individual": w.create_sales_order(
				cls.name("Tax individual"),
				account_id=cls.account,
				taxtype="individual",
				lines=[
					{"productid": cls.widget, "quantity": 3, "listprice": "33.335", "tax1": 4.5},
					{"productid": cls.coffee, "quantity": "1.5", "listprice": "12.99", "tax2": 10},
				],
				discount_percent=5,
				sh_amount="10.10",
				sh_tax_percent="4.5",
				adjustment="-0.335",
				at=cls.tick(),
			),
			"group": w.create_sales_order(
				cls.name("Tax group"),
				account_id=cls.account,
				taxtype="group",
				lines=[
					{"productid": cls.consulting, "quantity": "2.25", "listprice": "80.333", "tax3": 12.5},
					{"productid": cls.widget, "quantity": 7, "listprice": "0.995", "tax3": 12.5},
				],
				discount_amount="7.77",
				at=cls.tick(),
			),
			"untaxed": w.create_sales_order(
				cls.name("Tax none"),
				account_id=cls.account,
				lines=[{"productid": cls.widget, "quantity": 3, "listprice": "33.335"}],
				at=cls.tick(),
			),
		}
		cls.first = cls.sync()

	def test_create_map_resync_and_remap(self):
		self.assertIsNone(self.find("Sales Order", self.orders["individual"]))
		self.assertIsNone(self.find("Sales Order", self.orders["group"]))
		untaxed = self.find("Sales Order", self.orders["untaxed"])
		self.assertEqual(
			flt(frappe.db.get_value("Sales Order", untaxed, "grand_total"), 2),
			self.vtiger_total(self.orders["untaxed"]),
		)

		answer = form_create_tax_accounts(self.connection)
		doc = frappe.get_doc(SETTING_DOCTYPE, self.connection)
		mapped = {row.vtiger_tax: row.account_head for row in doc.tax_accounts}
		self.assertTrue({"tax1", "tax2", "tax3", "shtax1", "shipping", "adjustment"} <= set(mapped), mapped)
		self.assertEqual(mapped["tax1"], mapped["shtax1"], "VAT and VAT on shipping share VTiger's label")
		vat = frappe.get_doc("Account", mapped["tax1"])
		self.assertEqual((vat.account_name, vat.account_type, flt(vat.tax_rate)), ("VAT", "Tax", 4.5))
		self.assertEqual(frappe.db.get_value("Account", vat.parent_account, "account_type"), "Tax")
		self.assertIn(mapped["tax1"], answer["created"])
		for key in (
			"tax1",
			"tax2",
			"tax3",
			"shtax2",
			"shtax3",
		):  # "Sales" and "Service" are also income accounts
			self.assertEqual(frappe.db.get_value("Account", mapped[key], "account_type"), "Tax", key)
		self.assertEqual(frappe.db.get_value("Account", mapped["tax2"], "account_name"), "Sales Tax")

		log = self.sync(full=True)
		self.assertEqual(log.failed, 0, [(l.action, l.message) for l in log.lines])
		for key in ("individual", "group", "untaxed"):
			so = self.order_doc(self.orders[key])
			self.assertEqual(flt(so.grand_total, 2), self.vtiger_total(self.orders[key]), key)
			self.assertEqual(flt(so.rounded_total), 0, "no rounding on top of VTiger's total")
		# The VTiger database is shared with the other classes: a full resync also lands their taxed orders.
		self.assertEqual(log.updated, 0, "the untaxed order and the customer are not touched by tax accounts")
		written = self.written_by(log)
		self.assertEqual({doctype for doctype, _ in written}, {"Sales Order"}, written)

		other = frappe.get_doc(
			{
				"doctype": "Account",
				"account_name": f"Service Tax {self.run_id}",
				"company": self.company,
				"parent_account": vat.parent_account,
				"account_type": "Tax",
			}
		).insert()
		doc.reload()
		for row in doc.tax_accounts:
			if row.vtiger_tax == "tax3":
				row.account_head = other.name
		doc.save()
		log = self.sync(full=True)
		self.assertEqual((log.created, log.failed), (0, 0), [(l.action, l.message) for l in log.lines])
		rewritten = {vtiger_id for _, vtiger_id in self.written_by(log)}
		carrying_tax3 = {
			so.vtiger_id
			for so in frappe.get_all(
				"Sales Order", filters={"vtiger_id": ("in", list(rewritten))}, fields=["name", "vtiger_id"]
			)
			if frappe.db.exists("Sales Taxes and Charges", {"parent": so.name, "vtiger_tax": "tax3"})
		}
		self.assertEqual(rewritten, carrying_tax3)
		self.assertEqual(log.updated, len(rewritten))
		self.assertIn(self.order_doc(self.orders["group"]).vtiger_id, rewritten)
		self.assertNotIn(self.order_doc(self.orders["individual"]).vtiger_id, rewritten)
		group = self.order_doc(self.orders["group"])
		self.assertIn(other.name, [row.account_head for row in group.taxes])
		self.assertEqual(flt(group.grand_total, 2), self.vtiger_total(self.orders["group"]))


class TestWhatVTigerRemovesERPNextRemoves(RealDataTestCase):
	def test_removed_email_phone_and_discount(self):
		account = self.writer.create_account(
			self.name("Müller & Söhne"), website="https://mueller.example", at=self.tick()
		)
		contact = self.writer.create_contact(
			"Müller",
			firstname="Jürgen",
			account_id=account,
			email=f"j.{self.run_id}@example.de",
			phone="+49 40 123456",
			at=self.tick(),
		)
		order = self.writer.create_sales_order(
			self.name("Discounted"),
			account_id=account,
			contact_id=contact,
			lines=[{"productid": self.widget, "quantity": 2, "listprice": 50}],
			discount_percent=10,
			at=self.tick(),
		)
		self.sync()
		so = self.order_doc(order)
		self.assertEqual(flt(so.discount_amount), 10.0)
		self.writer.update(contact, at=self.tick(), email="", phone="")
		self.writer.update(account, at=self.tick(), website="")
		self.writer.update(
			order, at=self.tick(), discount_percent=None, total=100, subtotal=100, pre_tax_total=100
		)
		log = self.sync()
		self.assertEqual(log.failed, 0, [(l.action, l.message) for l in log.lines])
		person = frappe.get_doc("Contact", self.find("Contact", contact))
		self.assertEqual(
			(person.email_ids, person.phone_nos, person.email_id or "", person.phone or ""), ([], [], "", "")
		)
		self.assertFalse(frappe.db.get_value("Customer", self.find("Customer", account), "website"))
		so = self.order_doc(order)
		self.assertEqual((flt(so.discount_amount), flt(so.grand_total)), (0.0, 100.0))

	def test_list_prices_with_three_decimals_keep_vtigers_total(self):
		"""ERPNext rounds each rate to the cent (12 x 46.595 becomes 12 x 46.60), VTiger does not: the cents
		this adds up to land on the rounding row, not on the total."""
		account = self.writer.create_account(self.name("Drei Dezimalen"), at=self.tick())
		order = self.writer.create_sales_order(
			self.name("Three decimals"),
			account_id=account,
			lines=[
				{"productid": self.widget, "quantity": 12, "listprice": 46.595},
				{"productid": self.consulting, "quantity": 10, "listprice": 2.718},
			],
			adjustment=-0.335,
			at=self.tick(),
		)
		log = self.sync()
		self.assertEqual(flt(self.order_doc(order).grand_total), self.vtiger_total(order))
		self.assertFalse([m for _a, m in self.lines_of(log, order) if "differs" in m])


class TestTwoConnectionsWithTheSameProductNumbers(RealDataTestCase):
	def test_each_connection_has_its_own_items(self):
		account = self.writer.create_account(self.name("Zwei Verbindungen"), at=self.tick())
		order = self.writer.create_sales_order(
			self.name("Two connections"),
			account_id=account,
			lines=[{"productid": self.widget, "quantity": 1, "listprice": 10}],
			at=self.tick(),
		)
		other = self.make_connection(title=f"Second {self.run_id}")
		self.sync()
		self.sync(connection=other)
		mine = self.find("Item", self.widget)
		theirs = self.find("Item", self.widget, connection=other)
		self.assertTrue(mine and theirs)
		self.assertNotEqual(mine, theirs)
		number = self.vtiger_value(
			"SELECT product_no FROM vtiger_products WHERE productid = :id", id=self.widget
		)
		self.assertEqual(frappe.db.get_value("Item", mine, "item_code"), number)
		self.assertTrue(frappe.db.get_value("Item", theirs, "item_code").startswith(f"{number}-"))
		self.assertEqual(self.order_doc(order).items[0].item_code, mine)
		self.assertEqual(self.order_doc(order, connection=other).items[0].item_code, theirs)


class TestVTigerBaseCurrencyIsNotTheCompanys(RealDataTestCase):
	"""VTiger keeps its amounts against EUR; the company books in USD."""

	database = DATABASE + "_eur"  # one per checkout: VTIGER_FRAPPE_TEST_DB

	@classmethod
	def prepare_vtiger(cls):
		from sqlalchemy import text

		with cls.engine.begin() as conn:
			conn.execute(
				text(
					"UPDATE vtiger_currency_info SET currency_name = 'Euro', currency_code = 'EUR', "
					"currency_symbol = '€' WHERE defaultid = '-11'"
				)
			)
		cls.usd = cls.writer.add_currency("USD", "USA, Dollars", "$", "1.08")
		cls.gbp = cls.writer.add_currency("GBP", "Pound Sterling", "£", "0.86")
		for currency, rate in (("EUR", 1.1), ("GBP", 0)):
			frappe.db.delete("Currency Exchange", {"from_currency": currency, "to_currency": "USD"})
			if rate:
				frappe.get_doc(
					{
						"doctype": "Currency Exchange",
						"date": "2020-01-01",
						"from_currency": currency,
						"to_currency": "USD",
						"exchange_rate": rate,
						"for_selling": 1,
					}
				).insert()
		frappe.db.set_single_value("Accounts Settings", "allow_stale", 1)
		frappe.db.set_single_value("Currency Exchange Settings", "disabled", 1)

	def test_rates_come_from_erpnext_and_are_said(self):
		account = self.writer.create_account(self.name("Société Générale de Café"), at=self.tick())
		line = [{"productid": self.widget, "quantity": 2, "listprice": 50}]
		in_eur = self.writer.create_sales_order(
			self.name("EUR"), account_id=account, lines=line, at=self.tick()
		)
		in_usd = self.writer.create_sales_order(
			self.name("USD"),
			account_id=account,
			lines=line,
			currency_id=self.usd,
			conversion_rate="1.08",
			at=self.tick(),
		)
		in_gbp = self.writer.create_sales_order(
			self.name("GBP"),
			account_id=account,
			lines=line,
			currency_id=self.gbp,
			conversion_rate="0.86",
			at=self.tick(),
		)
		log = self.sync()
		eur = self.order_doc(in_eur)
		self.assertEqual((eur.currency, flt(eur.conversion_rate)), ("EUR", 1.1))
		self.assertTrue(
			any("EUR→USD" in m for a, m in self.lines_of(log, in_eur)), self.lines_of(log, in_eur)
		)
		usd = self.order_doc(in_usd)
		self.assertEqual((usd.currency, flt(usd.conversion_rate)), ("USD", 1.0))
		self.assertIsNone(self.find("Sales Order", in_gbp))
		failed = [m for a, m in self.lines_of(log, in_gbp) if a == "Failed"]
		self.assertTrue(any("no exchange rate from GBP to USD" in m for m in failed), failed)
		self.assertEqual(frappe.db.get_value(LOG_DOCTYPE, log.name, "status"), "Partial Success")
