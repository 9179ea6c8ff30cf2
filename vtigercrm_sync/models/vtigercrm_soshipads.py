"""Shipping address snapshot of a sales order."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class SalesOrderShipAddress(Base):
	__tablename__ = "vtiger_soshipads"

	soshipaddressid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	ship_city: Mapped[str | None] = mapped_column(String(30))
	ship_code: Mapped[str | None] = mapped_column(String(30))
	ship_country: Mapped[str | None] = mapped_column(String(30))
	ship_state: Mapped[str | None] = mapped_column(String(30))
	ship_street: Mapped[str | None] = mapped_column(String(250))
	ship_pobox: Mapped[str | None] = mapped_column(String(30))
