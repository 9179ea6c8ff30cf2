"""Queue a retry of chosen records: Retry failed records on a log, and the retry of the records waiting on a
reason. The job (``job.retry_records``) takes the run lease first, so a retry never writes beside a run."""

from __future__ import annotations

from typing import Any

import frappe

from vtigercrm_sync.constants import JOB_TIMEOUT


def queue_retry(connection: str, records: list[Any], job_id: str, retry_of: str | None = None) -> dict:
	"""Queue the retry once per ``job_id`` (after this transaction commits); what the form tells the user."""
	frappe.enqueue(
		"vtigercrm_sync.syncer.run.job.retry_records",
		queue="long",
		timeout=JOB_TIMEOUT,
		job_id=job_id,
		deduplicate=True,
		enqueue_after_commit=True,
		now=frappe.flags.in_test,
		connection=connection,
		records=records,
		retry_of=retry_of,
		user=frappe.session.user,
	)
	return {"status": "queued", "count": len(records)}
