"""One cached SQLAlchemy engine per VTiger connection profile.

The URL is always built with :class:`sqlalchemy.engine.URL` so a password containing ``@``, ``/`` or ``:`` needs no
escaping and never lands in a formatted string. Engines are cached on the connection settings so a scheduler that
runs every few minutes reuses its pool instead of opening new sockets each run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import URL, make_url

DEFAULT_PORT = 3306
DEFAULT_CONNECT_TIMEOUT = 10


@dataclass(frozen=True)
class ConnectionSettings:
	"""Where a VTiger database lives. The password is kept out of ``repr`` so it never reaches a log."""

	host: str
	database: str
	user: str
	password: str = field(default="", repr=False)
	port: int = DEFAULT_PORT
	connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
	drivername: str = "mysql+pymysql"

	@classmethod
	def from_url(cls, url: str | URL, connect_timeout: int = DEFAULT_CONNECT_TIMEOUT) -> ConnectionSettings:
		parsed = make_url(url)
		return cls(
			host=parsed.host or "",
			database=parsed.database or "",
			user=parsed.username or "",
			password=parsed.password or "",
			port=parsed.port or DEFAULT_PORT,
			connect_timeout=connect_timeout,
			drivername=parsed.drivername,
		)

	def url(self) -> URL:
		if self.drivername.startswith("sqlite"):
			return URL.create(self.drivername, database=self.database or None)
		return URL.create(
			self.drivername,
			username=self.user,
			password=self.password or None,
			host=self.host,
			port=self.port,
			database=self.database,
			query={"charset": "utf8mb4"},
		)

	def describe(self) -> str:
		"""Where we connect to, for error messages: host, port and database, never the password."""
		if self.drivername.startswith("sqlite"):
			return f"sqlite database {self.database or ':memory:'}"
		return f"{self.user}@{self.host}:{self.port}/{self.database}"


_engines: dict[ConnectionSettings, Engine] = {}
_lock = threading.Lock()


def get_engine(settings: ConnectionSettings) -> Engine:
	"""Return the engine for these settings, creating it on first use."""
	with _lock:
		engine = _engines.get(settings)
		if engine is None:
			engine = _create_engine(settings)
			_engines[settings] = engine
		return engine


def _create_engine(settings: ConnectionSettings) -> Engine:
	if settings.drivername.startswith("sqlite"):
		return create_engine(settings.url())
	return create_engine(
		settings.url(),
		pool_pre_ping=True,
		pool_recycle=3600,
		connect_args={"connect_timeout": settings.connect_timeout},
	)


def dispose_engines() -> None:
	"""Close every cached pool (tests, and a worker that forks)."""
	with _lock:
		for engine in _engines.values():
			engine.dispose()
		_engines.clear()
