app_name = "vtigercrm_sync"
app_title = "VTigerCRM Sync"
app_publisher = "vtigercrm_sync developers"
app_description = "Keeps ERPNext in step with a VTiger CRM database"
app_email = "dev@vtigercrm-sync.invalid"
app_license = "mit"

required_apps = ["erpnext"]

# Status colours shared by the forms and lists (public/js/vtigercrm_sync.bundle.js).
app_include_js = "vtigercrm_sync.bundle.js"

# Keep the typed block of each controller in step when a DocType is saved in developer mode.
export_python_type_annotations = True

after_install = "vtigercrm_sync.install.after_install"
after_migrate = "vtigercrm_sync.install.after_migrate"

scheduler_events = {
	"cron": {
		"*/5 * * * *": ["vtigercrm_sync.tasks.start_due_syncs"],
	},
}

default_log_clearing_doctypes = {
	"VTigerCRM Sync Log": 30,
}
