"""An account's billing address (one row per account)."""

from __future__ import annotations

from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base
from vtigercrm_sync.models.address_columns import BillAddressColumns


class AccountBillAddress(BillAddressColumns, Base):
	__tablename__ = "vtiger_accountbillads"

	accountaddressid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
