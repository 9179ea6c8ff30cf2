"""Line items shared by quotes, orders and invoices. ``lineitem_id`` is renewed on every UI save, so lines are
rebuilt as a whole and ordered by ``sequence_no``."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric, Text
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class InventoryProductRel(Base):
	__tablename__ = "vtiger_inventoryproductrel"

	lineitem_id: Mapped[int] = mapped_column(primary_key=True)
	id: Mapped[int | None]
	productid: Mapped[int | None]
	sequence_no: Mapped[int | None]
	quantity: Mapped[Decimal | None] = mapped_column(Numeric(25, 3))
	listprice: Mapped[Decimal | None] = mapped_column(Numeric(27, 8))
	discount_percent: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
	discount_amount: Mapped[Decimal | None] = mapped_column(Numeric(27, 8))
	comment: Mapped[str | None] = mapped_column(Text)
	description: Mapped[str | None] = mapped_column(Text)
	tax1: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
	tax2: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
	tax3: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
