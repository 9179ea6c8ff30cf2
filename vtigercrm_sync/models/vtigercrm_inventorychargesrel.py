"""Shipping & handling charges of an inventory record, as JSON keyed by charge id."""

from __future__ import annotations

from sqlalchemy import Text
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class InventoryChargesRel(Base):
	__tablename__ = "vtiger_inventorychargesrel"

	recordid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	charges: Mapped[str | None] = mapped_column(Text)
