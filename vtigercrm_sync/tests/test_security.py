"""Secrets stay secret: sensitive targets, card numbers on and off, passwords and new hosts, escaped server text,
need-to-know cards and SSNs, personal data deletion, and an uninstall that leaves no encrypted value behind."""

from __future__ import annotations

import json

import frappe
from frappe.utils.password import get_decrypted_password

from vtigercrm_sync.config.config import read_json
from vtigercrm_sync.constants import BANK_CARD_DOCTYPE, SECRET_FIELDS, SETTING_DOCTYPE
from vtigercrm_sync.install import before_uninstall
from vtigercrm_sync.tests.test_sync_insurance import CARD, SSN, InsuranceTestCase
from vtigercrm_sync.tests.utils import DATABASE, VTigerSyncTestCase, lines_of, sales_user
from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync import (
	form_test_connection,
	get_vtiger_url,
)


def auth_rows(doctype: str, name: str, fieldname: str) -> int:
	return frappe.db.count("__Auth", {"doctype": doctype, "name": name, "fieldname": fieldname})


class TestSecrets(InsuranceTestCase):
	"""The insurance preset's household, with its card and SSNs, synced by a connection that keeps full numbers."""

	@classmethod
	def make_connection(cls, **overrides):
		return super().make_connection(store_full_card_number=1, **overrides)

	def tearDown(self):
		frappe.set_user("Administrator")

	def card(self, policy: int | None = None):
		return frappe.get_doc(
			BANK_CARD_DOCTYPE, self.find(BANK_CARD_DOCTYPE, f"{policy or self.policy}:card")
		)

	def test_a_full_card_number_is_kept_only_encrypted(self):
		"""This connection keeps full numbers: encrypted, and never in the card's visible fields."""
		card = self.card()
		self.assertEqual(get_decrypted_password(BANK_CARD_DOCTYPE, card.name, "card_number"), CARD)
		self.assertNotIn(CARD, json.dumps(card.as_dict(), default=str))

	def test_turning_off_full_card_numbers_purges_the_stored_ones(self):
		card = self.card()
		self.assertEqual(auth_rows(BANK_CARD_DOCTYPE, card.name, "card_number"), 1)
		doc = frappe.get_doc(SETTING_DOCTYPE, self.connection)
		doc.store_full_card_number = 0
		doc.save()
		self.addCleanup(frappe.db.set_value, SETTING_DOCTYPE, self.connection, "store_full_card_number", 1)
		self.assertEqual(auth_rows(BANK_CARD_DOCTYPE, card.name, "card_number"), 0)
		self.assertIsNone(get_decrypted_password(BANK_CARD_DOCTYPE, card.name, "card_number", False))

	def test_a_sensitive_field_goes_only_to_a_password_field(self):
		doc = frappe.get_doc(SETTING_DOCTYPE, self.connection)
		mapping = read_json("insurance_household.json")
		mapping["entities"]["owner"]["fields"]["vtiger_relationship"] = {"from": "cf_2321", "sensitive": True}
		doc.mapping_preset = "custom"
		doc.custom_mapping = json.dumps(mapping)
		with self.assertRaises(frappe.ValidationError) as raised:
			doc.save()
		self.assertIn("entities.owner.fields.vtiger_relationship", str(raised.exception))
		self.assertIn("Password field", str(raised.exception))

	def test_a_new_server_forgets_the_password(self):
		name = self.make_connection(title=f"Moving {self.run_id}", db_password="s3cret-pw")
		doc = frappe.get_doc(SETTING_DOCTYPE, name)
		self.assertEqual(doc.get_password("db_password"), "s3cret-pw")
		doc.host = "127.0.0.2"
		doc.save()
		self.assertEqual(auth_rows(SETTING_DOCTYPE, name, "db_password"), 0)
		self.assertIsNone(frappe.get_doc(SETTING_DOCTYPE, name).get_password("db_password", False))
		doc = frappe.get_doc(SETTING_DOCTYPE, name)
		doc.update({"host": "127.0.0.1", "db_password": "typed-again"})
		doc.save()
		self.assertEqual(frappe.get_doc(SETTING_DOCTYPE, name).get_password("db_password"), "typed-again")

	def test_what_the_server_says_is_escaped_before_the_form_shows_it(self):
		name = self.make_connection(title=f"Markup {self.run_id}", port=1, connect_timeout=2)
		frappe.db.set_value(SETTING_DOCTYPE, name, "host", "<img src=x onerror=alert(1)>")
		with self.assertRaises(frappe.ValidationError) as raised:
			form_test_connection(name)
		self.assertNotIn("<img", str(raised.exception))
		self.assertIn("&lt;img", str(raised.exception))

	def test_cards_and_ssns_are_need_to_know(self):
		meta = frappe.get_meta(BANK_CARD_DOCTYPE)
		for perm in meta.permissions:
			self.assertEqual((perm.export, perm.print, perm.email, perm.report), (0, 0, 0, 0), perm.role)
		email = sales_user(f"sales-{self.run_id}@example.org")
		owner = self.find("Contact", f"{self.policy}:owner")
		card = self.card().name
		frappe.set_user(email)
		self.assertFalse(frappe.has_permission(BANK_CARD_DOCTYPE, "read", card))
		contact = frappe.get_doc("Contact", owner)
		contact.apply_fieldlevel_read_permissions()
		self.assertFalse(contact.get("vtiger_ssn_last4"))
		frappe.set_user("Administrator")
		self.assertEqual(frappe.db.get_value("Contact", owner, "vtiger_ssn_last4"), "6789")

	def test_a_personal_data_deletion_request_reaches_cards_and_ssns(self):
		policy = self.create_policy("Active", owner=("Eva", self.name("Privat")))
		self.sync()
		owner = self.find("Contact", f"{policy}:owner")
		customer = self.find("Customer", f"{policy}:owner")
		email = f"ana.{self.run_id}@example.org"
		contact = frappe.get_doc("Contact", owner)
		contact.append("email_ids", {"email_id": email, "is_primary": 1})
		contact.save(ignore_permissions=True)
		frappe.db.set_value("Customer", customer, "email_id", email)
		card = self.card(policy)
		card.save(ignore_permissions=True)  # fetches the customer's e-mail
		self.assertEqual(card.customer_email, email)
		if not frappe.db.exists("User", email):
			frappe.get_doc(
				{"doctype": "User", "email": email, "first_name": "Ana", "send_welcome_email": 0}
			).insert(ignore_permissions=True)
		request = frappe.new_doc("Personal Data Deletion Request")
		request.update({"email": email, "status": "Pending Approval"})
		request.set_new_name()
		request.db_insert()  # inserting it for real would e-mail the user, and this site sends no mail
		request._anonymize_data()
		self.assertEqual(auth_rows("Contact", owner, "vtiger_ssn"), 0)
		self.assertFalse(frappe.db.get_value("Contact", owner, "vtiger_ssn_last4"))
		self.assertEqual(auth_rows(BANK_CARD_DOCTYPE, card.name, "card_number"), 0)
		self.assertEqual(frappe.db.get_value(BANK_CARD_DOCTYPE, card.name, "card_last4"), "[REDACTED]")

		# a later change of the policy in VTiger does not bring the erased data back
		owner = self.find("Contact", f"{policy}:owner")
		erased = frappe.db.get_value("Contact", owner, ["first_name", "last_name", "vtiger_birth_date"])
		self.writer.update(policy, at=self.tick(), table="vtiger_salesordercf", cf_2299="1981-06-18")
		log = self.sync()
		self.assertEqual(
			frappe.db.get_value("Contact", owner, ["first_name", "last_name", "vtiger_birth_date"]), erased
		)
		self.assertNotEqual(erased[1], self.name("Privat"))
		self.assertEqual(auth_rows("Contact", owner, "vtiger_ssn"), 0)
		self.assertEqual(frappe.db.get_value(BANK_CARD_DOCTYPE, card.name, "card_last4"), "[REDACTED]")
		self.assertIn(
			("Skipped", owner),
			{(line.action, line.target_name) for line in lines_of(log) if "erased" in (line.message or "")},
		)

	def test_uninstalling_leaves_no_encrypted_value_behind(self):
		self.assertTrue(
			sum(frappe.db.count("__Auth", {"doctype": d, "fieldname": f}) for d, f in SECRET_FIELDS)
		)
		before_uninstall()
		self.assertEqual(
			sum(frappe.db.count("__Auth", {"doctype": d, "fieldname": f}) for d, f in SECRET_FIELDS), 0
		)
		frappe.db.rollback()  # the other tests keep their secrets
		self.assertEqual(
			get_decrypted_password("Contact", self.find("Contact", f"{self.policy}:owner"), "vtiger_ssn"),
			SSN.replace("-", ""),
		)


