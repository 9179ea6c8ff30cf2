"""Billing address snapshot of a sales order."""

from __future__ import annotations

from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base
from vtigercrm_sync.models.address_columns import BillAddressColumns


class SalesOrderBillAddress(BillAddressColumns, Base):
	__tablename__ = "vtiger_sobillads"

	sobilladdressid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
