# Copyright (c) 2026, vtigercrm_sync developers
# For license information, please see license.txt

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode
from zoneinfo import available_timezones

import frappe
from croniter import croniter
from frappe import _, _lt
from frappe.model.document import Document
from frappe.utils import escape_html
from frappe.utils.background_jobs import is_job_enqueued
from sqlalchemy.exc import SQLAlchemyError

from vtigercrm_sync.config.config import load_handler_config, load_mapping, load_preset
from vtigercrm_sync.config.spec import MappingConfig, MappingError, Problem
from vtigercrm_sync.constants import (
	BANK_CARD_DOCTYPE,
	CONNECTION_FIELD,
	JOB_TIMEOUT,
	MODULE_FIELD,
	SETTING_DOCTYPE,
	STATUS_FAILED,
	STATUS_QUEUED,
	STATUS_RUNNING,
	STATUS_TIMED_OUT,
	STREAM_FIELDS,
	SYNC_ROLES,
	TRIGGER_BUTTON,
	VTIGER_ID_FIELD,
	WATERMARK_FIELDS,
	job_id,
	writeback_job_id,
)
from vtigercrm_sync.database.engine import ConnectionSettings, get_engine
from vtigercrm_sync.database.unit_of_work import SqlAlchemyUnitOfWork
from vtigercrm_sync.syncer.observer.base import headline
from vtigercrm_sync.syncer.plan import VTigerId
from vtigercrm_sync.syncer.push.pusher import pending_count
from vtigercrm_sync.syncer.redact import redact
from vtigercrm_sync.syncer.run.reconcile import start_reconcile
from vtigercrm_sync.syncer.run.stages import recover
from vtigercrm_sync.syncer.run.state import ANY_LAST_RUN, RUN_STATE_FIELDS, is_alive, queue_connection
from vtigercrm_sync.syncer.run.waiting import waiting_reasons
from vtigercrm_sync.syncer.services.changes import preflight
from vtigercrm_sync.syncer.services.query import ConnectionFailed, check_connection, read_catalog
from vtigercrm_sync.syncer.services.webservice import (
	VTigerWebService,
	WebServiceError,
	WebServiceSettings,
	is_http_url,
)
from vtigercrm_sync.syncer.setup.tax_accounts import create_tax_accounts, unmapped_tax_rows
from vtigercrm_sync.syncer.setup.units import fill_units, whole_number_units

ID_PREFIX_BASE_LENGTH = 12
SUMMARY_COUNTS = (
	("failed", _lt("{0} failed")),
	("created", _lt("{0} created")),
	("updated", _lt("{0} updated")),
	("deleted", _lt("{0} deleted or disabled")),
	("records_read", _lt("{0} records read")),
	("unchanged", _lt("{0} records unchanged")),
)


