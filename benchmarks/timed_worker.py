"""``bench worker`` that also times each document a sync writes, for ``frappe_sync.py``'s per-doctype table.

Runs Frappe's own worker command after wrapping ``SyncRun._apply_plan`` (the handler's find, fill, check, save,
submit and primary links of one document, in its savepoint): each call appends ``kind<TAB>seconds<TAB>action`` to
the file ``VTIGERCRM_SYNC_BENCH_TIMES`` names. The work horses are forked from this process, so they inherit the
wrapper. Benchmark use only.
"""

from __future__ import annotations

import os
import sys
import time

from frappe.utils.bench_helper import main

from vtigercrm_sync.syncer.run.run import SyncRun

_apply_plan = SyncRun._apply_plan


def _timed(self, plan, *args, **kwargs):
	started = time.perf_counter()
	outcome = _apply_plan(self, plan, *args, **kwargs)
	elapsed = time.perf_counter() - started
	submitted = (
		plan.doctype == "Sales Order" and plan.meta.get("vtiger_status") in self.settings.submit_statuses
	)
	kind = "Sales Order, submitted" if submitted else plan.doctype
	action = "Failed" if outcome is None else "Repeat" if outcome.repeat else outcome.action
	with open(os.environ["VTIGERCRM_SYNC_BENCH_TIMES"], "a") as out:
		out.write(f"{kind}\t{elapsed}\t{action}\n")
	return outcome


if __name__ == "__main__":
	SyncRun._apply_plan = _timed
	sys.argv[0] = "frappe"
	main()
