"""Scheduler entry point: start every enabled connection whose schedule is due."""

from __future__ import annotations

from datetime import datetime, timedelta

import frappe
from croniter import croniter
from frappe import _
from frappe.utils import get_datetime, now_datetime
from frappe.utils.background_jobs import is_job_enqueued

from vtigercrm_sync.constants import (
	SCHEDULE_CHANGES,
	SCHEDULE_OFF,
	SETTING_DOCTYPE,
	STATUS_QUEUED,
	STATUS_RUNNING,
	TRIGGER_SCHEDULE,
	job_id,
)
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.run.feed import changes_waiting
from vtigercrm_sync.syncer.run.stages import recover

INTERVALS = {"Hourly": timedelta(hours=1), "Daily": timedelta(days=1)}


def start_due_syncs() -> None:
	"""Runs every five minutes (hooks.py): first resumes or closes the runs whose jobs all died (it only
	enqueues), then starts what is due; a connection with a run queued or going is left alone, and one that
	cannot be started is logged without stopping the others."""
	now = now_datetime()
	for name in frappe.get_all(
		SETTING_DOCTYPE, filters={"status": ("in", (STATUS_QUEUED, STATUS_RUNNING))}, pluck="name"
	):
		recover(name)
	for row in frappe.get_all(
		SETTING_DOCTYPE,
		filters={"enabled": 1, "schedule": ("!=", SCHEDULE_OFF)},
		fields=["name", "schedule", "cron_expression", "last_run_at", "creation"],
	):
		last_run = get_datetime(row.last_run_at) if row.last_run_at else None
		if not is_due(row.schedule, row.cron_expression, last_run, now, created=get_datetime(row.creation)):
			continue
		if is_job_enqueued(job_id(row.name)):
			continue
		try:
			start_scheduled_sync(row.name, row.last_run_at)
		except Exception:
			frappe.log_error(
				title=_("Scheduled VTigerCRM Sync {0} could not start").format(row.name),
				reference_doctype=SETTING_DOCTYPE,
				reference_name=row.name,
			)


def start_changed_syncs() -> None:
	"""Runs every minute (hooks.py): each enabled connection on the *Every minute (changes only)* schedule with no
	run queued or on asks VTiger whether anything changed after its watermarks, and runs only then (the claim
	final → Queued still refuses a run that started meanwhile). An unchanged check writes nothing; a connection
	that cannot be checked is logged once an hour, without stopping the others."""
	for name in frappe.get_all(
		SETTING_DOCTYPE,
		filters={
			"enabled": 1,
			"schedule": SCHEDULE_CHANGES,
			"status": ("not in", (STATUS_QUEUED, STATUS_RUNNING)),
		},
		pluck="name",
	):
		if is_job_enqueued(job_id(name)):
			continue
		try:
			doc = frappe.get_doc(SETTING_DOCTYPE, name)
			if changes_waiting(doc):
				start_scheduled_sync(name, doc.last_run_at)
			frappe.db.commit()  # its claim and queued run, whatever the next connection's check meets
			frappe.cache.delete_value(_check_failing(name))
		except Exception:
			frappe.db.rollback()
			if not frappe.cache.get_value(_check_failing(name), expires=True):
				frappe.cache.set_value(_check_failing(name), 1, expires_in_sec=3600)
				frappe.log_error(
					title=_("VTigerCRM Sync {0} could not check VTiger for changes").format(name),
					message=redact(frappe.get_traceback()),
					reference_doctype=SETTING_DOCTYPE,
					reference_name=name,
				)
				frappe.db.commit()


def _check_failing(connection: str) -> str:
	return f"vtigercrm_sync_check_failing::{connection}"


def start_scheduled_sync(connection: str, last_run_at: datetime | None) -> None:
	"""A system job: the scheduler starts the run whoever may or may not press Sync Now, unless a run ended
	since it read ``last_run_at`` and found the connection due."""
	doc = frappe.get_doc(SETTING_DOCTYPE, connection)
	doc.flags.ignore_permissions = True
	doc.start_sync(TRIGGER_SCHEDULE, user="Administrator", last_run_at=last_run_at)


def is_due(
	schedule: str,
	cron_expression: str | None,
	last_run: datetime | None,
	now: datetime,
	created: datetime | None = None,
) -> bool:
	"""Whether a connection with this schedule, last run at ``last_run``, should run at ``now``.

	Hourly and Daily: never run, or the interval has passed. Cron: the first fire time after the last run (or,
	never run, after ``created``; failing that, a day ago) has come."""
	if schedule in INTERVALS:
		return last_run is None or now - last_run >= INTERVALS[schedule]
	if schedule == "Cron" and cron_expression and croniter.is_valid(cron_expression):
		start = last_run or created or now - timedelta(days=1)
		return croniter(cron_expression, start).get_next(datetime) <= now
	return False
