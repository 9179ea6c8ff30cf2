"""``vtigercrm-sync preview``: the bundled demo data set, and a real VTiger database on the test MariaDB."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import URL
from vtiger_writer import VTigerWriter

from vtigercrm_sync.cli import main
from vtigercrm_sync.config.loader import read_json
from vtigercrm_sync.database.engine import dispose_engines

DEMO_SSN = ("123-45-6789", "123456789")
DEMO_CARDS = ("4111111111111111", "4111 1111 1111 1111", "5500000000000004")


def run(*argv: str) -> tuple[int, str]:
	out = io.StringIO()
	code = main(list(argv), out)
	return code, out.getvalue()


@pytest.fixture(autouse=True)
def no_password_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
	monkeypatch.delenv("VTIGER_PASSWORD", raising=False)
	yield
	dispose_engines()


# -- demo -------------------------------------------------------------------------------------------------------


def test_demo_preview_table():
	code, text = run("preview", "--demo")
	assert code == 0
	assert text.startswith("VTiger: demo data set (SQLite)\nPreset: standard\n")
	for name in (
		"Łódź Trading Sp. z o.o.",
		"Müller & Söhne GmbH",
		"ООО Москва Импорт",
		"Installation 日本",
		"佐藤",
	):
		assert name in text
	lines = text.splitlines()
	failed = [line for line in lines if re.match(r"SalesOrder \d+\s+FAIL\b", line)]
	assert len(failed) == 1
	ghost = failed[0].split()[1]
	assert any(
		line.startswith(f"SalesOrder {ghost} ") and " error " in line and "items[2].item_code" in line
		for line in lines
	)
	assert re.search(r"Accounts \d+\s+deleted\s+deleted in VTiger", text)
	summary = re.search(
		r"^(\d+) records: (\d+) documents planned, (\d+) records failed, (\d+) deleted$", text, re.M
	)
	assert summary and summary.group(3, 4) == ("1", "1")
	assert int(summary.group(1)) == 10


def test_demo_preview_json():
	code, text = run("preview", "--demo", "--format", "json")
	assert code == 0
	data = json.loads(text)
	assert data["preset"] == "standard"
	records = {r["record"]: r for r in data["records"]}
	assert [r.split()[0] for r in records].count("Accounts") == 3
	assert len(data["deleted"]) == 1 and data["deleted"][0].startswith("Accounts ")
	# Non-ASCII is written as such, not escaped.
	assert "Łódź" in text and "\\u0141" not in text
	failed = [r for r in data["records"] if any(i["severity"] == "error" for i in r["issues"])]
	assert len(failed) == 1
	assert any("items[2].item_code" in i["message"] for i in failed[0]["issues"])
	customers = [p for r in data["records"] for p in r["plans"] if p["doctype"] == "Customer"]
	assert {"Łódź Trading Sp. z o.o.", "ООО Москва Импорт"} <= {
		p["values"]["customer_name"] for p in customers
	}
	order = next(p for r in data["records"] for p in r["plans"] if p["doctype"] == "Sales Order")
	assert isinstance(order["values"]["transaction_date"], str)
	assert {"items", "taxes"} <= set(order["children"])


def test_demo_insurance_preview_keeps_ssn_and_card_out():
	code, text = run("preview", "--demo", "--preset", "insurance_household", "--format", "json")
	assert code == 0
	for secret in (*DEMO_SSN, *DEMO_CARDS):
		assert secret not in text
	data = json.loads(text)
	assert data["preset"] == "insurance_household"
	plans = [p for r in data["records"] for p in r["plans"]]
	owners = [p for p in plans if p["entity"] == "owner"]
	assert owners and all(p["encrypted_fields"] == ["vtiger_ssn"] for p in owners)
	assert all(p["values"]["vtiger_ssn_last4"] == "6789" for p in owners)
	cards = [p for p in plans if p["doctype"] == "Bank Card"]
	assert [p["values"]["card_last4"] for p in cards] == ["1111"]
	assert cards[0]["encrypted_fields"] == []
	filtered = [r for r in data["records"] if r["filtered"]]
	assert len(filtered) == 1 and "Cancelación" in filtered[0]["filtered"]
	dependents = [p for p in plans if p["entity"].startswith("dependent#")]
	assert {p["values"]["first_name"] for p in dependents} == {"Sofía", "Mateo"}


def test_demo_insurance_preview_table():
	code, text = run("preview", "--demo", "--preset", "insurance_household")
	assert code == 0
	assert "Preset: insurance_household" in text
	assert re.search(
		r"SalesOrder \d+\s+filtered\s+cf_2141 is 'Cancelación', not one of the synced values", text
	)
	assert "card left out: the card number is not a valid card number" in text
	for secret in (*DEMO_SSN, *DEMO_CARDS):
		assert secret not in text


def test_demo_limit_and_module():
	code, text = run("preview", "--demo", "--module", "Contacts", "--limit", "2", "--format", "json")
	assert code == 0
	records = [r["record"] for r in json.loads(text)["records"]]
	assert len(records) == 2 and all(r.startswith("Contacts ") for r in records)


def test_console_script_runs_end_to_end():
	env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
	env.pop("VTIGER_PASSWORD", None)
	done = subprocess.run(
		[sys.executable, "-m", "vtigercrm_sync", "preview", "--demo"],
		capture_output=True,
		text=True,
		encoding="utf-8",
		env=env,
		timeout=120,
		cwd=Path(__file__).resolve().parents[1],
	)
	assert done.returncode == 0, done.stderr
	assert "Preset: standard" in done.stdout and "Łódź Trading" in done.stdout
	assert re.search(r"\d+ records: \d+ documents planned, 1 records failed, 1 deleted", done.stdout)


# -- errors ------------------------------------------------------------------------------------------------------


def test_password_in_the_url_is_refused(capsys: pytest.CaptureFixture):
	code, text = run(
		"preview", "--url", "mysql+pymysql://root:s3cret-Pw@127.0.0.1:3306/vtiger", "--no-prompt"
	)
	assert code == 2 and text == ""
	err = capsys.readouterr().err
	assert "do not put the password in --url" in err
	assert "s3cret-Pw" not in err


def test_a_mapping_file_with_problems_lists_them(tmp_path: Path, capsys: pytest.CaptureFixture):
	doc = read_json("salesorder.json")
	doc["entities"]["customer"]["fields"]["website"]["transforms"] = ["trimm"]
	doc["entities"]["contact"]["fields"]["card_cvv"] = "email"
	path = tmp_path / "mapping.json"
	path.write_text(json.dumps(doc), encoding="utf-8")
	code, _ = run("preview", "--demo", "--mapping", str(path))
	assert code == 2
	err = capsys.readouterr().err
	assert (
		"entities.customer.fields.website.transforms[0]: unknown transform 'trimm'; did you mean 'trim'"
		in err
	)
	assert "entities.contact.fields.card_cvv:" in err


def free_port() -> int:
	with socket.socket() as sock:
		sock.bind(("127.0.0.1", 0))
		return sock.getsockname()[1]


def test_unreachable_server(capsys: pytest.CaptureFixture):
	port = free_port()
	code, _ = run(
		"preview",
		"--host",
		"127.0.0.1",
		"--port",
		str(port),
		"--user",
		"sync",
		"--database",
		"crm",
		"--no-prompt",
	)
	assert code == 2
	assert f"Cannot connect to VTiger at sync@127.0.0.1:{port}/crm" in capsys.readouterr().err


def test_host_needs_user_and_database(capsys: pytest.CaptureFixture):
	code, _ = run("preview", "--host", "127.0.0.1", "--no-prompt")
	assert code == 2
	assert "--host needs --user and --database" in capsys.readouterr().err


# -- a real VTiger database --------------------------------------------------------------------------------------


@pytest.fixture
def server(vtiger_url: URL, monkeypatch: pytest.MonkeyPatch) -> URL:
	"""The test database's URL without its password (which, if any, goes through VTIGER_PASSWORD)."""
	if vtiger_url.password:
		monkeypatch.setenv("VTIGER_PASSWORD", vtiger_url.password)
	return vtiger_url.set(password=None, query={})


