"""``bench --site SITE vtigercrm-sync run|preview|status CONNECTION``."""

from __future__ import annotations

import json

import click
import frappe
from frappe.commands import get_site, pass_context

from vtigercrm_sync.constants import LOG_DOCTYPE, SETTING_DOCTYPE, TRIGGER_CLI, WATERMARK_FIELDS


@click.group("vtigercrm-sync")
def vtigercrm_sync():
	"""Sync a VTiger CRM database into this site."""


@vtigercrm_sync.command("run")
@click.argument("connection")
@click.option("--full", is_flag=True, help="Read every record again, not only what changed")
@pass_context
def run(context, connection: str, full: bool = False):
	"""Run a sync now, in this process, and print its log."""
	from vtigercrm_sync.syncer.handler.sync import run_sync

	with _site(context):
		status = run_sync(connection, trigger=TRIGGER_CLI, full=full, user="Administrator")
		log = frappe.get_doc(LOG_DOCTYPE, frappe.db.get_value(SETTING_DOCTYPE, connection, "last_log"))
		click.echo(f"{log.name}: {status}")
		click.echo(
			f"read {log.records_read}, created {log.created}, updated {log.updated}, skipped {log.skipped}, "
			f"failed {log.failed}, deleted {log.deleted}, filtered {log.filtered}"
		)
		if log.error_summary:
			click.echo(log.error_summary)


@vtigercrm_sync.command("preview")
@click.argument("connection")
@click.option("--limit", default=20, help="Changed records per stream")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table")
@pass_context
def preview(context, connection: str, limit: int = 20, as_json: bool = False):
	"""Show what the next run would do, writing nothing."""
	from vtigercrm_sync.syncer.handler.sync import preview as preview_rows

	with _site(context):
		rows = preview_rows(connection, limit=limit)
		if as_json:
			click.echo(json.dumps(rows, indent=2, ensure_ascii=False, default=str))
			return
		for row in rows:
			click.echo(
				f"{row['module']:<11} {row['record']!s:<10} {row['action']:<8} "
				f"{row.get('doctype', ''):<12} {row.get('vtiger_id', ''):<16} {row.get('message', '')}"
			)


@vtigercrm_sync.command("status")
@click.argument("connection")
@pass_context
def status(context, connection: str):
	"""Print a connection's status, last run and watermarks."""
	with _site(context):
		doc = frappe.get_doc(SETTING_DOCTYPE, connection)
		click.echo(
			f"{doc.name}: {doc.status} (last run {doc.last_run_at or 'never'}, log {doc.last_log or '-'})"
		)
		click.echo(f"counts: {doc.last_counts or '-'}")
		for module, fieldname in WATERMARK_FIELDS.items():
			click.echo(f"{module} read up to: {doc.get(fieldname) or '-'}")


class _site:
	"""Connect to the command's site for the block, and always tear the connection down."""

	def __init__(self, context):
		self.site = get_site(context)

	def __enter__(self):
		frappe.init(site=self.site)
		frappe.connect()
		frappe.set_user("Administrator")

	def __exit__(self, *exc):
		frappe.destroy()


commands = [vtigercrm_sync]
