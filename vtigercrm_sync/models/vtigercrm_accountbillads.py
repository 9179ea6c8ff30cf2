"""An account's billing address (one row per account)."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class AccountBillAddress(Base):
	__tablename__ = "vtiger_accountbillads"

	accountaddressid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	bill_city: Mapped[str | None] = mapped_column(String(30))
	bill_code: Mapped[str | None] = mapped_column(String(30))
	bill_country: Mapped[str | None] = mapped_column(String(30))
	bill_state: Mapped[str | None] = mapped_column(String(30))
	bill_street: Mapped[str | None] = mapped_column(String(250))
	bill_pobox: Mapped[str | None] = mapped_column(String(30))
