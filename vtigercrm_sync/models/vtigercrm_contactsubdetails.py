"""A contact's birthday, lead source and extra phones."""

from __future__ import annotations

from datetime import date

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class ContactSubDetails(Base):
	__tablename__ = "vtiger_contactsubdetails"

	contactsubscriptionid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	homephone: Mapped[str | None] = mapped_column(String(50))
	otherphone: Mapped[str | None] = mapped_column(String(50))
	assistant: Mapped[str | None] = mapped_column(String(30))
	assistantphone: Mapped[str | None] = mapped_column(String(50))
	birthday: Mapped[date | None]
	leadsource: Mapped[str | None] = mapped_column(String(200))
