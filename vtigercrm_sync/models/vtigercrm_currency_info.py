"""Currencies; the base one has ``defaultid='-11'``."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class CurrencyInfo(Base):
	__tablename__ = "vtiger_currency_info"

	id: Mapped[int] = mapped_column(primary_key=True)
	currency_name: Mapped[str | None] = mapped_column(String(100))
	currency_code: Mapped[str | None] = mapped_column(String(100))
	currency_symbol: Mapped[str | None] = mapped_column(String(30))
	conversion_rate: Mapped[Decimal | None] = mapped_column(Numeric(12, 5))
	defaultid: Mapped[str] = mapped_column(String(10))
	deleted: Mapped[int]
