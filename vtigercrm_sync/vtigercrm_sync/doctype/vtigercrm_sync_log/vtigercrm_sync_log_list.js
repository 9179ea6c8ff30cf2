// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

// Status colours come from the doctype's states, so this list needs no other file.
frappe.listview_settings["VTigerCRM Sync Log"] = {
	add_fields: ["status", "failed"],
	onload(listview) {
		listview.page.add_actions_menu_item(__("Retry failed records"), () => {
			const logs = listview
				.get_checked_items()
				.filter((doc) => doc.failed > 0 && !["Queued", "Running"].includes(doc.status));
			if (!logs.length) {
				frappe.msgprint(__("None of the selected logs has failed records to retry."));
				return;
			}
			const calls = logs.map((doc) =>
				frappe.call({
					method:
						"vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_log.vtigercrm_sync_log.retry_failed",
					type: "POST",
					args: { log: doc.name },
				})
			);
			Promise.allSettled(calls).then((results) => {
				const queued = results.filter((r) => r.status === "fulfilled" && r.value.message).length;
				frappe.show_alert({
					message: __("Retrying the failed records of {0} log(s)", [queued]),
					indicator: queued ? "blue" : "orange",
				});
				listview.clear_checked_items();
			});
		});
	},
};
