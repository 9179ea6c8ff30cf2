"""End-to-end syncs of the insurance household preset: one policy becomes a household in ERPNext."""

from __future__ import annotations

import frappe
from frappe.utils.password import get_decrypted_password

from vtigercrm_sync.config.config import load_preset
from vtigercrm_sync.constants import SETTING_DOCTYPE
from vtigercrm_sync.tests.utils import VTigerSyncTestCase, lines_of

SSN = "123-45-6789"
SPOUSE_SSN = "987-65-4321"
CARD = "4111111111111111"

LABELS = {"cf_2141": "Policy Status", "cf_2115": "FFM App ID", "cf_2293": "Owner First Name"}


class InsuranceTestCase(VTigerSyncTestCase):
	"""A household policy (owner, spouse, two dependents, card, bank) and a cancelled one, synced once."""

	preset = "insurance_household"

	@classmethod
	def prepare_vtiger(cls):
		preset = load_preset("insurance_household")
		columns = {s for e in preset.entities for f in e.fields for s in f.sources if s.startswith("cf_")}
		# Text columns throughout, as the old install had: its dates are typed in, so impossible ones happen.
		for column in sorted(columns | {"cf_2141"}):
			cls.writer.add_custom_field_as(
				"SalesOrder", column, LABELS.get(column, f"Policy {column}"), "text", 100
			)

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		cls.plan = cls.writer.create_product(f"Silver 70 {cls.run_id}", unit_price=0, at=cls.tick())
		cls.household = cls.writer.create_account(f"Household {cls.run_id}", at=cls.tick())
		cls.policy = cls.create_policy(
			"Active",
			owner=("Ana", cls.name("García")),
			spouse=("Luis", cls.name("García")),
			dependents=[("Sofía", cls.name("García")), ("Mateo", cls.name("García"))],
		)
		cls.cancelled = cls.create_policy("Cancelación", owner=("Olga", cls.name("Иванова")))
		cls.first = cls.sync()

	@classmethod
	def create_policy(cls, status, owner, spouse=None, dependents=(), **extra):
		cf = {
			"cf_2141": status,
			"cf_2059": "2025-01-01",
			"cf_2115": "FFM-42",
			"cf_2037": "Silver 70 HMO",
			"cf_2293": owner[0],
			"cf_2297": owner[1],
			"cf_2299": "1980-05-17",
			"cf_2321": SSN,
			"cf_2303": "F",
			"cf_2737": "200 Ocean Dr",
			"cf_2739": "Miami",
			"cf_2765": "FL",
			"cf_2743": "33139",
			"cf_1465": CARD,
			"cf_1473": "12/27",
			"cf_2157": "Credit",
			"cf_1471": f"Chase {cls.run_id}",
			"cf_1479": "Household checking",
			"cf_1475": "021000021",
		}
		if spouse:
			cf.update({"cf_2347": spouse[0], "cf_2351": spouse[1], "cf_2357": SPOUSE_SSN, "cf_2359": "M"})
		for (first, last), (first_col, last_col) in zip(
			dependents, (("cf_2405", "cf_2409"), ("cf_2443", "cf_2447")), strict=False
		):
			cf.update({first_col: first, last_col: last})
		cf.update(extra)
		return cls.writer.create_sales_order(
			f"Policy {owner[1]}",
			account_id=cls.household,
			lines=[{"productid": cls.plan, "quantity": 1, "listprice": 0}],
			cf=cf,
			at=cls.tick(),
		)


class TestInsuranceSync(InsuranceTestCase):
	def test_household_documents_and_links(self):
		self.assertEqual(self.first.status, "Success", [(l.action, l.message) for l in lines_of(self.first)])
		customer = self.find("Customer", f"{self.policy}:owner")
		self.assertEqual(
			frappe.db.get_value("Customer", customer, "customer_name"), f"Ana {self.name('García')}"
		)
		owner = self.find("Contact", f"{self.policy}:owner")
		spouse = self.find("Contact", f"{self.policy}:spouse")
		dependents = [self.find("Contact", f"{self.policy}:dependent-{n}") for n in (1, 2)]
		self.assertTrue(all([owner, spouse, *dependents]))
		self.assertIsNone(self.find("Contact", f"{self.policy}:dependent-3"))
		for contact in (owner, spouse, *dependents):
			self.assertIn(("Customer", customer), self.links_of("Contact", contact))
		self.assertEqual(frappe.db.get_value("Customer", customer, "customer_primary_contact"), owner)
		address = self.find("Address", f"{self.policy}:household")
		self.assertEqual(frappe.db.get_value("Customer", customer, "customer_primary_address"), address)
		so = frappe.get_doc("Sales Order", self.find("Sales Order", self.policy))
		self.assertEqual((so.customer, so.contact_person, so.customer_address), (customer, owner, address))
		self.assertEqual(so.vtiger_ffm_app_id, "FFM-42")
		self.assertEqual(str(so.transaction_date), "2025-01-01")

	def test_filtered_policy_is_logged_not_synced(self):
		self.assertIsNone(self.find("Sales Order", self.cancelled))
		prefix = frappe.db.get_value(SETTING_DOCTYPE, self.connection, "id_prefix")
		filtered = [
			l for l in lines_of(self.first) if l.action == "Filtered" and l.vtiger_record == self.cancelled
		]
		self.assertEqual([l.vtiger_id for l in filtered], [f"{prefix}{self.cancelled}"])
		self.assertIn("Cancelación", filtered[0].message)

	def test_card_is_masked_and_ssn_encrypted(self):
		card = frappe.get_doc("Bank Card", self.find("Bank Card", f"{self.policy}:card"))
		self.assertEqual(
			(card.card_last4, card.brand, card.expiry_month, card.expiry_year), ("1111", "Visa", 12, 2027)
		)
		self.assertNotIn(CARD, card.name + (card.masked_number or ""))
		self.assertFalse(card.card_number)
		owner = self.find("Contact", f"{self.policy}:owner")
		self.assertEqual(frappe.db.get_value("Contact", owner, "vtiger_ssn_last4"), "6789")
		self.assertNotEqual(frappe.db.get_value("Contact", owner, "vtiger_ssn"), "123456789")
		self.assertEqual(get_decrypted_password("Contact", owner, "vtiger_ssn"), "123456789")
		bank = frappe.get_doc("Bank Account", self.find("Bank Account", f"{self.policy}:bank"))
		self.assertEqual(
			(bank.party_type, bank.party), ("Customer", self.find("Customer", f"{self.policy}:owner"))
		)

	def test_no_ssn_or_card_number_in_logs(self):
		bad = self.create_policy("Active", owner=("Kim", self.name("Lee")), cf_2059="2023-02-30")
		log = self.sync()
		failed = [l for l in lines_of(log) if l.vtiger_record == bad]
		self.assertTrue(
			failed and failed[0].action == "Failed", [(l.action, l.message) for l in lines_of(log)]
		)
		self.assertIn("transaction_date", failed[0].message)
		texts = [l.message or "" for l in lines_of(log)] + [log.error_summary or ""]
		texts += frappe.get_all("Error Log", filters={"creation": [">=", log.started_at]}, pluck="error")
		for secret in (SSN, "123456789", SPOUSE_SSN, "987654321", CARD):
			self.assertFalse([t for t in texts if secret in t], secret)
