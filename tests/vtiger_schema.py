"""Where the VTiger test database lives, and loading VTiger's schema.sql into it without the mysql CLI.

Plain Python (no pytest), so the pytest suite, the Frappe suite and the benchmarks share one loader.

Settings (environment):
- VTIGER_TEST_DB_URL: SQLAlchemy server URL, default mysql+pymysql://root@127.0.0.1:3306
- VTIGER_SCHEMA_DIR: directory holding schema.sql, default <checkout>/../shared/vtiger
- VTIGER_TEST_DB: name of the scratch database (dropped and re-created), default vtigercrm_sync_test
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pymysql
from sqlalchemy.engine import URL, make_url
from vtiger_writer import split_sql


class VTigerSetupError(RuntimeError):
	"""The test server is unreachable or the schema cannot be loaded; the message says what to set."""


DEFAULT_SERVER_URL = "mysql+pymysql://root@127.0.0.1:3306"
DEFAULT_SCHEMA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "vtiger"
DEFAULT_DATABASE = "vtigercrm_sync_test"

# VTiger creates this counter on its first ModTracker save; a fresh schema lacks it (README section 1).
MODTRACKER_SEQ_SQL = (
	"CREATE TABLE IF NOT EXISTS vtiger_modtracker_basic_seq (id INT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8",
	"INSERT INTO vtiger_modtracker_basic_seq (id) SELECT 0 FROM DUAL "
	"WHERE NOT EXISTS (SELECT 1 FROM vtiger_modtracker_basic_seq)",
)


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
		raise VTigerSetupError(
			f"Cannot connect to MariaDB/MySQL at {settings.where} as {kwargs['user']!r}: {exc}. "
			"The VTiger tests need a running server: start it, or set VTIGER_TEST_DB_URL to an SQLAlchemy "
			"server URL such as mysql+pymysql://user:password@host:3306"
		) from None


def load_database(settings: VTigerTestSettings, database: str, extra_scripts: Iterable[Path] = ()) -> URL:
	"""Drop and re-create `database`, load schema.sql (plus `extra_scripts`) into it; return its URL."""
	schema_path = settings.schema_path
	if not schema_path.is_file():
		raise VTigerSetupError(
			f"VTiger schema dump not found: {schema_path}. Set VTIGER_SCHEMA_DIR to the directory holding "
			"schema.sql (a dump of VTiger's tables and metadata rows, e.g. shared/vtiger beside the checkout)."
		)
	if not re.fullmatch(r"[A-Za-z0-9_]+", database):
		raise VTigerSetupError(f"VTIGER_TEST_DB must be a plain database name, got {database!r}")
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
						raise VTigerSetupError(f"{path}: {exc} in statement: {statement[:300]}") from None
				if path == schema_path:
					for statement in MODTRACKER_SEQ_SQL:
						cursor.execute(statement)
			cursor.execute("SET FOREIGN_KEY_CHECKS=1, UNIQUE_CHECKS=1")
	finally:
		connection.close()
	return settings.database_url(database)
