// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

frappe.ui.form.on("VTigerCRM Sync Log", {
	refresh(frm) {
		const colors = {
			Queued: "blue",
			Running: "orange",
			Success: "green",
			"Partial Success": "yellow",
			Failed: "red",
			"Timed Out": "red",
		};
		frm.page.set_indicator(__(frm.doc.status), colors[frm.doc.status] || "gray");
		frm.add_custom_button(__("Connection"), () =>
			frappe.set_route("Form", "VTigerCRM Sync", frm.doc.connection)
		);
		if (frm.doc.failed > 0 && !["Queued", "Running"].includes(frm.doc.status)) {
			frm.add_custom_button(__("Retry failed records"), () => retry_failed(frm.doc.name));
		}
	},
});

function retry_failed(log) {
	frappe.call({
		method: "vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_log.vtigercrm_sync_log.retry_failed",
		args: { log },
		freeze: true,
		callback: (r) => {
			if (r.message) {
				frappe.show_alert({
					message: __("Retrying {0} record(s); a new log will show the result", [r.message.count]),
					indicator: "blue",
				});
			}
		},
	});
}
