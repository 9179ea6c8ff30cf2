"""Key of the accounts custom-field table; its ``cf_NNN`` columns are reflected at run time (see services.catalog)."""

from __future__ import annotations

from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class AccountCustomFields(Base):
	__tablename__ = "vtiger_accountscf"

	accountid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
