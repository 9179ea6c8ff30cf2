app_name = "vtigercrm_sync"
app_title = "VTigerCRM Sync"
app_publisher = "vtigercrm_sync developers"
app_description = "Keeps ERPNext in step with a VTiger CRM database"
app_email = "dev@vtigercrm-sync.invalid"
app_license = "mit"

required_apps = ["erpnext"]

add_to_apps_screen = [
	{
		"name": "vtigercrm_sync",
		"logo": "/assets/vtigercrm_sync/images/vtiger-sync.svg",
		"title": "VTiger Sync",
		"route": "/app/vtiger",
		"has_permission": "vtigercrm_sync.vtigercrm_sync.number_cards.can_use_app",
	}
]

# The workspace's cues color their number past an administrator's thresholds (vtigercrm_sync/number_cards.py).
app_include_js = ["/assets/vtigercrm_sync/js/number_card_color.js"]

# "Open in VTiger" on the forms of synced documents, and nowhere else.
doctype_js = {
	"Customer": "public/js/vtiger_link.js",
	"Contact": "public/js/vtiger_link.js",
	"Address": "public/js/vtiger_link.js",
	"Sales Order": ["public/js/vtiger_link.js", "public/js/vtiger_changed_order.js"],
}

# Keep the typed block of each controller in step when a DocType is saved in developer mode.
export_python_type_annotations = True

after_install = "vtigercrm_sync.install.after_install"
after_migrate = "vtigercrm_sync.install.after_migrate"
before_uninstall = "vtigercrm_sync.install.before_uninstall"

# A personal data deletion request reaches the SSNs and cards the sync stored (vtigercrm_sync/privacy.py).
user_data_fields = [
	{
		"doctype": "Bank Card",
		"filter_by": "customer_email",
		"redact_fields": [
			"holder_name",
			"masked_number",
			"card_last4",
			"billing_address_line1",
			"billing_address_line2",
			"billing_zip",
		],
	},
]

_CAPTURE = "vtigercrm_sync.syncer.push.pusher.capture"
_ORDER_PROGRESS = "vtigercrm_sync.syncer.push.pusher.capture_order_progress"

_FORGET = "vtigercrm_sync.syncer.run.fingerprint.forget_document"

# Two-way sync: ERPNext changes go into the outbox in the document's own transaction (syncer/push/pusher.py). A
# synced document deleted in ERPNext takes its record's fingerprint along, so the next Full Resync makes it again.
doc_events = {
	"Personal Data Deletion Request": {
		"on_change": "vtigercrm_sync.vtigercrm_sync.privacy.forget_redacted_secrets",
	},
	"Customer": {"on_update": _CAPTURE, "on_trash": _FORGET},
	"Contact": {
		"before_validate": "vtigercrm_sync.syncer.handler.gravatar.hold_lookup",
		"validate": "vtigercrm_sync.syncer.handler.gravatar.release_image",
		"on_update": _CAPTURE,
		"on_trash": _FORGET,
	},
	"Address": {"on_update": _CAPTURE, "on_trash": _FORGET},
	"Sales Order": {
		"autoname": "vtigercrm_sync.syncer.handler.naming.name_inbound_order",
		"on_update": _CAPTURE,
		"on_submit": _CAPTURE,
		"on_cancel": [_CAPTURE, "vtigercrm_sync.syncer.run.fingerprint.forget_offered_order"],
		"on_update_after_submit": _CAPTURE,
		"on_trash": _FORGET,
	},
	"Item": {"on_trash": _FORGET},
	"Bank Account": {"on_trash": _FORGET},
	"Bank Card": {"on_trash": _FORGET},
	"Delivery Note": {"on_submit": _ORDER_PROGRESS, "on_cancel": _ORDER_PROGRESS},
	"Sales Invoice": {"on_submit": _ORDER_PROGRESS, "on_cancel": _ORDER_PROGRESS},
}

scheduler_events = {
	"cron": {
		"* * * * *": ["vtigercrm_sync.tasks.start_changed_syncs"],
		"*/5 * * * *": [
			"vtigercrm_sync.tasks.start_due_syncs",
			"vtigercrm_sync.syncer.push.pusher.drain_all",
		],
		"17 2 * * *": ["vtigercrm_sync.syncer.run.reconcile.reconcile_all"],
	},
}

default_log_clearing_doctypes = {
	"VTigerCRM Sync Log": 30,
	"VTigerCRM Sync Outbox": 30,
}