MARKUP = "<img src=x onerror=alert(1)><b>"  # taxlabel is varchar(50)


class TestMarkupFromVTigerAndURLs(VTigerSyncTestCase):
	"""Text from VTiger reaches Desk as text, and Desk opens only http(s) VTiger URLs."""

	database = DATABASE + "_markup"

	@classmethod
	def prepare_vtiger(cls):
		cls.writer.add_tax(MARKUP, "7.5")  # this class's own database, loaded once per process

	def test_a_vtiger_tax_label_shows_as_text(self):
		frappe.local.message_log = []
		self.make_connection(title=f"Markup tax {self.run_id}")
		shown = " ".join(str(m.get("message", "")) for m in frappe.local.message_log)
		self.assertIn("&lt;img src=x onerror=alert(1)&gt;&lt;b&gt;", shown)
		self.assertNotIn("<img", shown)

	def test_only_an_http_url_is_saved_or_opened(self):
		for url in (
			"javascript:alert(1)",
			'javascript:fetch("/api/method/frappe.auth.get_logged_user")//',
			"file:///etc/passwd",
			"https://",
		):
			doc = frappe.get_doc(SETTING_DOCTYPE, self.connection)
			doc.vtiger_url = url
			with self.assertRaises(frappe.ValidationError, msg=url):
				doc.save(ignore_permissions=True)
		account = self.writer.create_account(f"Linked {self.run_id}", at=self.tick())
		self.sync()
		customer = self.find("Customer", account)
		frappe.db.set_value(
			SETTING_DOCTYPE, self.connection, "vtiger_url", "javascript:alert(document.cookie)//"
		)
		self.assertIsNone(get_vtiger_url("Customer", customer))  # saved before the check existed
		frappe.db.set_value(SETTING_DOCTYPE, self.connection, "vtiger_url", "https://crm.example.com/")
		self.assertEqual(
			get_vtiger_url("Customer", customer),
			f"https://crm.example.com/index.php?module=Accounts&view=Detail&record={account}",
		)
