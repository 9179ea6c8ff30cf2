"""VTiger's change log (ModTracker) and its Recycle Bin backups: what a run reads to see the changes
``modifiedtime`` misses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from vtigercrm_sync.database.base import Base


class ModTrackerBasic(Base):
	"""One row per save, delete, restore, link or unlink of a tracked record; ``id`` only grows
	(``vtiger_modtracker_basic_seq``)."""

	__tablename__ = "vtiger_modtracker_basic"

	id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	crmid: Mapped[int | None]
	module: Mapped[str | None] = mapped_column(String(50))
	whodid: Mapped[int | None]
	changedon: Mapped[datetime | None]
	status: Mapped[int | None]


class ModTrackerRelation(Base):
	"""The other record of a link (4) or unlink (5) row, under the same ``id``."""

	__tablename__ = "vtiger_modtracker_relations"

	id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	targetmodule: Mapped[str] = mapped_column(String(100))
	targetid: Mapped[int]
	changedon: Mapped[datetime | None]


class ModTrackerTab(Base):
	"""The modules ModTracker logs (``visible = 1``)."""

	__tablename__ = "vtiger_modtracker_tabs"

	tabid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	visible: Mapped[int | None]


class RelatedListsRb(Base):
	"""What a delete unlinked, kept for a restore: ``related_crm_ids`` (comma-separated) of ``rel_table`` had
	``rel_column`` set to 0. VTiger's table has no key; the ORM needs one, so the row's identity is declared."""

	__tablename__ = "vtiger_relatedlists_rb"

	entityid: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
	action: Mapped[str | None] = mapped_column(String(50))
	rel_table: Mapped[str] = mapped_column(String(200), primary_key=True)
	rel_column: Mapped[str] = mapped_column(String(200), primary_key=True)
	ref_column: Mapped[str | None] = mapped_column(String(200))
	related_crm_ids: Mapped[str | None] = mapped_column(Text)
