"""``bench --site SITE vtigercrm-sync run|preview|status CONNECTION``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import click
import frappe
from frappe.commands import get_site, pass_context

from vtigercrm_sync.constants import (
	LOG_DOCTYPE,
	SETTING_DOCTYPE,
	STATUS_FAILED,
	STATUS_RUNNING,
	STATUS_TIMED_OUT,
	TRIGGER_CLI,
	WATERMARK_FIELDS,
)

PREVIEW_COLUMNS = ("module", "vtiger_id", "doctype", "entity", "action", "message")


@click.group("vtigercrm-sync")
def vtigercrm_sync():
	"""Sync a VTiger CRM database into this site."""


@vtigercrm_sync.command("run")
@click.argument("connection")
@click.option("--full", is_flag=True, help="Read every record again, not only what changed")
@click.option(
	"--rebuild",
	is_flag=True,
	help="Rebuild all: a full resync that also reads and plans records whose sources did not change",
)
@pass_context
def run(context, connection: str, full: bool = False, rebuild: bool = False):
	"""Run a sync now and wait for it: this process starts it, the bench's workers write its chunks (a run of
	one chunk per stage runs here). Prints its log; exits 1 when it could not start, failed or timed out."""
	from vtigercrm_sync.syncer.run.job import run_sync
	from vtigercrm_sync.syncer.run.state import queue_connection

	with connected_site(context):
		require_connection(connection)
		if not queue_connection(connection):  # the same claim as Sync Now: one run at a time
			frappe.db.rollback()
			raise click.ClickException(f"A sync of {connection} is already queued or running")
		frappe.db.commit()
		outcome = run_sync(connection, trigger=TRIGGER_CLI, full=full, user="Administrator", rebuild=rebuild)
		name = frappe.db.get_value(SETTING_DOCTYPE, connection, "last_log")
		outcome = wait_for(name) if outcome == STATUS_RUNNING else outcome
		log = frappe.get_doc(LOG_DOCTYPE, name)
		click.echo(f"{log.name}: {outcome}")
		click.echo(
			f"read {log.records_read}, created {log.created}, updated {log.updated}, skipped {log.skipped}, "
			f"failed {log.failed}, deleted {log.deleted}, filtered {log.filtered}, unchanged {log.unchanged}"
		)
		if log.error_summary:
			click.echo(log.error_summary, err=True)
	if outcome in (STATUS_FAILED, STATUS_TIMED_OUT):
		raise SystemExit(1)


def wait_for(log: str, every: float = 2.0) -> str:
	"""Wait until the log is final, printing progress; its final status."""
	from vtigercrm_sync.syncer.observer.frappe import chunk_totals

	shown = None
	while True:
		frappe.db.rollback()  # see the workers' commits
		row = frappe.db.get_value(LOG_DOCTYPE, log, ["status", "total_records"], as_dict=True)
		if row.status != STATUS_RUNNING:
			return row.status
		counts = chunk_totals(log)
		read = counts.records_read + counts.unchanged
		if read != shown:
			click.echo(f"{log}: {read} of {row.total_records or 0} records read")
			shown = read
		time.sleep(every)


@vtigercrm_sync.command("preview")
@click.argument("connection")
@click.option("--limit", default=20, show_default=True, help="Changed records per stream")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table")
@pass_context
def preview(context, connection: str, limit: int = 20, as_json: bool = False):
	"""Show what the next run would do, writing nothing."""
	from vtigercrm_sync.syncer.run.job import preview as preview_rows

	with connected_site(context):
		require_connection(connection)
		rows = preview_rows(connection, limit=limit)
	if as_json:
		click.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
	elif not rows:
		click.echo("Nothing to sync.")
	else:
		click.echo(format_table([[preview_cell(row, column) for column in PREVIEW_COLUMNS] for row in rows]))


@vtigercrm_sync.command("status")
@click.argument("connection")
@pass_context
def status(context, connection: str):
	"""Print a connection's status, last run, counts and watermarks."""
	with connected_site(context):
		require_connection(connection)
		doc = frappe.get_doc(SETTING_DOCTYPE, connection)
		click.echo(f"{doc.name}: {doc.status}")
		click.echo(f"last run: {doc.last_run_at or 'never'} (log {doc.last_log or '-'})")
		click.echo(f"counts: {doc.last_counts or '-'}")
		for module, fieldname in WATERMARK_FIELDS.items():
			click.echo(f"{module} read up to: {doc.get(fieldname) or '-'}")
		if doc.last_error:
			click.echo(f"last error: {doc.last_error}")


@contextmanager
def connected_site(context) -> Iterator[None]:
	"""Connect to the command's site as Administrator for the block, and always tear the connection down."""
	site = get_site(context)
	try:
		frappe.init(site=site)
		frappe.connect()
		frappe.set_user("Administrator")
		yield
	finally:
		frappe.destroy()


def require_connection(connection: str) -> None:
	if not frappe.db.exists(SETTING_DOCTYPE, connection):
		names = frappe.get_all(SETTING_DOCTYPE, pluck="name", order_by="modified desc", limit=11)
		known = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "") if names else "none yet"
		raise click.ClickException(f"No {SETTING_DOCTYPE} named {connection!r} (recent ones: {known})")


def preview_cell(row: dict, column: str) -> str:
	"""One preview value; a row the planner filtered or failed has no document id, only its record's."""
	value = row.get(column)
	if value is None and column == "vtiger_id":
		value = row.get("record")
	return "" if value is None else str(value)


def format_table(rows: list[list[str]]) -> str:
	"""Left-aligned columns under a header, the last column unpadded."""
	table = [[column.replace("_", " ") for column in PREVIEW_COLUMNS], *rows]
	widths = [max(len(line[i]) for line in table) for i in range(len(PREVIEW_COLUMNS) - 1)]
	return "\n".join(
		"  ".join(
			[*(cell.ljust(width) for cell, width in zip(line, widths, strict=False)), line[-1]]
		).rstrip()
		for line in table
	)


commands = [vtigercrm_sync]
