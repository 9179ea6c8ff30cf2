"""Module registry: module name to tabid."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class Tab(Base):
	__tablename__ = "vtiger_tab"

	tabid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	name: Mapped[str] = mapped_column(String(25))
	presence: Mapped[int]
