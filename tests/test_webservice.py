"""The web service client against a real VTiger 8.2 server (the kit's), checked in VTiger's own tables.

No mocks: every record here is written by VTiger itself, and the SQL checks read the server's database.
"""

from __future__ import annotations

import copy
import html
import logging
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from sqlalchemy import Engine, create_engine, text
from vtiger_inventory import euro_currency, euro_order, inventory_rows
from vtiger_server import VTigerServer, create_user, end_web_service_sessions

from vtigercrm_sync.syncer.services import webservice
from vtigercrm_sync.syncer.services.webservice import (
	VTigerWebService,
	WebServiceAuthError,
	WebServicePermissionError,
	WebServiceSettings,
	WebServiceUnavailable,
	WebServiceValidationError,
)

LODZ = "Łódź 日本 Müller"


@pytest.fixture(scope="module")
def euro(client: VTigerWebService) -> str:
	return euro_currency(client)


@pytest.fixture(scope="module")
def settings(vtiger_server: VTigerServer) -> WebServiceSettings:
	return WebServiceSettings(vtiger_server.url, vtiger_server.username, vtiger_server.access_key, timeout=30)


@pytest.fixture(scope="module")
def client(settings: WebServiceSettings) -> VTigerWebService:
	return VTigerWebService(settings)


@pytest.fixture(scope="module")
def db(vtiger_server: VTigerServer) -> Iterator[Engine]:
	engine = create_engine(vtiger_server.database_url())
	yield engine
	engine.dispose()


def row(db: Engine, sql: str, **params) -> dict:
	with db.connect() as conn:
		return conn.execute(text(sql), params).mappings().one()


def rows(db: Engine, sql: str, **params) -> list[dict]:
	with db.connect() as conn:
		return [dict(r) for r in conn.execute(text(sql), params).mappings()]


def create_account(client: VTigerWebService, name: str, **fields: str) -> dict:
	return client.create("Accounts", {"accountname": name, "assigned_user_id": client.user_id, **fields})


# ------------------------------------------------------------------------------------------------------------
# Login, records, ids
# ------------------------------------------------------------------------------------------------------------


def test_login_keeps_the_session_and_the_user_id(client: VTigerWebService, db: Engine) -> None:
	"""Every login draws a new challenge token, so an unchanged token shows the calls reused the session."""
	assert client.login() == "19x1"
	token = row(db, "SELECT token FROM vtiger_ws_userauthtoken WHERE userid = 1")["token"]
	assert "Accounts" in client.listtypes()
	assert client.describe("Accounts")["name"] == "Accounts"
	assert row(db, "SELECT token FROM vtiger_ws_userauthtoken WHERE userid = 1")["token"] == token
	assert client.user_id == "19x1"


def test_settings_never_show_the_access_key(settings: WebServiceSettings) -> None:
	assert settings.access_key not in repr(settings)
	assert settings.access_key not in str(settings)


def test_account_with_non_ascii_name_round_trips(client: VTigerWebService, db: Engine) -> None:
	"""Values come back as strings, exactly as sent; VTiger stores the text as is (utf8mb3, BMP only)."""
	created = create_account(client, LODZ, bill_city="Łódź", phone="+48 42 000")
	retrieved = client.retrieve(created["id"])

	assert retrieved == created
	assert (retrieved["accountname"], retrieved["bill_city"]) == (LODZ, "Łódź")
	assert retrieved["employees"] == "0"  # an integer field, as a string
	assert retrieved["label"] == "Ł&oacute;dź 日本 M&uuml;ller"  # the one HTML-encoded value
	crmid = client.crmid_of(created["id"])
	stored = row(
		db,
		"SELECT a.accountname, e.label, e.source, b.bill_city FROM vtiger_account a "
		"JOIN vtiger_crmentity e ON e.crmid = a.accountid "
		"JOIN vtiger_accountbillads b ON b.accountaddressid = a.accountid WHERE a.accountid = :id",
		id=crmid,
	)
	assert stored == {"accountname": LODZ, "label": LODZ, "source": "WEBSERVICE", "bill_city": "Łódź"}


