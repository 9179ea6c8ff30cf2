"""Session fixtures: a scratch MariaDB database loaded from VTiger's schema.sql, a VTiger-faithful writer,
and the kit's real VTiger 8.2 server (``vtiger_server``, started only for the tests that use it).

Settings (environment):
- VTIGER_TEST_DB_URL: SQLAlchemy server URL, default mysql+pymysql://root@127.0.0.1:3306
- VTIGER_SCHEMA_DIR: directory holding schema.sql, default <checkout>/../shared/vtiger
- VTIGER_TEST_DB: name of the scratch database (dropped and re-created), default vtigercrm_sync_test
- VTIGER_SERVER_KIT and the kit's own variables: see tests/vtiger_server.py
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine

# The writer module sits beside this file; make it importable however pytest was told to import tests.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
	sys.path.insert(0, _TESTS_DIR)

from vtiger_schema import VTigerSetupError, VTigerTestSettings, load_database, read_settings
from vtiger_server import VTigerServer, VTigerServerError, start_server, stop_server
from vtiger_writer import VTigerWriter

_LOAD_SECONDS = pytest.StashKey[dict]()
_SETUP_SECONDS = pytest.StashKey[dict]()


# ---------------------------------------------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def vtiger_settings() -> VTigerTestSettings:
	return read_settings()


@pytest.fixture(scope="session")
def vtiger_database_loader(
	vtiger_settings: VTigerTestSettings, request: pytest.FixtureRequest
) -> Callable[..., URL]:
	"""`load(database, *extra_scripts) -> URL`: another scratch database from the same schema (timed)."""

	def load(database: str, *extra_scripts: Path) -> URL:
		started = time.perf_counter()
		try:
			url = load_database(vtiger_settings, database, extra_scripts)
		except VTigerSetupError as exc:
			# Stop the run (exit code 1) rather than erroring every database test with the same message.
			pytest.exit(str(exc), returncode=1)
		request.config.stash.setdefault(_LOAD_SECONDS, {})[database] = time.perf_counter() - started
		return url

	return load


@pytest.fixture(scope="session")
def setup_timings(request: pytest.FixtureRequest) -> dict[str, float]:
	"""``timings[what] = seconds``: a slow fixture's setup time, shown at the end of the run."""
	return request.config.stash.setdefault(_SETUP_SECONDS, {})


@pytest.fixture(scope="session")
def vtiger_url(vtiger_settings: VTigerTestSettings, vtiger_database_loader: Callable[..., URL]) -> URL:
	"""URL of the test database, freshly loaded from schema.sql once per session."""
	return vtiger_database_loader(vtiger_settings.database)


@pytest.fixture(scope="session")
def vtiger_engine(vtiger_url: URL) -> Iterator[Engine]:
	engine = create_engine(vtiger_url, pool_pre_ping=True)
	yield engine
	engine.dispose()


@pytest.fixture
def vtiger(vtiger_engine: Engine) -> Iterator[VTigerWriter]:
	"""A VTigerWriter; every record (and currency) the test created is removed afterwards.

	Ids are never reused (the counters stay where they are), just like VTiger. Custom fields stay.
	"""
	with vtiger_engine.connect() as conn:
		start_crmid = conn.execute(text("SELECT COALESCE(MAX(crmid), 0) FROM vtiger_crmentity")).scalar_one()
		start_currency = conn.execute(
			text("SELECT COALESCE(MAX(id), 0) FROM vtiger_currency_info")
		).scalar_one()
	yield VTigerWriter(vtiger_engine)
	cleanup_after(vtiger_engine, start_crmid, start_currency)


@pytest.fixture(scope="session")
def vtiger_server() -> Iterator[VTigerServer]:
	"""The kit's real VTiger 8.2 server on a fresh database, started once, stopped at the end of the session.

	A server that cannot start fails every test that needs it (never a skip).
	"""
	error = None
	try:
		server = start_server()
	except VTigerServerError as exc:
		error = exc
	if error:
		with contextlib.suppress(VTigerServerError):
			stop_server()  # a half-started one
		pytest.fail(f"VTiger server did not start: {error}", pytrace=False)
	try:
		yield server
	finally:
		stop_server()


def cleanup_after(engine: Engine, start_crmid: int, start_currency: int) -> None:
	"""Delete rows of records above `start_crmid`, including the ones without a foreign key to vtiger_crmentity."""
	params = {"id": start_crmid}
	statements = (
		"DELETE FROM vtiger_modtracker_detail WHERE id IN (SELECT id FROM vtiger_modtracker_basic WHERE crmid > :id)",
		"DELETE FROM vtiger_modtracker_relations WHERE id IN (SELECT id FROM vtiger_modtracker_basic WHERE crmid > :id)",
		"DELETE FROM vtiger_modtracker_basic WHERE crmid > :id",
		"DELETE FROM vtiger_relatedlists_rb WHERE entityid > :id",
		"DELETE FROM vtiger_inventorychargesrel WHERE recordid > :id",
		"DELETE FROM vtiger_inventoryproductrel WHERE id > :id",
		"DELETE FROM vtiger_invoice_recurring_info WHERE salesorderid > :id",
		"DELETE FROM vtiger_productcurrencyrel WHERE productid > :id",
		"DELETE FROM vtiger_crmentity WHERE crmid > :id",
	)
	with engine.begin() as conn:
		for statement in statements:
			conn.execute(text(statement), params)
		conn.execute(text("DELETE FROM vtiger_currency_info WHERE id > :id"), {"id": start_currency})


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
	"""Show how long loading schema.sql and the slow fixtures took, so a slow server or dump is noticed."""
	timings = config.stash.get(_LOAD_SECONDS, None)
	if timings:
		loaded = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items())
		terminalreporter.write_line(f"VTiger schema loaded: {loaded}")
	setups = config.stash.get(_SETUP_SECONDS, None)
	if setups:
		terminalreporter.write_line(
			"Fixture setup: " + ", ".join(f"{name} {seconds:.1f}s" for name, seconds in setups.items())
		)
