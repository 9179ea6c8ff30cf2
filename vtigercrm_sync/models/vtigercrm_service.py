"""Services module table (non-stock items)."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class Service(Base):
	__tablename__ = "vtiger_service"

	serviceid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	service_no: Mapped[str] = mapped_column(String(100))
	servicename: Mapped[str] = mapped_column(String(255))
	servicecategory: Mapped[str | None] = mapped_column(String(200))
	unit_price: Mapped[Decimal | None] = mapped_column(Numeric(25, 8))
	discontinued: Mapped[int]
	service_usageunit: Mapped[str | None] = mapped_column(String(200))
