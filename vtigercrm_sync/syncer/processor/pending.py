"""ERPNext edits still waiting in the outbox, as a pull sees them: a pull must never undo one unseen.

An edit waits while VTiger is down or its push backs off. A pull of the same record meanwhile reads VTiger's older
value; written blindly, it would undo the edit without a word, and the push would then write a value ERPNext no
longer holds. So the planner hands every document it plans to :meth:`PendingEdits.reconcile`, which decides each
waiting field by the push's own rule (:func:`~vtigercrm_sync.syncer.services.reverse.field_outcome`):

- VTiger still holds the last-synced value: the document keeps ERPNext's value, and the push writes it;
- VTiger already holds ERPNext's value: nothing to decide;
- both sides changed it: the connection's rule keeps ERPNext's value (the push writes it over VTiger's) or writes
  VTiger's (the push forgets the field), and the value that lost goes on a Conflict line.

A field whose push is being sent (its row *Sending*) is not decided here: the push in flight judges it against
VTiger's value as it is then, so the document keeps ERPNext's value, kept also as VTiger's (what the push leaves
there unless it loses; a push that loses or gives up has the record read again).

Plain Python: the Frappe side loads the waiting edits before a run plans, and settles the outbox rows once the
document is written (``syncer/run/pending.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from vtigercrm_sync.syncer.services.reverse import (
	CONFLICT_ERPNEXT,
	CONFLICT_VTIGER,
	SAME,
	WRITE,
	Decision,
	FieldChange,
	field_outcome,
	vtiger_utc,
)


@dataclass(frozen=True)
class WaitingEdit:
	"""One outbox row of edits to one document: ``changes`` as captured, ``changed_at`` in UTC; ``sending`` when a
	drain is sending it."""

	doctype: str
	vtiger_id: str
	changed_at: datetime | None
	changes: tuple[FieldChange, ...]
	sending: bool = False


class PendingEdits:
	"""The waiting edits of one connection, by document, folded per field: the first edit's old value is what the
	last sync left on both sides, the last edit's new value is what ERPNext holds now."""

	def __init__(self, rule: str, vtiger_time_zone: str | None = None):
		self.rule = rule
		self.vtiger_time_zone = vtiger_time_zone
		self._fields: dict[tuple[str, str], dict[str, tuple[FieldChange, datetime | None, bool]]] = {}

	def load(self, edits: Iterable[WaitingEdit]) -> None:
		"""Replace what is known with ``edits``, oldest first."""
		self._fields = {}
		for edit in edits:
			fields = self._fields.setdefault((edit.doctype, edit.vtiger_id), {})
			for change in edit.changes:
				first = fields.get(change.target)
				old = first[0].old if first else change.old
				sending = edit.sending or bool(first and first[2])
				fields[change.target] = (
					FieldChange(change.target, old, change.new),
					edit.changed_at,
					sending,
				)

	def __bool__(self) -> bool:
		"""Whether any edit waits: with none, planning asks nothing per row."""
		return bool(self._fields)

	def waiting(self, doctype: str, vtiger_id: str) -> bool:
		return (doctype, vtiger_id) in self._fields

	def reconcile(
		self,
		doctype: str,
		vtiger_id: str,
		values: dict[str, Any],
		vtiger_modified: datetime | None,
		pulled: dict[str, Any],
	) -> tuple[Decision, ...]:
		"""Decide the document's waiting fields against VTiger's ``values`` (as the pull planned them), putting
		ERPNext's value back into ``values`` wherever it stays (and into ``pulled``, VTiger's values as kept, for
		a field being sent); returns the decisions the outbox must follow."""
		fields = self._fields.get((doctype, vtiger_id))
		if not fields:
			return ()
		modified = vtiger_utc(vtiger_modified, self.vtiger_time_zone)
		decisions = []
		for target, (change, changed_at, sending) in fields.items():
			if target not in values:
				continue
			if sending:  # the push in flight decides
				values[target] = change.new
				if target in pulled:
					pulled[target] = change.new
				continue
			vtiger_now = values[target]
			outcome = field_outcome(vtiger_now, change, self.rule, modified, changed_at)
			if outcome in (WRITE, CONFLICT_ERPNEXT):
				values[target] = change.new
			if outcome != SAME:
				decisions.append(Decision(target, "", outcome, None, vtiger_now, change.new))
		return tuple(decisions)


def settle_changes(
	changes: list[list[Any]], decisions: Mapping[str, Decision], first: set[str]
) -> list[list[Any]]:
	"""One outbox row's ``[target, old, new]`` changes after a pull decided its fields: a field VTiger won is
	dropped (the push must not write the losing value); a field ERPNext won starts from VTiger's value, so the
	push writes it without finding the same conflict again. ``first`` holds the targets whose first waiting row
	this is (only that row's old value is what VTiger holds); it is emptied of those it settles."""
	settled = []
	for target, old, new in changes:
		decision = decisions.get(target)
		if decision is not None and decision.outcome == CONFLICT_VTIGER:
			continue
		if decision is not None and decision.outcome == CONFLICT_ERPNEXT and target in first:
			old = decision.vtiger_value
			first.discard(target)
		settled.append([target, old, new])
	return settled