class VTigerCRMSync(Document):
	# begin: auto-generated types
	# This code is auto-generated. Do not modify anything in this block.

	from typing import TYPE_CHECKING

	if TYPE_CHECKING:
		from frappe.types import DF

		from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_tax_account.vtigercrm_sync_tax_account import (
			VTigerCRMSyncTaxAccount,
		)
		from vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_unit.vtigercrm_sync_unit import (
			VTigerCRMSyncUnit,
		)

		batch_size: DF.Int
		company: DF.Link
		conflict_rule: DF.Literal["VTiger wins", "ERPNext wins", "Latest change wins"]
		connect_timeout: DF.Int
		cron_expression: DF.Data | None
		custom_mapping: DF.Code | None
		customer_group: DF.Link | None
		database_name: DF.Data
		db_password: DF.Password | None
		db_user: DF.Data
		default_country: DF.Link | None
		default_currency: DF.Link | None
		deleted_record_action: DF.Literal["Ignore", "Disable", "Delete Drafts"]
		delivery_date_rule: DF.Literal["Due date, else order date + days", "Order date + days"]
		delivery_days: DF.Int
		enabled: DF.Check
		host: DF.Data
		id_prefix: DF.Data | None
		item_group: DF.Link | None
		last_counts: DF.SmallText | None
		last_error: DF.SmallText | None
		last_log: DF.Link | None
		last_run_at: DF.Datetime | None
		mapping_preset: DF.Literal["standard", "insurance_household", "custom"]
		overlap_minutes: DF.Int
		port: DF.Int
		push_edits: DF.Check
		push_new_customers: DF.Check
		push_status: DF.Check
		schedule: DF.Literal["Off", "Every minute (changes only)", "Hourly", "Daily", "Cron"]
		selling_price_list: DF.Link | None
		status: DF.Literal[
			"Never Run", "Queued", "Running", "Success", "Partial Success", "Failed", "Timed Out"
		]
		store_full_card_number: DF.Check
		submit_statuses: DF.SmallText | None
		sync_accounts: DF.Check
		sync_contacts: DF.Check
		sync_sales_orders: DF.Check
		tax_accounts: DF.Table[VTigerCRMSyncTaxAccount]
		territory: DF.Link | None
		title: DF.Data
		units: DF.Table[VTigerCRMSyncUnit]
		vtiger_access_key: DF.Password | None
		vtiger_time_zone: DF.Data | None
		vtiger_url: DF.Data | None
		vtiger_user: DF.Data | None
		vtiger_user_dedicated: DF.Check
		watermark_accounts: DF.Data | None
		watermark_contacts: DF.Data | None
		watermark_sales_orders: DF.Data | None

	# end: auto-generated types

	def before_insert(self):
		self.set_id_prefix()

	def onload(self):
		self.set_onload("run_summary", self.run_summary())

	def run_summary(self) -> dict:
		"""What the form says at its top: the last run's outcome in a line, its log, and whether a run is on (then
		Sync Now and Full Resync are disabled)."""
		on = self.status in (STATUS_QUEUED, STATUS_RUNNING)
		running = on and is_alive(self.name)
		counts = json.loads(self.last_counts or "{}")
		if running:
			text = _("A sync is {0}").format(_(self.status).lower())
		elif on:
			text = _(
				"The last run stopped without ending (its worker is gone); Sync Now closes or resumes it"
			)
		elif not self.last_log:
			text = _("Never run")
		else:
			parts = [_("Last run: {0}").format(_(self.status))]
			for key, label in SUMMARY_COUNTS:
				if counts.get(key):
					parts.append(str(label).format(frappe.format(counts[key], "Int")))
			if self.last_error and self.status in (STATUS_FAILED, STATUS_TIMED_OUT):
				parts.append(headline(self.last_error))
			text = " · ".join(parts)
		pending = pending_count(self.name) if self.name and not self.is_new() else 0
		if pending:
			text += " · " + _("{0} change(s) waiting to be written to VTiger").format(pending)
		waiting = waiting_reasons(self.name) if self.name and not self.is_new() else []
		if waiting:
			text += " · " + _("{0} record(s) waiting on a reason in their data or the settings").format(
				sum(reason.records for reason in waiting)
			)
		return {
			"pending_pushes": pending,
			"waiting": waiting,
			"text": text,
			"status": self.status,
			"running": running,
			"log": self.last_log,
			"last_run_at": self.last_run_at,
			"error": self.last_error,
		}

	def before_save(self):
		self.keep_run_state()

	def on_update(self):
		self.purge_full_card_numbers()
		self.write_back_what_landed_before()

	def write_back_what_landed_before(self):
		"""Ticking the write-back queues it for the records already synced, in the background."""
		if not (self.push_status and self.has_value_changed("push_status") and self.writes_to_vtiger()):
			return
		frappe.enqueue(
			"vtigercrm_sync.syncer.push.pusher.queue_landed_writebacks",
			queue="long",
			timeout=JOB_TIMEOUT,
			job_id=writeback_job_id(self.name),
			deduplicate=True,
			enqueue_after_commit=True,
			now=frappe.flags.in_test,
			connection=self.name,
		)

	def purge_full_card_numbers(self):
		"""Turning off "Store Full Card Numbers" removes the numbers already stored, not only future ones."""
		if self.store_full_card_number or not self.has_value_changed("store_full_card_number"):
			return
		cards = frappe.get_all(
			BANK_CARD_DOCTYPE, filters={VTIGER_ID_FIELD: ("like", f"{self.id_prefix or ''}%")}, pluck="name"
		)
		if cards:
			frappe.db.delete(
				"__Auth", {"doctype": BANK_CARD_DOCTYPE, "fieldname": "card_number", "name": ("in", cards)}
			)
			frappe.db.set_value(
				BANK_CARD_DOCTYPE, {"name": ("in", cards)}, "card_number", None, update_modified=False
			)

	def validate(self):
		self.forget_secret_for_a_new_server(
			"db_password",
			("host", "port", "db_user"),
			_("The password was cleared because the server or user changed; type it again."),
		)
		self.forget_secret_for_a_new_server(
			"vtiger_access_key",
			("vtiger_url", "vtiger_user"),
			_("The access key was cleared because the VTiger URL or user changed; type it again."),
		)
		self.validate_vtiger_url()
		self.validate_two_way()
		self.validate_time_zone()
		self.validate_id_prefix()
		self.validate_schedule()
		self.validate_streams()
		self.validate_custom_mapping()
		self.validate_mapping_against_sources()

	def set_id_prefix(self):
		"""A new connection gets a prefix of its own from its title (``prod/``), unless one was typed in."""
		if self.id_prefix:
			return
		base = (
			re.sub(r"[^a-z0-9]+", "-", (self.title or "").lower())[:ID_PREFIX_BASE_LENGTH].strip("-") or "vt"
		)
		prefix, number = f"{base}/", 1
		while frappe.db.exists(SETTING_DOCTYPE, {"id_prefix": prefix}):
			number += 1
			prefix = f"{base}-{number}/"
		self.id_prefix = prefix

	def validate_id_prefix(self):
		"""Letters, digits and hyphens closed by a slash, so a prefix never runs into a crmid and means nothing to
		a LIKE. Two connections may share one on purpose (two connections to one VTiger database)."""
		if self.id_prefix and not re.fullmatch(r"[A-Za-z0-9-]+/", self.id_prefix):
			frappe.throw(
				_(
					"VTiger ID Prefix {0} must be letters, digits and hyphens ending with a slash, e.g. prod/"
				).format(frappe.bold(self.id_prefix))
			)

	def keep_run_state(self):
		"""Watermarks and status belong to runs, which write them with ``db_set``: a form opened before a run and
		saved after it must not write them back. The row lock makes a run's next write wait for this save."""
		if self.is_new():
			return
		current = frappe.db.get_value(
			SETTING_DOCTYPE, self.name, RUN_STATE_FIELDS, as_dict=True, for_update=True
		)
		if current:
			self.update(current)

	def forget_secret_for_a_new_server(self, fieldname: str, server_fields: tuple[str, ...], message: str):
		"""A stored secret is never sent to another server or for another user than the one it was typed for."""
		if self.is_new() or not self.has_value_changed_in(server_fields):
			return
		if self.get(fieldname) and set(self.get(fieldname)) != {"*"}:
			return  # typed again with the new server
		self.set(fieldname, None)
		frappe.db.delete("__Auth", {"doctype": SETTING_DOCTYPE, "name": self.name, "fieldname": fieldname})
		frappe.msgprint(message, indicator="orange", alert=True)

	def validate_vtiger_url(self):
		"""Desk opens this URL for whoever clicks "Open in VTiger": http(s) only."""
		if self.vtiger_url and not is_http_url(self.vtiger_url):
			frappe.throw(
				_(
					"VTiger URL must start with http:// or https:// and name a host, e.g. https://crm.example.com"
				),
				title=_("VTiger URL"),
			)

	def validate_two_way(self):
		"""Writing to VTiger needs its web service: URL, user and access key; without them the connection reads."""
		if not self.writes_to_vtiger():
			return
		missing = [
			self.meta.get_label(fieldname)
			for fieldname in ("vtiger_url", "vtiger_user", "vtiger_access_key")
			if not self.get(fieldname)
		]
		if missing:
			frappe.throw(
				_("Writing to VTiger needs {0}; fill them in or untick what ERPNext writes to VTiger").format(
					", ".join(_(label) for label in missing)
				),
				title=_("Two-way Sync"),
			)

	def writes_to_vtiger(self) -> bool:
		return bool(self.push_status or self.push_edits or self.push_new_customers)

	def webservice_settings(self) -> WebServiceSettings:
		return WebServiceSettings(
			url=self.vtiger_url or "",
			username=self.vtiger_user or "",
			access_key=self.stored_secret("vtiger_access_key"),
		)

	def stored_secret(self, fieldname: str) -> str:
		"""The secret this document stores once saved: a field cleared on the form stores none (Frappe removes it
		on save), so a save's checks must not use the old one that get_password still finds."""
		if not self.get(fieldname):
			return ""
		return self.get_password(fieldname, raise_exception=False) or ""

	def has_value_changed_in(self, fieldnames) -> bool:
		return any(self.has_value_changed(fieldname) for fieldname in fieldnames)

	def validate_time_zone(self):
		if self.vtiger_time_zone and self.vtiger_time_zone not in available_timezones():
			frappe.throw(
				_("VTiger Time Zone {0} is not a time zone name such as Europe/Warsaw or UTC").format(
					frappe.bold(self.vtiger_time_zone)
				)
			)

	def validate_schedule(self):
		if self.schedule == "Cron" and not croniter.is_valid(self.cron_expression or ""):
			frappe.throw(
				_("{0} is not a valid cron expression").format(frappe.bold(self.cron_expression or "")),
				title=_("Invalid Schedule"),
			)

	def validate_streams(self):
		if not any(self.get(fieldname) for fieldname in STREAM_FIELDS.values()):
			frappe.throw(_("Choose at least one of Sync Accounts, Sync Contacts and Sync Sales Orders"))

	def validate_custom_mapping(self):
		"""The custom mapping's JSON and shape, every problem at once, each with its JSON path."""
		if self.mapping_preset != "custom":
			return
		try:
			data = json.loads(self.custom_mapping or "")
		except ValueError as exc:
			frappe.throw(_("Custom Mapping is not valid JSON: {0}").format(escape_html(str(exc))))
		try:
			load_mapping(data, load_handler_config())
		except MappingError as exc:
			throw_problems([str(problem) for problem in exc.problems], _("Custom Mapping"))

	def validate_mapping_against_sources(self):
		"""The chosen streams, VTiger's real columns and the target DocTypes' fields; then, when VTiger answers,
		its units and taxes: a new connection's unit table is filled, and what cannot be written is said."""
		from vtigercrm_sync.syncer.setup.validation import validate_connection_mapping

		problems, catalog = validate_connection_mapping(self)
		throw_problems(problems, _("Mapping"))
		if catalog is None:
			return
		if self.is_new() and not self.units:
			fill_units(self, catalog.usage_units)
		self.notify_what_cannot_be_written(catalog)
		problems = change_tracking_problems(self)
		if problems:
			frappe.msgprint(
				[escape_html(problem) for problem in problems],
				title=_("Changes VTiger may not show"),
				indicator="orange",
				as_list=True,
			)

	def notify_what_cannot_be_written(self, catalog) -> None:
		"""One checklist of what to do before syncing: VTiger amounts without an ERPNext account, and
		whole-number UOMs for VTiger's fractional quantities (when the unit rows are new or changed, not on
		every save)."""
		todo = []
		unmapped = unmapped_tax_rows(self, catalog) if self.sync_sales_orders else {}
		if unmapped:
			todo.append(
				_(
					"Map an ERPNext account to each amount VTiger adds to orders: {0}. An order that carries one "
					"fails until it is mapped; {1} creates and maps them all."
				).format(
					escape_html(", ".join(f"{label} ({key})" for key, label in unmapped.items())),
					frappe.bold(_("Setup → Create Tax Accounts")),
				)
			)
		whole = whole_number_units(self) if self.is_new() or not self.is_child_table_same("units") else []
		if whole:
			todo.append(
				_(
					"Check the units on the ERPNext Defaults tab: {0} count whole units only, so a VTiger line with "
					"a fractional quantity in them is written as 1 × its amount, with the quantity in the line's "
					"description. Choose another UOM to keep the quantity."
				).format(escape_html(", ".join(whole)))
			)
		if todo:
			frappe.msgprint(
				"<ol>" + "".join(f"<li>{item}</li>" for item in todo) + "</ol>",
				title=_("Before the first sync") if self.is_new() else _("Before the next sync"),
				indicator="orange",
			)

	def connection_settings(self) -> ConnectionSettings:
		return ConnectionSettings(
			host=self.host,
			port=self.port or 3306,
			database=self.database_name,
			user=self.db_user,
			password=self.stored_secret("db_password"),
			connect_timeout=self.connect_timeout or 10,
		)

	def mapping_config(self) -> MappingConfig:
		"""The preset or custom mapping, limited to the streams chosen on the form (raises MappingError)."""
		if self.mapping_preset == "custom":
			mapping = load_mapping(json.loads(self.custom_mapping or "{}"), load_handler_config())
		else:
			mapping = load_preset(self.mapping_preset)
		streams = {module: flt for module, flt in mapping.streams.items() if self.get(STREAM_FIELDS[module])}
		if not streams:
			raise MappingError(
				[
					Problem(
						"streams",
						_("this mapping reads only {0}; tick the matching Sync checkbox").format(
							", ".join(mapping.streams)
						),
					)
				]
			)
		entities = tuple(
			replace(
				entity, options={**entity.options, "store_full_number": bool(self.store_full_card_number)}
			)
			if entity.processor == "bank_card"
			else entity
			for entity in mapping.entities
		)
		return replace(mapping, streams=streams, entities=entities)

	def watermark(self, module: str) -> str | None:
		return self.get(WATERMARK_FIELDS[module]) or None

	def set_watermark(self, module: str, value: str | None) -> None:
		self.db_set(WATERMARK_FIELDS[module], value, update_modified=False)

	def check_sync_permission(self) -> None:
		"""A sync writes many documents: only System Managers and VTigerCRM Sync Managers may start one."""
		if frappe.session.user == "Guest" or not set(SYNC_ROLES) & set(frappe.get_roles()):
			raise frappe.PermissionError(
				_("Only a System Manager or a VTigerCRM Sync Manager can sync {0}").format(
					frappe.bold(self.name)
				)
			)

	def start_sync(
		self,
		trigger: str = TRIGGER_BUTTON,
		full: bool = False,
		user: str | None = None,
		rebuild: bool = False,
		last_run_at: Any = ANY_LAST_RUN,
	) -> dict:
		"""Queue a run unless one is queued or running for this connection (``rebuild``: a Full Resync that
		also reads the records whose sources did not change).

		Set ``self.flags.ignore_permissions`` to start it for a system job (the scheduler), which also passes the
		``last_run_at`` it judged due on (see :func:`queue_connection`)."""
		if not self.flags.ignore_permissions:
			self.check_sync_permission()
		if not self.enabled:
			frappe.throw(_("{0} is disabled; enable it to sync").format(frappe.bold(self.name)))
		outcome = recover(self.name)
		if outcome and outcome.get("resumed"):
			module, _sep, part = outcome["stage"].partition("/")
			return {
				"status": "resumed",
				"log": outcome["resumed"],
				"left": outcome["left"],
				"message": _(
					"Resumed the run {0}, interrupted at {1} ({2}) when its worker stopped; {3} record(s) left"
				).format(frappe.bold(outcome["resumed"]), _(module), _(part), outcome["left"]),
			}
		user = user or frappe.session.user
		if not self.queue_run(
			trigger, full, user, now=frappe.flags.in_test, rebuild=rebuild, last_run_at=last_run_at
		):
			return {
				"status": "already_running",
				"message": _("A sync of {0} is already queued or running").format(frappe.bold(self.name)),
			}
		return {"status": "queued", "message": _("Sync of {0} queued").format(frappe.bold(self.name))}

	def queue_run(
		self,
		trigger: str,
		full: bool,
		user: str,
		now: bool = False,
		rebuild: bool = False,
		last_run_at: Any = ANY_LAST_RUN,
	) -> bool:
		"""Claim the connection (final → Queued) and queue its run's job once the transaction commits; False
		when a run is queued or on (its job waiting in RQ counts too)."""
		if is_job_enqueued(job_id(self.name)) or not queue_connection(self.name, last_run_at):
			return False
		self.notify_update()
		frappe.enqueue(
			"vtigercrm_sync.syncer.run.job.run_sync",
			queue="long",
			timeout=JOB_TIMEOUT,
			job_id=job_id(self.name),
			deduplicate=True,
			enqueue_after_commit=True,
			now=now,
			connection=self.name,
			trigger=trigger,
			full=bool(full),
			user=user,
			rebuild=bool(rebuild),
		)
		return True