def url_text(url: URL) -> str:
	return url.render_as_string(hide_password=False)


def test_preview_of_a_vtiger_database(vtiger: VTigerWriter, server: URL):
	account = vtiger.create_account("CLI Łódź Test", bill={"street": "ul. Długa 1", "city": "Łódź"})
	contact = vtiger.create_contact("Kowalska", firstname="Anna", account_id=account, email="anna@example.pl")
	product = vtiger.create_product("Widget CLI")
	order = vtiger.create_sales_order(
		"CLI order",
		account_id=account,
		contact_id=contact,
		lines=[{"productid": product, "quantity": 2, "listprice": 5}],
	)
	gone = vtiger.create_account("Gone", at=datetime(2025, 1, 16))
	vtiger.delete(gone, at=datetime(2025, 1, 17))

	code, text = run("preview", "--url", url_text(server), "--no-prompt", "--format", "json")
	assert code == 0
	data = json.loads(text)
	assert f"{server.host}:{server.port or 3306}/{server.database}" in data["server"]
	assert [r["record"] for r in data["records"]] == [
		f"Accounts {account}",
		f"Contacts {contact}",
		f"SalesOrder {order}",
	]
	assert data["deleted"] == [f"Accounts {gone}"]
	records = {r["record"]: r for r in data["records"]}
	assert all(r["issues"] == [] for r in records.values())
	customer = records[f"Accounts {account}"]["plans"][0]
	assert (customer["doctype"], customer["values"]["customer_name"]) == ("Customer", "CLI Łódź Test")
	so = next(p for p in records[f"SalesOrder {order}"]["plans"] if p["doctype"] == "Sales Order")
	assert {(link["field"], link["vtiger_id"]) for link in so["links"]} >= {
		("customer", str(account)),
		("contact_person", str(contact)),
	}

	code, table = run("preview", "--url", url_text(server), "--no-prompt", "--module", "SalesOrder")
	assert code == 0
	assert "CLI Łódź Test" in table
	rows = table.split("RECORD", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
	assert rows and all(row.startswith(f"SalesOrder {order} ") for row in rows)
	assert re.search(r"^1 records: \d+ documents planned, 0 records failed, 0 deleted$", table, re.M)


def test_preview_since_a_watermark(vtiger: VTigerWriter, server: URL):
	first = vtiger.create_account("First", at=datetime(2025, 1, 15, 10, 0, 0))
	tied = vtiger.create_account("Tied", at=datetime(2025, 1, 15, 10, 0, 0))
	later = vtiger.create_account("Later", at=datetime(2025, 1, 15, 10, 0, 5))
	since = f"2025-01-15 10:00:00#{first}"
	code, text = run(
		"preview", "--url", url_text(server), "--no-prompt", "--since", since, "--format", "json"
	)
	assert code == 0
	assert [r["record"] for r in json.loads(text)["records"]] == [f"Accounts {tied}", f"Accounts {later}"]


def test_password_comes_from_the_environment(vtiger_url: URL, monkeypatch: pytest.MonkeyPatch, capsys):
	"""A wrong password in the named variable is used (and fails) even where no password would have worked."""
	monkeypatch.setenv("VTSYNC_TEST_PASSWORD", "Wrong-Pa55-Value")
	user = vtiger_url.username or "root"
	code, _ = run(
		"preview",
		"--host",
		vtiger_url.host or "127.0.0.1",
		"--port",
		str(vtiger_url.port or 3306),
		"--user",
		f"{user}_no_such_user" if vtiger_url.password else user,
		"--database",
		vtiger_url.database,
		"--password-env",
		"VTSYNC_TEST_PASSWORD",
		"--no-prompt",
	)
	assert code == 2
	err = capsys.readouterr().err
	assert "Access denied" in err
	assert "Wrong-Pa55-Value" not in err
