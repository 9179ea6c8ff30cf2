"""Key of the contacts custom-field table; its ``cf_NNN`` columns are reflected at run time (see services.catalog)."""

from __future__ import annotations

from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class ContactCustomFields(Base):
	__tablename__ = "vtiger_contactscf"

	contactid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
