"""Scheduler entry point: start every enabled connection whose schedule is due."""

from __future__ import annotations

from datetime import datetime, timedelta

import frappe
from croniter import croniter
from frappe.utils import get_datetime, now_datetime
from frappe.utils.background_jobs import is_job_enqueued

from vtigercrm_sync.constants import SETTING_DOCTYPE, TRIGGER_SCHEDULE, job_id

INTERVALS = {"Hourly": timedelta(hours=1), "Daily": timedelta(days=1)}


def start_due_syncs() -> None:
	"""Runs every five minutes; a run already queued or going for a connection is left alone."""
	now = now_datetime()
	for row in frappe.get_all(
		SETTING_DOCTYPE,
		filters={"enabled": 1, "schedule": ("!=", "Off")},
		fields=["name", "schedule", "cron_expression", "last_run_at", "creation"],
	):
		last = get_datetime(row.last_run_at) if row.last_run_at else None
		if is_due(row.schedule, row.cron_expression, last, now, created=get_datetime(row.creation)):
			if not is_job_enqueued(job_id(row.name)):
				frappe.get_doc(SETTING_DOCTYPE, row.name).start_sync(TRIGGER_SCHEDULE, user="Administrator")


def is_due(
	schedule: str,
	cron_expression: str | None,
	last_run: datetime | None,
	now: datetime,
	created: datetime | None = None,
) -> bool:
	"""Whether a connection with this schedule, last run at ``last_run``, should run at ``now``."""
	if schedule in INTERVALS:
		return last_run is None or now - last_run >= INTERVALS[schedule]
	if schedule == "Cron" and cron_expression:
		start = last_run or created or now - timedelta(days=1)
		return croniter(cron_expression, start).get_next(datetime) <= now
	return False
