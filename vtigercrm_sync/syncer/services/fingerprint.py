"""Fingerprints of a record's sources: what a run compares to leave an unchanged record unread.

A record's documents are planned from its bundle: the record and every VTiger record the bundle reads with it (an
order's account, contact and line items). Its fingerprint is a digest of each of those records' ``modifiedtime``
(None for a reference to nothing, a deleted or a purged record) together with a digest of what else shapes the plans
(the connection's settings, the mapping, the code's version), so it moves when any of them moves. Which records a
bundle read is stored beside the fingerprint: a record's references change only with its own ``modifiedtime``
(raw UPDATEs that empty a reference come through the change feed, which reads the record whatever its fingerprint),
so one query per page of the stored sources' times tells which records of the page are unchanged. A deleted
record's fingerprint is its own time of deletion (:func:`deleted_fingerprint`), from the page's keys.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vtigercrm_sync import models as m
from vtigercrm_sync.config.spec import STREAM_SOURCES
from vtigercrm_sync.syncer.services.query import Bundle, reference

SOURCE_SEPARATOR = ","
REFERENCES = {"salesorder": ("account", "contact"), "contact": ("account",)}
"""Parts a record's row names by reference (``accountid``, ``contactid``), by the source that holds it."""


def bundle_sources(bundle: Bundle) -> dict[int, datetime | None]:
	"""crmid -> ``modifiedtime`` of every VTiger record the bundle was read from; None for a reference to a record
	that is deleted or not there (the reader leaves its part empty), as :func:`source_times` reads it."""
	sources: dict[int, datetime | None] = {bundle.source.crmid: bundle.modifiedtime}
	primary = STREAM_SOURCES[bundle.source.module][0]
	own = bundle.parts.get(primary) or {}
	for part in REFERENCES.get(primary, ()):
		crmid = reference(own.get(f"{part}id"))
		if crmid:
			row = bundle.parts.get(part)
			sources[crmid] = row["modifiedtime"] if row else None
	for line in bundle.lines:
		crmid = reference(line.get("productid"))
		if crmid:
			sources[crmid] = None if line.get("item_deleted") else line.get("item_modifiedtime")
	return sources


def fingerprint(sources: dict[int, datetime | None], shaping: str) -> str:
	"""The digest of the sources' times and of ``shaping`` (what else shapes the plans: :func:`digest`)."""
	stamps = SOURCE_SEPARATOR.join(f"{crmid}@{_stamp(sources[crmid])}" for crmid in sorted(sources))
	return digest(shaping, stamps)


def deleted_fingerprint(modifiedtime: datetime, shaping: str) -> str:
	"""A record deleted in VTiger, as the deletion policy (in ``shaping``) left its documents: it moves when the
	record is deleted again (a restore and a new delete stamp a new time) or the policy changes."""
	return digest(shaping, "deleted", _stamp(modifiedtime))


def digest(*parts: Any) -> str:
	"""A short stable digest of values whose ``repr`` is stable (strings, numbers, sorted tuples)."""
	return hashlib.sha256(repr(parts).encode()).hexdigest()[:32]


def source_list(sources: Iterable[int]) -> str:
	"""How the sources a record was read from are stored beside its fingerprint."""
	return SOURCE_SEPARATOR.join(str(crmid) for crmid in sorted(sources))


def parse_sources(value: str | None) -> list[int]:
	return [int(crmid) for crmid in (value or "").split(SOURCE_SEPARATOR) if crmid]


def source_times(session: Session, crmids: Iterable[int]) -> dict[int, datetime | None]:
	"""crmid -> ``modifiedtime`` of live records, None for deleted or purged ones: one query."""
	wanted = sorted(set(crmids))
	times: dict[int, datetime | None] = dict.fromkeys(wanted)
	if not wanted:
		return times
	e = m.CrmEntity.__table__
	rows = session.execute(select(e.c.crmid, e.c.modifiedtime, e.c.deleted).where(e.c.crmid.in_(wanted)))
	for crmid, modifiedtime, deleted in rows:
		times[crmid] = None if deleted else modifiedtime
	return times


def unchanged_records(session: Session, stored: dict[int, tuple[str, str]], shaping: str) -> set[int]:
	"""Of the records with a stored (fingerprint, sources), those whose sources' times, read now, and
	``shaping`` give the same fingerprint."""
	times = source_times(
		session, (crmid for _f, sources in stored.values() for crmid in parse_sources(sources))
	)
	return {
		crmid
		for crmid, (stored_fingerprint, sources) in stored.items()
		if fingerprint({source: times[source] for source in parse_sources(sources)}, shaping)
		== stored_fingerprint
	}


def _stamp(value: datetime | None) -> str:
	if value is None:
		return "-"
	if isinstance(value, str):
		value = datetime.fromisoformat(value)
	return f"{value:%Y-%m-%d %H:%M:%S}"
