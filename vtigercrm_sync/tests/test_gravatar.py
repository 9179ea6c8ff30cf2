"""A synced Contact is saved without Frappe's Gravatar lookup, as Data Import saves one; a Contact saved otherwise
still gets it.

Frappe skips the lookup under tests (``has_gravatar`` returns at once when ``in_test`` is on), so both contacts are
saved by a real ``bench worker``, whose HTTPS goes through a proxy this test runs: the proxy records the host of
every ``CONNECT`` it is asked for and refuses it, so no request leaves the machine.
"""

from __future__ import annotations

import os
import socketserver
import threading

import frappe

from vtigercrm_sync.constants import LOG_DOCTYPE, SETTING_DOCTYPE
from vtigercrm_sync.tests.utils import DATABASE, VTigerSyncTestCase, start_worker, wait_for

GRAVATAR = "secure.gravatar.com"
CONTACTS = 3


class RecordingProxy(socketserver.ThreadingTCPServer):
	"""An HTTPS proxy on 127.0.0.1 that refuses every tunnel and remembers which hosts were asked for."""

	daemon_threads = True

	def __init__(self):
		self.hosts: list[str] = []
		super().__init__(("127.0.0.1", 0), _Refuse)
		threading.Thread(target=self.serve_forever, daemon=True).start()

	@property
	def url(self) -> str:
		return f"http://127.0.0.1:{self.server_address[1]}"

	def close(self) -> None:
		self.shutdown()
		self.server_close()


class _Refuse(socketserver.StreamRequestHandler):
	def handle(self):
		request = self.rfile.readline().decode("latin-1").split()
		if len(request) >= 2 and request[0] == "CONNECT":
			self.server.hosts.append(request[1].rsplit(":", 1)[0])
		self.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")


def restore_environment(variable: str, value: str | None) -> None:
	if value is None:
		os.environ.pop(variable, None)
	else:
		os.environ[variable] = value


class TestGravatar(VTigerSyncTestCase):
	database = DATABASE + "_gravatar"  # one per checkout: VTIGER_FRAPPE_TEST_DB

	@classmethod
	def setUpClass(cls):
		super().setUpClass()
		account = cls.writer.create_account(cls.name("Avatar Co"), at=cls.tick())
		for n in range(CONTACTS):
			cls.writer.create_contact(
				f"Ångström {n}",
				firstname="Zoë",
				account_id=account,
				email=f"zoe.{n}.{cls.run_id}@example.com",
				at=cls.tick(),
			)

	def setUp(self):
		self.proxy = RecordingProxy()
		self.addCleanup(self.proxy.close)
		for variable in ("HTTPS_PROXY", "https_proxy"):  # the worker started below inherits them
			self.addCleanup(restore_environment, variable, os.environ.get(variable))
			os.environ[variable] = self.proxy.url
		start_worker(self, "long")  # the chunks go to "long" where no worker serves the app's own queue

	def test_synced_contacts_ask_gravatar_nothing_and_others_still_do(self):
		connection = self.make_connection(title=f"Avatars {self.run_id}")
		self.assertTrue(
			frappe.get_doc(SETTING_DOCTYPE, connection).queue_run("Button", False, "Administrator")
		)
		frappe.db.commit()  # the job is queued on commit, for the worker
		wait_for(
			self,
			"the run to end",
			lambda: frappe.db.get_value(SETTING_DOCTYPE, connection, "status") not in ("Queued", "Running"),
			timeout=120,
		)
		log = frappe.get_doc(LOG_DOCTYPE, frappe.db.get_value(SETTING_DOCTYPE, connection, "last_log"))
		self.assertEqual(log.status, "Success", log.error_summary)
		prefix = frappe.db.get_value(SETTING_DOCTYPE, connection, "id_prefix")
		synced = frappe.get_all(
			"Contact", filters={"vtiger_id": ("like", f"{prefix}%")}, fields=["email_id", "image"]
		)
		self.assertEqual(len(synced), CONTACTS)
		self.assertTrue(all(row.email_id for row in synced), synced)
		self.assertEqual([row.image for row in synced if row.image], [], "no image, as Data Import leaves it")
		self.assertNotIn(GRAVATAR, self.proxy.hosts, "the sync asked gravatar.com about its contacts")

		frappe.enqueue(  # a contact saved by anything else, in the same worker
			"frappe.client.insert",
			queue="long",
			doc={
				"doctype": "Contact",
				"first_name": f"Not synced {self.run_id}",
				"email_ids": [{"email_id": f"other.{self.run_id}@example.com", "is_primary": 1}],
			},
		)
		frappe.db.commit()
		wait_for(
			self,
			"the worker's Gravatar lookup for the other contact",
			lambda: GRAVATAR in self.proxy.hosts,
			timeout=120,
		)
