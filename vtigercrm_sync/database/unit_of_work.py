"""A unit of work that owns one SQLAlchemy session.

A writing unit of work commits when its block ends normally and rolls back when it raises; a read-only one always
rolls back, so a VTiger read never holds locks or a read view past its block. The session is always closed. One
unit of work is opened per batch, so a long sync never pins an old InnoDB snapshot on a live CRM.
"""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker


class SqlAlchemyUnitOfWork:
	def __init__(self, engine: Engine, read_only: bool = True):
		self._session_factory = sessionmaker(bind=engine, expire_on_commit=False)
		self.read_only = read_only
		self.session: Session | None = None

	def __enter__(self) -> SqlAlchemyUnitOfWork:
		self.session = self._session_factory()
		return self

	def __exit__(
		self,
		exc_type: type[BaseException] | None,
		exc: BaseException | None,
		traceback: TracebackType | None,
	) -> None:
		try:
			if exc_type is None and not self.read_only:
				self.session.commit()
			else:
				self.session.rollback()
		finally:
			self.session.close()
			self.session = None

	def commit(self) -> None:
		if self.read_only:
			raise RuntimeError("This unit of work is read-only; open it with read_only=False to write")
		self.session.commit()

	def rollback(self) -> None:
		self.session.rollback()

	@property
	def dialect(self) -> str:
		return self.session.get_bind().dialect.name
