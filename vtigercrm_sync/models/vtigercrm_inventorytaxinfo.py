"""Tax definitions: ``vtiger_inventorytaxinfo`` for line taxes (``taxname`` tax1.. names a column of the lines),
``vtiger_shippingtaxinfo`` for taxes on shipping & handling (shtax1.., keyed by ``taxid`` in the charges JSON)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class InventoryTaxInfo(Base):
	__tablename__ = "vtiger_inventorytaxinfo"

	taxid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	taxname: Mapped[str | None] = mapped_column(String(50))
	taxlabel: Mapped[str | None] = mapped_column(String(50))
	percentage: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
	deleted: Mapped[int | None]


class ShippingTaxInfo(Base):
	__tablename__ = "vtiger_shippingtaxinfo"

	taxid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	taxname: Mapped[str | None] = mapped_column(String(50))
	taxlabel: Mapped[str | None] = mapped_column(String(50))
	percentage: Mapped[Decimal | None] = mapped_column(Numeric(7, 3))
	deleted: Mapped[int | None]
