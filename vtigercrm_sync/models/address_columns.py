"""The six address columns VTiger repeats in its bill/ship address tables (accounts' and orders' alike)."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column


class BillAddressColumns:
	bill_city: Mapped[str | None] = mapped_column(String(30))
	bill_code: Mapped[str | None] = mapped_column(String(30))
	bill_country: Mapped[str | None] = mapped_column(String(30))
	bill_state: Mapped[str | None] = mapped_column(String(30))
	bill_street: Mapped[str | None] = mapped_column(String(250))
	bill_pobox: Mapped[str | None] = mapped_column(String(30))


class ShipAddressColumns:
	ship_city: Mapped[str | None] = mapped_column(String(30))
	ship_code: Mapped[str | None] = mapped_column(String(30))
	ship_country: Mapped[str | None] = mapped_column(String(30))
	ship_state: Mapped[str | None] = mapped_column(String(30))
	ship_street: Mapped[str | None] = mapped_column(String(250))
	ship_pobox: Mapped[str | None] = mapped_column(String(30))
