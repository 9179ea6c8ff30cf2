// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

frappe.listview_settings["VTigerCRM Sync Log"] = {
	add_fields: ["status", "failed"],
	get_indicator(doc) {
		const colors = {
			Queued: "blue",
			Running: "orange",
			Success: "green",
			"Partial Success": "yellow",
			Failed: "red",
			"Timed Out": "red",
		};
		return [__(doc.status), colors[doc.status] || "gray", `status,=,${doc.status}`];
	},
	onload(listview) {
		listview.page.add_actions_menu_item(__("Retry failed records"), () => {
			const logs = listview.get_checked_items().filter((doc) => doc.failed > 0);
			if (!logs.length) {
				frappe.msgprint(__("None of the selected logs has failed records."));
				return;
			}
			logs.forEach((doc) =>
				frappe.call({
					method: "vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_log.vtigercrm_sync_log.retry_failed",
					args: { log: doc.name },
				})
			);
			frappe.show_alert({ message: __("Retrying {0} log(s)", [logs.length]), indicator: "blue" });
		});
	},
};