def test_revise_changes_only_the_given_field_and_vtiger_tracks_it(
	client: VTigerWebService, db: Engine
) -> None:
	"""revise is a partial update: fields left out keep their values. VTiger bumps modifiedtime, renews the
	label and writes one ModTracker change (status 0) with a detail row for the changed field only.
	"""
	created = create_account(client, "Müller Revise", phone="+49 30 111", website="example.org")
	crmid = client.crmid_of(created["id"])
	time.sleep(1.1)  # modifiedtime has one-second resolution

	revised = client.revise({"id": created["id"], "accountname": "Müller Revisé"})

	assert revised["accountname"] == "Müller Revisé"
	assert (revised["phone"], revised["website"]) == ("+49 30 111", "example.org")
	entity = row(
		db,
		"SELECT a.accountname, a.phone, e.label, e.createdtime, e.modifiedtime FROM vtiger_account a "
		"JOIN vtiger_crmentity e ON e.crmid = a.accountid WHERE a.accountid = :id",
		id=crmid,
	)
	assert (entity["accountname"], entity["label"], entity["phone"]) == (
		"Müller Revisé",
		"Müller Revisé",
		"+49 30 111",
	)
	assert entity["modifiedtime"] > entity["createdtime"]
	assert str(entity["modifiedtime"]) == revised["modifiedtime"]

	change = row(
		db,
		"SELECT id, whodid, status FROM vtiger_modtracker_basic WHERE crmid = :id AND status = 0",
		id=crmid,
	)
	assert (change["whodid"], change["status"]) == (client.crmid_of(client.user_id), 0)
	details = rows(db, "SELECT * FROM vtiger_modtracker_detail WHERE id = :id", id=change["id"])
	accountname = [d for d in details if d["fieldname"] == "accountname"]
	assert [(html.unescape(d["prevalue"]), html.unescape(d["postvalue"])) for d in accountname] == [
		("Müller Revise", "Müller Revisé")
	]
	assert {"phone", "website"}.isdisjoint(d["fieldname"] for d in details)


@pytest.mark.parametrize("taxtype", ["group", "individual"])
def test_a_revise_of_a_foreign_currency_order_changes_only_the_given_field(
	client: VTigerWebService, db: Engine, euro: str, taxtype: str
) -> None:
	"""VTiger 8.2 resets an order's conversion rate to 1 when a revise leaves it out; the client sends it."""
	order = euro_order(client, euro, taxtype, f"Revise {taxtype}")
	crmid = client.crmid_of(order["id"])
	before = inventory_rows(db, crmid)
	assert before["vtiger_salesorder"][0]["conversion_rate"] == Decimal("0.920")

	fresh = VTigerWebService(client.settings)  # knows no module yet: finds out the id is an order's
	fresh.revise({"id": order["id"], "customerno": "ERPNext SO-0001 — Łódź"})
	client.revise({"id": order["id"], "terms_conditions": "Revisé"}, client.retrieve(order["id"]))

	after = inventory_rows(db, crmid)
	assert after["vtiger_salesorder"][0].pop("customerno") == "ERPNext SO-0001 — Łódź"
	assert after["vtiger_salesorder"][0].pop("terms_conditions") == "Revisé"
	for changed in ("customerno", "terms_conditions"):
		before["vtiger_salesorder"][0].pop(changed)
	assert after == before


def test_a_revise_never_sends_order_lines(client: VTigerWebService, db: Engine, euro: str) -> None:
	"""Lines sent without the whole header drop the tax type, discount, S&H and adjustment: never sent."""
	order = euro_order(client, euro, "group", "Lines")
	before = inventory_rows(db, client.crmid_of(order["id"]))
	line = {"productid": order["LineItems"][0]["productid"], "quantity": "1", "listprice": "1"}
	with pytest.raises(WebServiceValidationError, match="never writes order lines"):
		client.revise({"id": order["id"], "LineItems": [line]})
	assert inventory_rows(db, client.crmid_of(order["id"])) == before


