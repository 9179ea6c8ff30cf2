"""No echo: after a push, the document carries the hash the next pull will compute for it.

A push moves the VTiger record's ``modifiedtime``, so the next pull reads it again. The pusher reads the record back
over SQL, plans it as that pull will, and, when the plan holds exactly what the document already holds, stores the
plan's hash on the document: the pull then finds the same hash and skips it. When VTiger holds anything else (a
field a VTiger user changed meanwhile, a value VTiger reshaped) the hash is left alone and the pull brings it.
"""

from __future__ import annotations

from typing import Any

import frappe

from vtigercrm_sync.constants import PULLED_FIELD, VTIGER_HASH_FIELD, VTIGER_ID_FIELD
from vtigercrm_sync.syncer.handler.base import pulled_json
from vtigercrm_sync.syncer.plan import DocumentPlan, VTigerId
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.services.reverse import same_value


class EchoGuard:
	"""Built once per drain (it opens the connection's reader and planner on first use)."""

	def __init__(self, connection: str):
		self.connection = connection
		self._run = None

	def run(self):
		if self._run is None:
			from vtigercrm_sync.syncer.run.run import SyncRun

			self._run = SyncRun(self.connection)
		return self._run

	def record(self, doc: Any, module: str) -> bool:
		"""Store the next pull's hash on ``doc`` when that pull would change none of its values. The push has
		happened whatever this finds: a failure here only means the next pull writes the same values once."""
		try:
			return self._record(doc, module)
		except Exception:
			frappe.log_error(
				title=f"VTigerCRM Sync: no echo hash for {doc.doctype} {doc.name}",
				message=redact(frappe.get_traceback()),
			)
			return False

	def _record(self, doc: Any, module: str) -> bool:
		# as committed now, not as the push read it: a pull may have written it since (a locking read sees that)
		doc = frappe.get_doc(doc.doctype, doc.name, for_update=True)
		run = self.run()
		if module not in run.streams:
			return False
		vtiger_id = doc.get(VTIGER_ID_FIELD)
		bundles = run.reader.read_records(module, [VTigerId.parse(vtiger_id).crmid])
		if not bundles:
			return False
		plan = next((p for p in run.planner.plan(bundles[0]).plans if p.vtiger_id == vtiger_id), None)
		handler = plan and run.handlers.get(plan.entity.split("#")[0])  # a group member's key is name#N
		if plan is None or handler is None or not holds(doc, plan):
			return False
		values = {VTIGER_HASH_FIELD: handler.stored_hash(plan)}
		if plan.pulled and doc.meta.has_field(PULLED_FIELD):
			values[PULLED_FIELD] = pulled_json(plan.pulled)
		frappe.db.set_value(doc.doctype, doc.name, values, update_modified=False)
		return True


def holds(doc: Any, plan: DocumentPlan) -> bool:
	"""The document already has every value and child row the plan would write."""
	for fieldname, value in plan.values.items():
		if doc.meta.has_field(fieldname) and not same_value(doc.get(fieldname), value):
			return False
	for table, rows in plan.children.items():
		have = [row.as_dict() for row in doc.get(table) or []]
		if len(have) != len(rows):
			return False
		for wanted in rows:
			if not any(all(same_value(row.get(k), v) for k, v in wanted.items()) for row in have):
				return False
	return True
