"""Contacts module table."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class ContactDetails(Base):
	__tablename__ = "vtiger_contactdetails"

	contactid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	contact_no: Mapped[str] = mapped_column(String(100))
	accountid: Mapped[int | None]
	salutation: Mapped[str | None] = mapped_column(String(200))
	firstname: Mapped[str | None] = mapped_column(String(40))
	lastname: Mapped[str] = mapped_column(String(80))
	email: Mapped[str | None] = mapped_column(String(100))
	phone: Mapped[str | None] = mapped_column(String(50))
	mobile: Mapped[str | None] = mapped_column(String(50))
	title: Mapped[str | None] = mapped_column(String(50))
	department: Mapped[str | None] = mapped_column(String(30))
	fax: Mapped[str | None] = mapped_column(String(50))
	reportsto: Mapped[str | None] = mapped_column(String(30))
	secondaryemail: Mapped[str | None] = mapped_column(String(100))
	donotcall: Mapped[str | None] = mapped_column(String(3))
	emailoptout: Mapped[str | None] = mapped_column(String(3))
