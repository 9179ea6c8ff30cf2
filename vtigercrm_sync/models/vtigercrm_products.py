"""Products module table (stock items)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class Product(Base):
	__tablename__ = "vtiger_products"

	productid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	product_no: Mapped[str] = mapped_column(String(100))
	productname: Mapped[str | None] = mapped_column(String(100))
	productcode: Mapped[str | None] = mapped_column(String(40))
	productcategory: Mapped[str | None] = mapped_column(String(200))
	unit_price: Mapped[Decimal | None] = mapped_column(Numeric(25, 8))
	discontinued: Mapped[int]
	usageunit: Mapped[str | None] = mapped_column(String(200))
