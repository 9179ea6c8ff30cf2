"""Field metadata: where each field is stored and the label VTiger shows for it."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class Field(Base):
	__tablename__ = "vtiger_field"

	fieldid: Mapped[int] = mapped_column(primary_key=True)
	tabid: Mapped[int]
	columnname: Mapped[str] = mapped_column(String(30))
	tablename: Mapped[str | None] = mapped_column(String(100))
	generatedtype: Mapped[int]
	uitype: Mapped[str] = mapped_column(String(30))
	fieldname: Mapped[str] = mapped_column(String(50))
	fieldlabel: Mapped[str] = mapped_column(String(50))
	presence: Mapped[int]
	typeofdata: Mapped[str | None] = mapped_column(String(100))