def test_contact_with_non_ascii_email_local_part_is_stored_as_sent(
	client: VTigerWebService, db: Engine
) -> None:
	"""VTiger 8.2's web service does not check e-mail syntax at all: ``chloé.17@example.org`` is stored
	verbatim (contact row and vtiger_emailslookup), and so is ``not-an-email``. Validating is up to the app.
	"""
	account = create_account(client, "Chloé's Employer")
	contact = client.create(
		"Contacts",
		{
			"firstname": "Chloé",
			"lastname": "Müller",
			"email": "chloé.17@example.org",
			"account_id": account["id"],
			"assigned_user_id": client.user_id,
		},
	)

	assert client.retrieve(contact["id"])["email"] == "chloé.17@example.org"
	crmid = client.crmid_of(contact["id"])
	stored = row(
		db,
		"SELECT c.email, c.accountid, l.value AS lookup FROM vtiger_contactdetails c "
		"JOIN vtiger_emailslookup l ON l.crmid = c.contactid WHERE c.contactid = :id",
		id=crmid,
	)
	assert stored == {
		"email": "chloé.17@example.org",
		"accountid": client.crmid_of(account["id"]),
		"lookup": "chloé.17@example.org",
	}
	odd = client.create(
		"Contacts", {"lastname": "Odd", "email": "not-an-email", "assigned_user_id": client.user_id}
	)
	assert odd["email"] == "not-an-email"


def test_query_finds_non_ascii_values(client: VTigerWebService) -> None:
	created = create_account(client, "Zürich 東京 Query")
	found = client.query(
		"select accountname, employees from Accounts where accountname = 'Zürich 東京 Query'"
	)
	assert found == [{"accountname": "Zürich 東京 Query", "employees": "0", "id": created["id"]}]


def test_ws_ids_use_vtiger_entity_ids(client: VTigerWebService, db: Engine) -> None:
	entity_ids = {
		r["name"]: str(r["id"])
		for r in rows(
			db, "SELECT id, name FROM vtiger_ws_entity WHERE name IN ('Accounts', 'Contacts', 'SalesOrder')"
		)
	}
	for module in ("Accounts", "Contacts", "SalesOrder"):
		assert client.ws_id(module, 42) == f"{entity_ids[module]}x42"
		assert client.describe(module)["idPrefix"] == entity_ids[module]
	assert {"Accounts", "Contacts", "SalesOrder"} <= set(client.listtypes())
	assert client.crmid_of("11x42") == 42
	for bad in ("42", "x42", "11x", "11x4a"):
		with pytest.raises(ValueError):
			client.crmid_of(bad)


# ------------------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------------------


def test_missing_mandatory_field_is_a_validation_error(client: VTigerWebService) -> None:
	with pytest.raises(WebServiceValidationError) as caught:
		client.create("Accounts", {"assigned_user_id": client.user_id})
	assert caught.value.code == "MANDATORY_FIELDS_MISSING"
	assert str(caught.value) == (
		"create Accounts: invalid values (MANDATORY_FIELDS_MISSING): accountname does not have a value"
	)


def test_duplicate_account_name_is_a_validation_error(client: VTigerWebService) -> None:
	"""Accounts do not allow duplicates (describe: allowDuplicates false); VTiger answers with code 0."""
	create_account(client, "Łódź Twin")
	with pytest.raises(WebServiceValidationError) as caught:
		create_account(client, "Łódź Twin")
	assert (caught.value.code, caught.value.detail) == (0, "Duplicate(s) detected!")


