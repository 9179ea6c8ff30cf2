"""Names the app uses in more than one place: doctypes, role, custom fields, statuses, job ids.

Plain Python (no Frappe import), so the engine, the Frappe layer and the tests spell every name one way.
"""

from __future__ import annotations

SETTING_DOCTYPE = "VTigerCRM Sync"
LOG_DOCTYPE = "VTigerCRM Sync Log"
LOG_LINE_DOCTYPE = "VTigerCRM Sync Log Line"
CHUNK_DOCTYPE = "VTigerCRM Sync Chunk"
OUTBOX_DOCTYPE = "VTigerCRM Sync Outbox"
FINGERPRINT_DOCTYPE = "VTigerCRM Sync Fingerprint"
WAITING_DOCTYPE = "VTigerCRM Sync Waiting"
BANK_CARD_DOCTYPE = "Bank Card"
MANAGER_ROLE = "VTigerCRM Sync Manager"
SYNC_ROLES = ("System Manager", MANAGER_ROLE)

VTIGER_ID_FIELD = "vtiger_id"
VTIGER_HASH_FIELD = "vtiger_hash"
ERASED_HASH = "erased"
"""``vtiger_hash`` of a document whose personal data was erased on a Personal Data Deletion Request: pulls leave
it alone (it keeps its ``vtiger_id``, so VTiger's record is never synced into a new one either)."""
CONNECTION_FIELD = "vtiger_connection"
MODULE_FIELD = "vtiger_module"
PULLED_FIELD = "vtiger_pulled"
"""JSON: each pushed field's VTiger value as the last pull read it (``DocumentPlan.pulled``)."""
REFUSED_FIELD = "vtiger_refused"
"""Where a synced document keeps the VTiger values ERPNext refused (an e-mail, a phone, a missing link)."""

STATUS_QUEUED = "Queued"
STATUS_RUNNING = "Running"
STATUS_SUCCESS = "Success"
STATUS_PARTIAL = "Partial Success"
STATUS_FAILED = "Failed"
STATUS_TIMED_OUT = "Timed Out"

TRIGGER_BUTTON = "Button"
TRIGGER_SCHEDULE = "Schedule"
TRIGGER_CLI = "CLI"
TRIGGER_RETRY = "Retry"
TRIGGER_PUSH = "Push"
TRIGGER_RECONCILE = "Reconcile"

OUTBOX_PENDING = "Pending"
OUTBOX_SENDING = "Sending"
"""Claimed by one drain, which is writing it to VTiger now."""
OUTBOX_SENT = "Sent"
OUTBOX_FAILED = "Failed"
OUTBOX_SUPERSEDED = "Superseded"
"""Every field of the edit lost a conflict to VTiger at a pull: nothing is left to push."""
KIND_STATUS = "Status"
KIND_EDIT = "Edit"
KIND_CREATE = "Create"
WRITEBACK_MODULES = {"Customer": "Accounts", "Sales Order": "SalesOrder"}
"""The documents whose name (and an order's status) VTiger learns, and the VTiger module of each."""
DIRECTION_PULL = "VTiger → ERPNext"
DIRECTION_PUSH = "ERPNext → VTiger"
ACTION_PUSHED = "Pushed"
ACTION_CONFLICT = "Conflict"
ACTION_RETRYING = "Retrying"

ACTION_FAILED = "Failed"

SCHEDULE_OFF = "Off"
SCHEDULE_CHANGES = "Every minute (changes only)"
"""Each minute, a run only when VTiger changed something after the watermarks (``tasks.start_changed_syncs``)."""

STREAM_FIELDS = {"Accounts": "sync_accounts", "Contacts": "sync_contacts", "SalesOrder": "sync_sales_orders"}
WATERMARK_FIELDS = {
	"Accounts": "watermark_accounts",
	"Contacts": "watermark_contacts",
	"SalesOrder": "watermark_sales_orders",
}
FEED_FIELD = "watermark_feed"
"""The id of the last ModTracker row a run followed (``syncer/run/feed.py``)."""

SENSITIVE_PERMLEVEL = 1
"""The permission level of a Contact's SSN fields: need-to-know, granted to :data:`SENSITIVE_ROLES` only."""
SENSITIVE_ROLES = ("System Manager", MANAGER_ROLE, "Accounts Manager")

