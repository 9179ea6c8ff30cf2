// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

frappe.listview_settings["VTigerCRM Sync"] = {
	add_fields: ["status", "enabled", "last_run_at"],
	get_indicator(doc) {
		if (!doc.enabled) {
			return [__("Disabled"), "gray", "enabled,=,0"];
		}
		const status = doc.status || "Never Run";
		return [__(status), vtigercrm_sync.status_color(status), `status,=,${status}`];
	},
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
