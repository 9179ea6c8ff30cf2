"""Accounts module table (companies, households)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class Account(Base):
	__tablename__ = "vtiger_account"

	accountid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	account_no: Mapped[str] = mapped_column(String(100))
	accountname: Mapped[str] = mapped_column(String(100))
	parentid: Mapped[int | None]
	account_type: Mapped[str | None] = mapped_column(String(200))
	industry: Mapped[str | None] = mapped_column(String(200))
	annualrevenue: Mapped[Decimal | None] = mapped_column(Numeric(25, 8))
	rating: Mapped[str | None] = mapped_column(String(200))
	ownership: Mapped[str | None] = mapped_column(String(50))
	siccode: Mapped[str | None] = mapped_column(String(50))
	tickersymbol: Mapped[str | None] = mapped_column(String(30))
	phone: Mapped[str | None] = mapped_column(String(30))
	otherphone: Mapped[str | None] = mapped_column(String(30))
	email1: Mapped[str | None] = mapped_column(String(100))
	email2: Mapped[str | None] = mapped_column(String(100))
	website: Mapped[str | None] = mapped_column(String(100))
	fax: Mapped[str | None] = mapped_column(String(30))
	employees: Mapped[int | None]
	emailoptout: Mapped[str | None] = mapped_column(String(3))