def throw_problems(problems: list[str], title: str) -> None:
	"""Show every problem as one bulleted message, or do nothing when there is none."""
	if problems:
		frappe.throw(
			[escape_html(problem) for problem in problems],
			title=_("{0}: {1} problem(s)").format(title, len(problems)),
			as_list=True,
		)


@frappe.whitelist(methods=["POST"])
def form_start_sync(name: str, full: bool | int = 0, rebuild: bool | int = 0) -> dict:
	doc = frappe.get_doc(SETTING_DOCTYPE, name)
	doc.check_permission("write")
	return doc.start_sync(TRIGGER_BUTTON, full=bool(int(full)), rebuild=bool(int(rebuild)))


@frappe.whitelist(methods=["POST"])
def form_create_tax_accounts(name: str) -> dict:
	"""Create an account for each VTiger tax, shipping and adjustment the connection does not map, and map it."""
	doc = frappe.get_doc(SETTING_DOCTYPE, name)
	doc.check_permission("write")
	frappe.has_permission("Account", "create", throw=True)
	created = create_tax_accounts(doc, _catalog_of(doc))
	doc.save()
	return {"created": created, "mapped": len(doc.tax_accounts)}


@frappe.whitelist(methods=["POST"])
def form_fill_units(name: str) -> dict:
	"""Add a row for each VTiger usage unit the connection's unit table lacks, with its suggested UOM."""
	doc = frappe.get_doc(SETTING_DOCTYPE, name)
	doc.check_permission("write")
	added = fill_units(doc, _catalog_of(doc).usage_units)
	doc.save()
	return {"added": added}