SECRET_FIELDS = (
	(SETTING_DOCTYPE, "db_password"),
	(SETTING_DOCTYPE, "vtiger_access_key"),
	(BANK_CARD_DOCTYPE, "card_number"),
	("Contact", "vtiger_ssn"),
)
"""Every encrypted value the app keeps (``__Auth``); uninstalling removes them all."""

JOB_TIMEOUT = 4 * 3600
REFRESH_EVENT = "vtigercrm_sync_refresh"
PROGRESS_EVENT = "vtigercrm_sync_progress"


def job_id(connection: str) -> str:
	"""One job id per connection, so two presses of Sync Now never start two runs."""
	return f"vtigercrm_sync::{connection}"


def push_job_id(connection: str, generation: int) -> str:
	"""One queued drain per connection and generation: a drain that starts opens the next generation, so a change
	captured while it runs queues a drain of its own (see ``syncer/push/outbox.py``)."""
	return f"vtigercrm_sync_push::{connection}::{generation}"


def reconcile_job_id(connection: str) -> str:
	"""Reconcile Now pressed twice, or during the nightly one, queues one reconciliation."""
	return f"vtigercrm_sync_reconcile::{connection}"


def writeback_job_id(connection: str) -> str:
	"""Ticking the write-back twice queues the records already synced once."""
	return f"vtigercrm_sync_writeback::{connection}"


def retry_job_id(log: str) -> str:
	return f"vtigercrm_sync_log::{log}"


MODULE = "VTigerCRM Sync"
"""The app's module: its custom fields belong to it, so they are exported and uninstalled with it."""


CHANGED_FIELD = "vtiger_changed_after_submit"
CANCELLED_FIELD = "vtiger_cancelled_after_submit"
CHANGES_FIELD = "vtiger_changes"
OFFERED_HASH_FIELD = "vtiger_offered_hash"
"""A submitted order VTiger changed: the flag (and whether VTiger cancelled it), the fields that differ, and the
VTiger version they come from."""
VTIGER_CANCELLED = "Cancelled"
"""VTiger's ``sostatus`` of a cancelled order."""


def _field(fieldname: str, label: str, fieldtype: str = "Data", **extra) -> dict:
	return {"fieldname": fieldname, "label": label, "fieldtype": fieldtype, "module": MODULE, **extra}


def _sync_fields(insert_after: str) -> list[dict]:
	return [
		_field(
			VTIGER_ID_FIELD,
			"VTiger ID",
			unique=1,
			search_index=1,
			in_standard_filter=1,
			in_global_search=1,
			read_only=1,
			no_copy=1,
			insert_after=insert_after,
			description="The VTiger record (connection prefix, crmid, and role) this document is synced from",
		),
		_field(
			CONNECTION_FIELD,
			"VTiger Connection",
			"Link",
			options=SETTING_DOCTYPE,
			read_only=1,
			no_copy=1,
			in_standard_filter=1,
			insert_after=VTIGER_ID_FIELD,
			depends_on=f"eval:doc.{VTIGER_ID_FIELD}",
		),
		_field(
			MODULE_FIELD, "VTiger Module", hidden=1, read_only=1, no_copy=1, insert_after=CONNECTION_FIELD
		),
		_field(VTIGER_HASH_FIELD, "VTiger Hash", hidden=1, read_only=1, no_copy=1, insert_after=MODULE_FIELD),
		_field(
			PULLED_FIELD,
			"VTiger Values Last Pulled",
			"Code",
			hidden=1,
			read_only=1,
			no_copy=1,
			insert_after=VTIGER_HASH_FIELD,
		),
		_field(
			REFUSED_FIELD,
			"VTiger Values ERPNext Refused",
			"Small Text",
			read_only=1,
			no_copy=1,
			depends_on=f"eval:doc.{REFUSED_FIELD}",
			insert_after=PULLED_FIELD,
			description="Values from VTiger that ERPNext does not accept in their field, kept here so nothing is lost",
		),
	]


def _after(fields: list[dict], first_after: str) -> list[dict]:
	"""Chain insert_after so the fields keep their order in the form."""
	previous = first_after
	for spec in fields:
		spec.setdefault("insert_after", previous)
		previous = spec["fieldname"]
	return fields


