"""Usage units of products (``vtiger_usageunit``) and services (``vtiger_service_usageunit``): picklist values."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class UsageUnit(Base):
	__tablename__ = "vtiger_usageunit"

	usageunitid: Mapped[int] = mapped_column(primary_key=True)
	usageunit: Mapped[str] = mapped_column(String(200))
	presence: Mapped[int]


class ServiceUsageUnit(Base):
	__tablename__ = "vtiger_service_usageunit"

	service_usageunitid: Mapped[int] = mapped_column(primary_key=True)
	service_usageunit: Mapped[str] = mapped_column(String(200))
	presence: Mapped[int]
