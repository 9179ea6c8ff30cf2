"""SalesOrder module table; money columns are in the order's currency."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class SalesOrder(Base):
	__tablename__ = "vtiger_salesorder"

	salesorderid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	subject: Mapped[str | None] = mapped_column(String(100))
	salesorder_no: Mapped[str | None] = mapped_column(String(100))
	customerno: Mapped[str | None] = mapped_column(String(100))
	potentialid: Mapped[int | None]
	quoteid: Mapped[int | None]
	contactid: Mapped[int | None]
	accountid: Mapped[int | None]
	duedate: Mapped[date | None]
	carrier: Mapped[str | None] = mapped_column(String(200))
	pending: Mapped[str | None] = mapped_column(String(200))
	type: Mapped[str | None] = mapped_column(String(100))
	adjustment: Mapped[Decimal | None] = mapped_column(Numeric(25, 8))
	total: Mapped[Decimal | None] = mapped_column(Numeric(25, 8))
	subtotal: Mapped[Decimal | None] = mapped_column(Numeric(25, 8))
	pre_tax_total: Mapped[Decimal | None] = mapped_column(Numeric(25, 8))
	taxtype: Mapped[str | None] = mapped_column(String(25))
	discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(25, 3))
	discount_amount: Mapped[Decimal | None] = mapped_column(Numeric(25, 8))
	s_h_amount: Mapped[Decimal | None] = mapped_column(Numeric(25, 8))
	s_h_percent: Mapped[Decimal | None] = mapped_column(Numeric(25, 3))
	terms_conditions: Mapped[str | None] = mapped_column(Text)
	purchaseorder: Mapped[str | None] = mapped_column(String(200))
	sostatus: Mapped[str | None] = mapped_column(String(200))
	currency_id: Mapped[int]
	conversion_rate: Mapped[Decimal] = mapped_column(Numeric(10, 3))
	enable_recurring: Mapped[int | None]
