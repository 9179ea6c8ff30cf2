"""One row per record of every module; the sync pages through it by (modifiedtime, crmid)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class CrmEntity(Base):
	__tablename__ = "vtiger_crmentity"

	crmid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	smcreatorid: Mapped[int]
	smownerid: Mapped[int]
	modifiedby: Mapped[int]
	setype: Mapped[str | None] = mapped_column(String(100))
	description: Mapped[str | None] = mapped_column(Text)
	createdtime: Mapped[datetime]
	modifiedtime: Mapped[datetime]
	deleted: Mapped[int]
	source: Mapped[str | None] = mapped_column(String(100))
	label: Mapped[str | None] = mapped_column(String(255))