def test_text_outside_the_bmp_is_refused_before_sending(client: VTigerWebService, db: Engine) -> None:
	"""VTiger's utf8mb3 tables would store an emoji as '?', so the client refuses it and sends nothing."""
	before = row(db, "SELECT COUNT(*) AS n FROM vtiger_crmentity")["n"]
	with pytest.raises(WebServiceValidationError, match="not sent: accountname has text outside the BMP"):
		create_account(client, "Smile 😀")
	assert row(db, "SELECT COUNT(*) AS n FROM vtiger_crmentity")["n"] == before


def test_wrong_access_key_is_an_auth_error(settings: WebServiceSettings) -> None:
	wrong = WebServiceSettings(settings.url, settings.username, "not-the-key", timeout=10)
	with pytest.raises(WebServiceAuthError) as caught:
		VTigerWebService(wrong).login()
	assert caught.value.code == "INVALID_USER_CREDENTIALS"
	assert (
		str(caught.value)
		== "login admin: login refused (INVALID_USER_CREDENTIALS): Invalid username or password"
	)


def test_clients_logging_in_as_one_user_at_once_all_get_a_session(settings: WebServiceSettings) -> None:
	"""VTiger's getchallenge replaces the user's token, so a login racing another one's challenge is refused:
	several drains (one web service user) start together."""
	clients = [VTigerWebService(settings) for _ in range(6)]
	start = threading.Barrier(len(clients))

	def login(client: VTigerWebService) -> str:
		start.wait()
		return client.login()

	with ThreadPoolExecutor(len(clients)) as pool:
		users = list(pool.map(login, clients))
	assert len(set(users)) == 1 and users[0]


def test_unknown_user_is_an_auth_error(settings: WebServiceSettings) -> None:
	nobody = WebServiceSettings(settings.url, "nobody", settings.access_key, timeout=10)
	with pytest.raises(WebServiceAuthError, match="username does not exists") as caught:
		VTigerWebService(nobody).retrieve("11x2")
	assert settings.access_key not in str(caught.value)


def test_non_admin_user_gets_a_permission_error(
	vtiger_server: VTigerServer, settings: WebServiceSettings, client: VTigerWebService, db: Engine
) -> None:
	"""A Sales Person (role H5, Sales Profile) made in VTiger's UI may edit accounts but not another user."""
	user_id = create_user(vtiger_server, "clerk", role_id="H5", password="Clerk@12345")
	key = row(db, "SELECT accesskey, is_admin FROM vtiger_users WHERE id = :id", id=user_id)
	assert key["is_admin"] == "off"
	clerk = VTigerWebService(WebServiceSettings(settings.url, "clerk", key["accesskey"], timeout=10))
	assert clerk.login() == client.ws_id("Users", user_id)
	account = create_account(client, "Clerk's Customer")
	assert clerk.revise({"id": account["id"], "phone": "123"})["phone"] == "123"

	admin_user = client.ws_id("Users", 1)
	with pytest.raises(WebServicePermissionError) as caught:
		clerk.revise({"id": admin_user, "title": "Boss"})
	assert str(caught.value) == (
		f"revise {admin_user}: permission denied (ACCESS_DENIED): "
		"Permission to perform the operation is denied"
	)


def test_missing_record_is_reported_as_access_denied(client: VTigerWebService) -> None:
	"""VTiger answers ACCESS_DENIED, not RECORD_NOT_FOUND, for an id without a live record."""
	with pytest.raises(WebServicePermissionError) as caught:
		client.retrieve(client.ws_id("Accounts", 999999))
	assert caught.value.code == "ACCESS_DENIED"


