"""The Desk walked in headless Chromium as a new administrator would (issue 21), for CI.

Loads a VTiger database with a few records, serves a fresh site (`frappe-bench serve`: web, socket.io and one
worker on 127.0.0.1), then in Debian's chromium driven by Playwright: opens the workspace, creates a connection
from the form, runs Sync Now, waits for the progress bar to close and the summary line to show the outcome, and
opens the log. Any console error or page error fails the walk. Prints "N passed, N failed" and exits 1 on a
failure. Run it under the bench lock: `flock /tmp/vtsync-bench.lock .venv/bin/python .ci/desk_browser.py`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import traceback
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
KIT = ROOT.parent / "shared" / "frappe-bench" / "frappe-bench"
sys.path.insert(0, str(ROOT / "tests"))

from vtiger_schema import load_database, read_settings
from vtiger_writer import VTigerWriter

DATABASE = (os.environ.get("VTIGER_FRAPPE_TEST_DB") or "vtigercrm_sync_frappe_test") + "_desk"
TIMEOUT_MS = 120_000


def load_vtiger():
	"""A VTiger database of three accounts with a contact each: enough for a run with something to show."""
	url = load_database(read_settings(), DATABASE)
	from sqlalchemy import create_engine

	engine = create_engine(url)
	writer = VTigerWriter(engine)
	for n in range(1, 4):
		account = writer.create_account(
			f"Desk Walk Account {n}", bill={"city": "Madrid", "country": "Spain", "street": f"Calle {n}"}
		)
		writer.create_contact(f"Walker {n}", firstname="Ada", account_id=account)
	engine.dispose()
	return url


def serve() -> dict:
	"""Start the kit's site, web server, socket.io and worker; return what it prints (SITE_URL=… lines)."""
	out = subprocess.run([str(KIT), "serve", str(ROOT)], check=True, capture_output=True, text=True).stdout
	return dict(re.findall(r"^(\w+)='?(.*?)'?$", out, re.M))