def _catalog_of(doc: VTigerCRMSync):
	try:
		return read_catalog(get_engine(doc.connection_settings()))
	except ConnectionFailed as exc:
		frappe.throw(escape_html(str(exc)), title=_("Connection Failed"))


@frappe.whitelist()
def get_vtiger_url(doctype: str, name: str) -> str | None:
	"""The VTiger page of the record a synced document comes from, when its connection knows VTiger's URL."""
	doc = frappe.get_doc(doctype, name)
	doc.check_permission("read")
	connection, vtiger_id, module = (doc.get(f) for f in (CONNECTION_FIELD, VTIGER_ID_FIELD, MODULE_FIELD))
	base = connection and frappe.db.get_value(SETTING_DOCTYPE, connection, "vtiger_url")
	return vtiger_record_url(base, module, vtiger_id and VTigerId.parse(vtiger_id).crmid)


def vtiger_record_url(base: str | None, module: str | None, crmid: int | str | None) -> str | None:
	"""VTiger's page of one record under the VTiger URL ``base``; None when something is missing."""
	if not (base and module and crmid and is_http_url(base)):
		return None  # a URL saved before http(s) was enforced is never handed to window.open
	return f"{base.rstrip('/')}/index.php?{urlencode({'module': module, 'view': 'Detail', 'record': crmid})}"