def test_session_vtiger_lost_is_renewed_once(
	client: VTigerWebService, db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
	"""VTiger keeps web service sessions as PHP session files; they end when PHP's session GC deletes them.
	Deleted here, the client's next call gets INVALID_SESSIONID, logs in again and repeats the call; the
	create runs once, because VTiger checks the session before it runs the operation.
	"""
	client.login()
	assert end_web_service_sessions() >= 1

	with caplog.at_level(logging.INFO, logger=webservice.__name__):
		created = create_account(client, "Łódź After Expiry")

	assert [r.getMessage() for r in caplog.records] == [
		"VTiger session ended (INVALID_SESSIONID) during create; logging in again"
	]
	same = rows(db, "SELECT accountid FROM vtiger_account WHERE accountname = 'Łódź After Expiry'")
	assert same == [{"accountid": client.crmid_of(created["id"])}]


def test_logout_cannot_end_the_session_in_vtiger_8_2(
	client: VTigerWebService, caplog: pytest.LogCaptureFixture
) -> None:
	"""VTiger 8.2 on PHP 8 answers logout with HTTP 500 (Unknown named parameter $sessionName), so a twin
	sharing the session cannot end it: the client goes on without logging in again. logout does not raise.
	"""
	client.login()
	twin = copy.copy(client)
	with caplog.at_level(logging.INFO, logger=webservice.__name__):
		twin.logout()
		assert client.listtypes()

	assert [r.getMessage() for r in caplog.records] == [
		"VTiger did not end the session: logout admin: VTiger web service unavailable: "
		f"HTTP 500 from {client.settings.endpoint}"
	]
	assert twin.listtypes()  # the twin simply logs in again


def test_closed_port_is_unavailable_quickly() -> None:
	with socket.socket() as probe:  # a port nobody listens on
		probe.bind(("127.0.0.1", 0))
		port = probe.getsockname()[1]
	closed = VTigerWebService(
		WebServiceSettings(f"http://127.0.0.1:{port}", "admin", "secret-key", timeout=2)
	)
	started = time.perf_counter()
	with pytest.raises(WebServiceUnavailable, match="Connection refused") as caught:
		closed.retrieve("11x2")
	assert time.perf_counter() - started < 2
	assert str(caught.value).startswith("getchallenge admin: VTiger web service unavailable: ")
	assert "secret-key" not in str(caught.value)


def test_silent_server_times_out_as_unavailable() -> None:
	with socket.socket() as silent:  # accepts connections (backlog), never answers
		silent.bind(("127.0.0.1", 0))
		silent.listen(1)
		url = f"http://127.0.0.1:{silent.getsockname()[1]}"
		started = time.perf_counter()
		with pytest.raises(WebServiceUnavailable, match="timed out"):
			VTigerWebService(WebServiceSettings(url, "admin", "key", timeout=0.5)).login()
		assert time.perf_counter() - started < 2


@pytest.mark.parametrize(
	("path", "reason"),
	[("/index.php", "did not answer as VTiger's web service"), ("/no-such-folder", "HTTP 404")],
)
def test_something_else_than_the_web_service_is_unavailable(
	settings: WebServiceSettings, path: str, reason: str
) -> None:
	"""A URL that reaches the server but not webservice.php: an HTML page (200) or HTTP 404."""
	elsewhere = WebServiceSettings(settings.url + path, settings.username, settings.access_key, timeout=10)
	with pytest.raises(WebServiceUnavailable, match=reason) as caught:
		VTigerWebService(elsewhere).login()
	assert elsewhere.endpoint in str(caught.value)


@pytest.mark.parametrize(
	("url", "ok"),
	[
		("http://127.0.0.1:8089", True),
		("HTTPS://crm.example.com/vtiger/", True),
		("javascript:alert(1)", False),
		('javascript:fetch("/api/method/frappe.auth.get_logged_user")//', False),
		("file:///etc/passwd", False),
		("https://", False),
		("", False),
	],
)
def test_only_http_urls_are_vtiger_urls(url: str, ok: bool) -> None:
	assert webservice.is_http_url(url) is ok


def test_a_file_url_is_never_opened(tmp_path) -> None:
	"""urllib would read a local file for a file: URL; the client refuses before sending."""
	answer = tmp_path / "webservice.php"
	answer.write_text('{"success": true, "result": {"token": "t"}}')
	client = VTigerWebService(WebServiceSettings(f"file://{tmp_path}", "admin", "key"))
	with pytest.raises(WebServiceUnavailable, match="not an http"):
		client.login()
