"""Session fixtures: a scratch MariaDB database loaded from VTiger's schema.sql, and a VTiger-faithful writer.

Settings (environment):
- VTIGER_TEST_DB_URL: SQLAlchemy server URL, default mysql+pymysql://root@127.0.0.1:3306
- VTIGER_SCHEMA_DIR: directory holding schema.sql, default <checkout>/../shared/vtiger
- VTIGER_TEST_DB: name of the scratch database (dropped and re-created), default vtigercrm_sync_test
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pymysql
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url

# The writer module sits beside this file; make it importable however pytest was told to import tests.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
	sys.path.insert(0, _TESTS_DIR)

from vtiger_writer import VTigerWriter, split_sql

DEFAULT_SERVER_URL = "mysql+pymysql://root@127.0.0.1:3306"
DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "vtiger"
DEFAULT_DATABASE = "vtigercrm_sync_test"

# VTiger creates this counter on its first ModTracker save; a fresh schema lacks it (README section 1).
MODTRACKER_SEQ_SQL = (
	"CREATE TABLE IF NOT EXISTS vtiger_modtracker_basic_seq (id INT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8",
	"INSERT INTO vtiger_modtracker_basic_seq (id) SELECT 0 FROM DUAL "
	"WHERE NOT EXISTS (SELECT 1 FROM vtiger_modtracker_basic_seq)",
)

_LOAD_SECONDS = pytest.StashKey[dict]()


@dataclass(frozen=True)
class VTigerTestSettings:
	"""Where the scratch VTiger database lives and where its schema comes from."""

	server_url: URL
	schema_dir: Path
	database: str

	@property
	def schema_path(self) -> Path:
		return self.schema_dir / "schema.sql"

	def database_url(self, database: str | None = None) -> URL:
		"""SQLAlchemy URL of a database on the test server; utf8mb4 like the sync's own connections."""
		query = dict(self.server_url.query)
		query["charset"] = "utf8mb4"
		return self.server_url.set(database=database or self.database, query=query)

	@property
	def where(self) -> str:
		return f"{self.server_url.host or 'localhost'}:{self.server_url.port or 3306}"


def read_settings() -> VTigerTestSettings:
	return VTigerTestSettings(
		server_url=make_url(os.environ.get("VTIGER_TEST_DB_URL") or DEFAULT_SERVER_URL),
		schema_dir=Path(os.environ.get("VTIGER_SCHEMA_DIR") or DEFAULT_SCHEMA_DIR).expanduser(),
		database=os.environ.get("VTIGER_TEST_DB") or DEFAULT_DATABASE,
	)


# ---------------------------------------------------------------------------------------------------------------
# Loading a dump without the mysql CLI
# ---------------------------------------------------------------------------------------------------------------


def connect_server(settings: VTigerTestSettings, database: str | None = None) -> pymysql.Connection:
	"""Raw PyMySQL connection (autocommit) to the test server; fails the run with a clear hint if unreachable."""
	url = settings.server_url
	kwargs = {
		"host": url.host or "127.0.0.1",
		"port": url.port or 3306,
		"user": url.username or "root",
		"password": url.password or "",
		"charset": "utf8mb4",
		"autocommit": True,
		"connect_timeout": 5,
	}
	if "unix_socket" in url.query:
		kwargs["unix_socket"] = url.query["unix_socket"]
	if database:
		kwargs["database"] = database
	try:
		return pymysql.connect(**kwargs)
	except pymysql.err.OperationalError as exc:
		# Stop the run (exit code 1) rather than erroring every database test with the same message.
		pytest.exit(
			f"Cannot connect to MariaDB/MySQL at {settings.where} as {kwargs['user']!r}: {exc}. "
			"The VTiger tests need a running server: start it, or set VTIGER_TEST_DB_URL to an SQLAlchemy "
			"server URL such as mysql+pymysql://user:password@host:3306",
			returncode=1,
		)


def load_database(settings: VTigerTestSettings, database: str, extra_scripts: Iterable[Path] = ()) -> URL:
	"""Drop and re-create `database`, load schema.sql (plus `extra_scripts`) into it; return its URL."""
	schema_path = settings.schema_path
	if not schema_path.is_file():
		pytest.exit(
			f"VTiger schema dump not found: {schema_path}. Set VTIGER_SCHEMA_DIR to the directory holding "
			"schema.sql (a dump of VTiger's tables and metadata rows, e.g. shared/vtiger beside the checkout).",
			returncode=1,
		)
	if not re.fullmatch(r"[A-Za-z0-9_]+", database):
		pytest.fail(f"VTIGER_TEST_DB must be a plain database name, got {database!r}", pytrace=False)
	connection = connect_server(settings)
	try:
		with connection.cursor() as cursor:
			cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
			cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
			cursor.execute(f"USE `{database}`")
			# schema.sql sets these itself; a user's mysqldump may only carry them as /*!...*/ comments.
			cursor.execute("SET NAMES utf8mb4, FOREIGN_KEY_CHECKS=0, UNIQUE_CHECKS=0")
			for path in (schema_path, *extra_scripts):
				for statement in split_sql(path.read_text(encoding="utf-8")):
					try:
						cursor.execute(statement)
					except pymysql.MySQLError as exc:
						pytest.fail(f"{path}: {exc} in statement: {statement[:300]}", pytrace=False)
				if path == schema_path:
					for statement in MODTRACKER_SEQ_SQL:
						cursor.execute(statement)
			cursor.execute("SET FOREIGN_KEY_CHECKS=1, UNIQUE_CHECKS=1")
	finally:
		connection.close()
	return settings.database_url(database)


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
		url = load_database(vtiger_settings, database, extra_scripts)
		request.config.stash.setdefault(_LOAD_SECONDS, {})[database] = time.perf_counter() - started
		return url

	return load


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


def cleanup_after(engine: Engine, start_crmid: int, start_currency: int) -> None:
	"""Delete rows of records above `start_crmid`, including the ones without a foreign key to vtiger_crmentity."""
	params = {"id": start_crmid}
	statements = (
		"DELETE FROM vtiger_modtracker_detail WHERE id IN (SELECT id FROM vtiger_modtracker_basic WHERE crmid > :id)",
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
	"""Show how long loading schema.sql took, so a slow server or dump is noticed."""
	timings = config.stash.get(_LOAD_SECONDS, None)
	if timings:
		loaded = ", ".join(f"{name} {seconds:.1f}s" for name, seconds in timings.items())
		terminalreporter.write_line(f"VTiger schema loaded: {loaded}")
