// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

// Status colours come from the doctype's states, so this list needs no other file.
frappe.listview_settings["VTigerCRM Sync"] = {
	add_fields: ["status", "enabled", "last_run_at"],
	onload(listview) {
		// Status changes are saved with notify, so Frappe's own list_update event refreshes the rows while a
		// run goes; the run's refresh event also catches its end when it came from another session.
		frappe.realtime.on("vtigercrm_sync_refresh", () => {
			if (cur_list === listview) {
				listview.refresh();
			}
		});
	},
};
