"""Key of the sales-order custom-field table; its ``cf_NNN`` columns are reflected at run time (see services.catalog)."""

from __future__ import annotations

from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class SalesOrderCustomFields(Base):
	__tablename__ = "vtiger_salesordercf"

	salesorderid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
