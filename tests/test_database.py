"""Connection settings, the engine cache and the unit of work, against the test MariaDB."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, Engine, make_url

from vtigercrm_sync.database.engine import ConnectionSettings, dispose_engines, get_engine
from vtigercrm_sync.database.unit_of_work import SqlAlchemyUnitOfWork
from vtigercrm_sync.syncer.services.query import check_connection

AWKWARD_PASSWORD = "p@ss:w/rd%40#?&=e"
SCRATCH = "engine_tests_uow_scratch"


@pytest.fixture
def settings(vtiger_url: URL) -> Iterator[ConnectionSettings]:
	yield ConnectionSettings.from_url(vtiger_url)
	dispose_engines()


def test_url_keeps_an_awkward_password_intact():
	settings = ConnectionSettings(
		host="db.example", database="vtiger", user="sync", password=AWKWARD_PASSWORD
	)
	url = settings.url()
	assert url.password == AWKWARD_PASSWORD
	assert (url.host, url.port, url.database, url.username) == ("db.example", 3306, "vtiger", "sync")
	# The rendered URL escapes it, and parses back to the same password.
	rendered = url.render_as_string(hide_password=False)
	assert AWKWARD_PASSWORD not in rendered
	assert make_url(rendered).password == AWKWARD_PASSWORD
	assert url.query["charset"] == "utf8mb4"


def test_password_stays_out_of_repr_str_and_describe():
	settings = ConnectionSettings(
		host="db.example", database="vtiger", user="sync", password=AWKWARD_PASSWORD
	)
	for shown in (repr(settings), str(settings), settings.describe(), str(settings.url())):
		assert AWKWARD_PASSWORD not in shown
		assert "p@ss" not in shown
	assert settings.describe() == "sync@db.example:3306/vtiger"


def test_from_url_round_trip():
	settings = ConnectionSettings.from_url("mysql+pymysql://sync@db.example:3307/crm")
	assert (settings.host, settings.port, settings.user, settings.database, settings.password) == (
		"db.example",
		3307,
		"sync",
		"crm",
		"",
	)
	assert ConnectionSettings.from_url("mysql+pymysql://sync@db.example/crm").port == 3306


def test_awkward_password_really_connects(vtiger_engine: Engine, vtiger_url: URL):
	"""A MariaDB user whose password holds @ : / % # ? & = logs in through ConnectionSettings."""
	user = f"vts_{uuid.uuid4().hex[:8]}"
	host = vtiger_url.host or "127.0.0.1"
	with vtiger_engine.begin() as conn:
		conn.execute(text(f"CREATE USER '{user}'@'%' IDENTIFIED BY :pw"), {"pw": AWKWARD_PASSWORD})
		conn.execute(text(f"GRANT SELECT ON `{vtiger_url.database}`.* TO '{user}'@'%'"))
	try:
		settings = ConnectionSettings(
			host=host,
			port=vtiger_url.port or 3306,
			user=user,
			password=AWKWARD_PASSWORD,
			database=vtiger_url.database,
		)
		assert re.match(r"\d+\.\d+\.\d+", check_connection(settings))
		with get_engine(settings).connect() as conn:
			assert conn.execute(text("SELECT CURRENT_USER()")).scalar_one().startswith(f"{user}@")
	finally:
		dispose_engines()
		with vtiger_engine.begin() as conn:
			conn.execute(text(f"DROP USER '{user}'@'%'"))


def test_engines_are_cached_per_settings(settings: ConnectionSettings):
	engine = get_engine(settings)
	assert get_engine(settings) is engine
	# Equal settings built separately share the engine; other settings get their own.
	assert get_engine(ConnectionSettings(**settings.__dict__)) is engine
	other = ConnectionSettings(**{**settings.__dict__, "connect_timeout": settings.connect_timeout + 1})
	assert get_engine(other) is not engine
	dispose_engines()
	assert get_engine(settings) is not engine


# -- unit of work ------------------------------------------------------------------------------------------------


@pytest.fixture
def scratch(vtiger_url: URL) -> Iterator[Engine]:
	"""A private engine (so pool checkouts are ours alone) and an empty scratch table."""
	engine = create_engine(vtiger_url)
	with engine.begin() as conn:
		conn.execute(text(f"DROP TABLE IF EXISTS {SCRATCH}"))
		conn.execute(text(f"CREATE TABLE {SCRATCH} (id INT PRIMARY KEY, note VARCHAR(20)) ENGINE=InnoDB"))
	yield engine
	with engine.begin() as conn:
		conn.execute(text(f"DROP TABLE IF EXISTS {SCRATCH}"))
	engine.dispose()


def rows(engine: Engine) -> list[tuple]:
	with engine.connect() as conn:
		return [tuple(r) for r in conn.execute(text(f"SELECT id, note FROM {SCRATCH} ORDER BY id"))]


def insert(uow: SqlAlchemyUnitOfWork, row_id: int) -> None:
	uow.session.execute(text(f"INSERT INTO {SCRATCH} (id, note) VALUES (:id, 'x')"), {"id": row_id})


def test_writable_unit_of_work_commits_on_success(scratch: Engine):
	with SqlAlchemyUnitOfWork(scratch, read_only=False) as uow:
		insert(uow, 1)
		# Not visible to anyone else before the block ends.
		assert rows(scratch) == []
	assert rows(scratch) == [(1, "x")]


def test_writable_unit_of_work_rolls_back_on_error(scratch: Engine):
	with pytest.raises(RuntimeError, match="boom"):
		with SqlAlchemyUnitOfWork(scratch, read_only=False) as uow:
			insert(uow, 1)
			raise RuntimeError("boom")
	assert rows(scratch) == []


def test_explicit_commit_survives_a_later_error(scratch: Engine):
	with pytest.raises(RuntimeError):
		with SqlAlchemyUnitOfWork(scratch, read_only=False) as uow:
			insert(uow, 1)
			uow.commit()
			insert(uow, 2)
			raise RuntimeError("after the commit")
	assert rows(scratch) == [(1, "x")]


def test_read_only_unit_of_work_never_commits(scratch: Engine):
	with SqlAlchemyUnitOfWork(scratch) as uow:
		assert uow.read_only
		insert(uow, 1)
		with pytest.raises(RuntimeError, match="read-only"):
			uow.commit()
	assert rows(scratch) == []


def test_session_is_closed_and_connection_returned_after_exit(scratch: Engine):
	scratch.dispose()
	for read_only, fail in ((True, False), (False, False), (False, True)):
		uow = SqlAlchemyUnitOfWork(scratch, read_only=read_only)
		try:
			with uow:
				session = uow.session
				insert(uow, 7)
				assert scratch.pool.checkedout() == 1
				assert uow.dialect == "mysql"
				if fail:
					raise ValueError("fail")
		except ValueError:
			pass
		assert uow.session is None
		assert not session.in_transaction()
		assert scratch.pool.checkedout() == 0
		with scratch.begin() as conn:
			conn.execute(text(f"DELETE FROM {SCRATCH}"))