POLICY_FIELDS = _after(
	[
		_field(
			"vtiger_policy_section",
			"VTiger Policy",
			"Section Break",
			collapsible=1,
			depends_on="vtiger_policy_status",
		),
		_field("vtiger_policy_status", "Policy Status"),
		_field("vtiger_sales_date", "Sales Date", "Date"),
		_field("vtiger_sales_person", "Sales Person (VTiger)"),
		_field("vtiger_digitizer", "Digitizer"),
		_field("vtiger_digitizer_date", "Digitizer Date", "Date"),
		_field("vtiger_ffm_app_id", "FFM App ID"),
		_field("vtiger_column_break_policy", "", "Column Break"),
		_field("vtiger_subscriber_id", "FFM Subscriber ID"),
		_field("vtiger_plan_hios_id", "Plan HIOS ID"),
		_field("vtiger_plan_name", "Plan Name"),
		_field("vtiger_benefit_id", "Benefit ID"),
		_field("vtiger_broker", "Broker"),
		_field("vtiger_paid_through_date", "Paid Through", "Date"),
		_field("vtiger_autopay", "Autopay", "Check"),
		_field("vtiger_paid", "Paid", "Check"),
	],
	"amended_from",
)
"""The insurance preset's policy fields: a collapsible section right below the order's header (after
``amended_from``), shown only on orders that came from VTiger."""

CUSTOM_FIELDS: dict[str, list[dict]] = {
	"Customer": [
		*_sync_fields("customer_name"),
		_field("vtiger_number", "VTiger No", read_only=1, no_copy=1, insert_after=REFUSED_FIELD),
	],
	"Contact": [
		*_sync_fields("last_name"),
		*_after(
			[
				_field("vtiger_number", "VTiger No", read_only=1, no_copy=1),
				_field("vtiger_birth_date", "Birth Date", "Date"),
				_field("vtiger_relationship", "Relationship"),
				_field("vtiger_member_id", "Member ID"),
				_field("vtiger_document", "Document"),
				_field("vtiger_ssn", "SSN", "Password", no_copy=1, permlevel=SENSITIVE_PERMLEVEL),
				_field(
					"vtiger_ssn_last4",
					"SSN (last 4)",
					read_only=1,
					no_copy=1,
					length=4,
					permlevel=SENSITIVE_PERMLEVEL,
				),
			],
			REFUSED_FIELD,
		),
	],
	"Address": _sync_fields("address_title"),
	"Sales Order": [
		*_sync_fields("po_no"),
		_field("vtiger_number", "VTiger No", read_only=1, no_copy=1, insert_after=REFUSED_FIELD),
		_field(
			CHANGED_FIELD,
			"Changed in VTiger after Submit",
			"Check",
			read_only=1,
			no_copy=1,
			allow_on_submit=1,
			in_standard_filter=1,
			insert_after="vtiger_number",
			description="VTiger changed this order after it was submitted here: Amend from VTiger or Keep ERPNext",
		),
		_field(
			CANCELLED_FIELD,
			"Cancelled in VTiger after Submit",
			"Check",
			read_only=1,
			no_copy=1,
			allow_on_submit=1,
			in_standard_filter=1,
			depends_on=CANCELLED_FIELD,
			insert_after=CHANGED_FIELD,
			description="VTiger cancelled this order after it was submitted here: Cancel in ERPNext or Keep ERPNext",
		),
		_field(
			CHANGES_FIELD,
			"Fields VTiger Changed",
			"Small Text",
			read_only=1,
			no_copy=1,
			allow_on_submit=1,
			depends_on=CHANGED_FIELD,
			insert_after=CANCELLED_FIELD,
		),
		_field(
			OFFERED_HASH_FIELD,
			"VTiger Version Offered",
			read_only=1,
			no_copy=1,
			allow_on_submit=1,
			hidden=1,
			insert_after=CHANGES_FIELD,
		),
		*POLICY_FIELDS,
	],
	"Sales Order Item": [
		_field("vtiger_line", "VTiger Line", "Int", read_only=1, no_copy=1, insert_after="item_code")
	],
	"Sales Taxes and Charges": [
		_field("vtiger_tax", "VTiger Tax Row", read_only=1, insert_after="description")
	],
	"Bank Account": _sync_fields("account_name"),
	"Item": _sync_fields("item_name"),
}
"""Custom fields the app adds on install and re-applies on migrate (``create_custom_fields(..., update=True)``)."""
