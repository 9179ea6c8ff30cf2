"""A contact's mailing and other address."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class ContactAddress(Base):
	__tablename__ = "vtiger_contactaddress"

	contactaddressid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	mailingcity: Mapped[str | None] = mapped_column(String(40))
	mailingstreet: Mapped[str | None] = mapped_column(String(250))
	mailingcountry: Mapped[str | None] = mapped_column(String(40))
	mailingstate: Mapped[str | None] = mapped_column(String(30))
	mailingpobox: Mapped[str | None] = mapped_column(String(30))
	mailingzip: Mapped[str | None] = mapped_column(String(30))
	othercity: Mapped[str | None] = mapped_column(String(40))
	otherstreet: Mapped[str | None] = mapped_column(String(250))
	othercountry: Mapped[str | None] = mapped_column(String(30))
	otherstate: Mapped[str | None] = mapped_column(String(50))
	otherpobox: Mapped[str | None] = mapped_column(String(30))
	otherzip: Mapped[str | None] = mapped_column(String(30))