@frappe.whitelist()
def form_test_connection(name: str) -> str:
	"""The VTiger server's version, or the reason it cannot be reached (never the password)."""
	doc = frappe.get_doc(SETTING_DOCTYPE, name)
	doc.check_permission("read")
	try:
		version = escape_html(check_connection(doc.connection_settings()))
	except ConnectionFailed as exc:
		frappe.throw(escape_html(str(exc)), title=_("Connection Failed"))
	problems = change_tracking_problems(doc)
	if not problems:
		return version
	items = "".join(f"<li>{escape_html(problem)}</li>" for problem in problems)
	return f"{version}<br><br>{_('Changes VTiger may not show')}:<ul>{items}</ul>"


def change_tracking_problems(doc: VTigerCRMSync) -> list[str]:
	"""What keeps the change feed from seeing every change (``services/changes.py``); server text, unescaped."""
	try:
		mapping = doc.mapping_config()
		with SqlAlchemyUnitOfWork(get_engine(doc.connection_settings())) as uow:
			return preflight(uow.session, list(mapping.streams), doc.vtiger_time_zone or None)
	except (MappingError, SQLAlchemyError):
		return []  # said by the mapping check, or by Test Connection


@frappe.whitelist(methods=["POST"])
def form_reconcile_now(name: str) -> dict:
	"""Queue a reconciliation of ids (purged records, missed creates, links changed without a trace)."""
	doc = frappe.get_doc(SETTING_DOCTYPE, name)
	doc.check_permission("write")
	doc.check_sync_permission()
	return start_reconcile(doc.name, frappe.session.user)


@frappe.whitelist(methods=["POST"])
def form_test_web_service(name: str) -> str:
	"""Log in to VTiger's web service with the connection's user and access key (never shown back)."""
	doc = frappe.get_doc(SETTING_DOCTYPE, name)
	doc.check_permission("write")
	client = VTigerWebService(doc.webservice_settings())
	try:
		user_id = client.login()
	except WebServiceError as exc:
		frappe.throw(escape_html(redact(str(exc))), title=_("VTiger Web Service"))
	return _("Logged in to VTiger as {0} (web service user {1})").format(
		escape_html(doc.vtiger_user), escape_html(user_id)
	)
