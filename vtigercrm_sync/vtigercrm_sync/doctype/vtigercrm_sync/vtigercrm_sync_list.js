// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

frappe.listview_settings["VTigerCRM Sync"] = {
	add_fields: ["status", "enabled", "last_run_at"],
	get_indicator(doc) {
		const colors = {
			"Never Run": "gray",
			Queued: "blue",
			Running: "orange",
			Success: "green",
			"Partial Success": "yellow",
			Failed: "red",
			"Timed Out": "red",
		};
		if (!doc.enabled) {
			return [__("Disabled"), "gray", "enabled,=,0"];
		}
		const status = doc.status || "Never Run";
		return [__(status), colors[status] || "gray", `status,=,${status}`];
	},
	onload(listview) {
		// Status changes are saved with notify, so the stock list_update event refreshes the rows while a run
		// goes; this also catches the end of a run started from another session.
		listview._vtiger_refresh = () => listview.refresh();
		frappe.realtime.on("vtigercrm_sync_refresh", listview._vtiger_refresh);
	},
};