class Walk:
	def __init__(self, page: Page, site: str, vtiger):
		self.page, self.site, self.vtiger = page, site, vtiger
		self.errors: list[str] = []
		page.on("console", lambda msg: msg.type == "error" and self.errors.append(f"console: {msg.text}"))
		page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
		self.connection = ""
		self.passed = self.failed = 0

	def login(self, user: str, password: str):
		page = self.page
		page.goto(f"{self.site}/login")
		page.fill("#login_email", user)
		page.fill("#login_password", password)
		page.click(".btn-login")
		page.wait_for_url(re.compile(r"/app"), timeout=TIMEOUT_MS)

	def test_workspace(self):
		"""The workspace opens with its number cards and the shortcut to the connections."""
		page = self.page
		page.goto(f"{self.site}/app/vtiger")
		expect(page.locator(".shortcut-widget-box", has_text="VTiger Connections")).to_be_visible(
			timeout=TIMEOUT_MS
		)
		expect(page.locator(".number-widget-box").first).to_be_visible()

	def test_create_connection(self):
		"""A connection made from the form: typed values on the Connection tab, the company on its own tab."""
		page, url = self.page, self.vtiger
		page.goto(f"{self.site}/app/vtigercrm-sync/new")
		form = page.locator(".form-layout:visible")
		expect(form.locator('[data-fieldname="title"] input')).to_be_visible(timeout=TIMEOUT_MS)
		form.locator('[data-fieldname="title"] input').fill("Desk Walk")
		form.locator('[data-fieldname="host"] input').fill(url.host or "127.0.0.1")
		form.locator('[data-fieldname="port"] input').fill(str(url.port or 3306))
		form.locator('[data-fieldname="database_name"] input').fill(url.database)
		form.locator('[data-fieldname="db_user"] input').fill(url.username)
		if url.password:
			form.locator('[data-fieldname="db_password"] input').fill(url.password)
		page.locator(".form-tabs:visible .nav-link", has_text="ERPNext Defaults").click()
		company = form.locator('[data-fieldname="company"] input')
		if not company.input_value():
			company.fill("Wind Power LLC")
			page.locator(".awesomplete li", has_text="Wind Power LLC").first.click()
		page.keyboard.press("Control+s")
		page.wait_for_url(re.compile(r"/app/vtigercrm-sync/(?!new)[^/]+$"), timeout=TIMEOUT_MS)
		self.connection = page.url.rsplit("/", 1)[1]
		expect(page.locator("#navbar-breadcrumbs")).to_contain_text("VTiger Connection")
		# The first save's checklist (taxes to map, units): read it and close it.
		dialog = page.locator(".modal.show .modal-dialog")
		dialog.first.wait_for(state="visible", timeout=TIMEOUT_MS)
		expect(dialog.first).to_contain_text("Create Tax Accounts")
		page.locator(".modal.show .btn-modal-close").first.click()
		dialog.first.wait_for(state="hidden")

	def test_sync_now(self):
		"""Sync Now runs in the worker; the bar closes and the summary line shows the outcome and its log."""
		page = self.page
		page.locator(".page-actions button:visible", has_text="Sync Now").first.click()
		intro = page.locator(".form-message:visible")
		expect(intro).to_contain_text("Last run:", timeout=TIMEOUT_MS)
		expect(page.locator(".form-dashboard .progress-area")).to_be_hidden(timeout=TIMEOUT_MS)
		expect(intro).to_contain_text(re.compile(r"created"))

	def test_open_log(self):
		"""The summary line's link opens the run's log, with the run's counts."""
		page = self.page
		page.locator(".form-message:visible a", has_text="open").click()
		page.wait_for_url(re.compile(r"/app/vtigercrm-sync-log/"), timeout=TIMEOUT_MS)
		expect(page.locator('[data-fieldname="created"]:visible .control-value').first).not_to_have_text(
			"0", timeout=TIMEOUT_MS
		)

	def test_compare_a_synced_customer(self):
		"""A synced Customer's VTiger menu compares it with VTiger, field by field."""
		page = self.page
		name = page.evaluate(
			"""() => frappe.db.get_value("Customer", {customer_name: "Desk Walk Account 1"}, "name")
				.then((r) => r.message.name)"""
		)
		page.goto(f"{self.site}/app/customer/{name}")
		group = page.locator(".page-actions .inner-group-button:visible", has_text="VTiger")
		group.locator("button").first.click(timeout=TIMEOUT_MS)
		group.locator(".dropdown-item", has_text="Compare with VTiger").click()
		dialog = page.locator(".modal.show .modal-dialog", has_text="Compare with VTiger")
		expect(dialog).to_contain_text("Desk Walk Account 1", timeout=TIMEOUT_MS)
		expect(dialog).to_contain_text("Same")
		page.locator(".modal.show .btn-modal-close").first.click()

	def test_reconciliation_report_is_all_clear(self):
		"""The VTiger Reconciliation report of the connection just synced finds nothing to say but all clear."""
		page = self.page
		page.goto(f"{self.site}/app/query-report/VTiger Reconciliation?connection={self.connection}")
		expect(page.locator(".page-content:visible")).to_contain_text("All clear", timeout=TIMEOUT_MS)

	def test_no_console_error(self):
		"""Nothing above wrote an error to the console."""
		assert not self.errors, "\n".join(self.errors)


def step(walk: Walk, name: str) -> bool:
	try:
		getattr(walk, name)()
	except Exception:
		walk.failed += 1
		print(f"FAILED {name}\n{traceback.format_exc()}", flush=True)
		walk.page.screenshot(path=f"/tmp/desk-walk-{name}.png")
		return False
	walk.passed += 1
	print(f"PASSED {name}", flush=True)
	return True


def main() -> int:
	started = time.monotonic()
	vtiger = load_vtiger()
	passed = failed = 0
	served = serve()
	try:
		with sync_playwright() as p:
			browser = p.chromium.launch(
				executable_path="/usr/bin/chromium",
				args=[f"--host-resolver-rules={served['HOST_RESOLVER_RULES']}", "--no-sandbox"],
			)
			page = browser.new_page()
			page.set_default_timeout(30_000)
			walk = Walk(page, served["SITE_URL"], vtiger)
			walk.login(served["ADMIN_USER"], served["ADMIN_PASSWORD"])
			steps = [
				name for name in Walk.__dict__ if name.startswith("test_") and name != "test_no_console_error"
			]
			for name in steps:
				if not step(walk, name):
					break  # later steps build on this one
			step(walk, "test_no_console_error")
			passed, failed = walk.passed, walk.failed
			browser.close()
	finally:
		subprocess.run([str(KIT), "stop"], check=False)
	print(f"desk browser walk took {time.monotonic() - started:.0f} s")
	print(f"desk browser walk: {passed} passed, {failed} failed")
	return 1 if failed or not passed else 0


if __name__ == "__main__":
	sys.exit(main())
