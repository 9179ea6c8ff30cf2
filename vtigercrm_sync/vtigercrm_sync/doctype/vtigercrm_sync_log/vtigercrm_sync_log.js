// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt


frappe.ui.form.on("VTigerCRM Sync Log", {
	refresh(frm) {
		listen_to_run(frm);
		frm.page.set_indicator(__(frm.doc.status), vtigercrm_sync.status_color(frm.doc.status));
		if (frm.doc.connection) {
			frm.add_custom_button(__("Connection"), () =>
				frappe.set_route("Form", "VTigerCRM Sync", frm.doc.connection)
			);
		}
		if (frm.doc.failed > 0 && !["Queued", "Running"].includes(frm.doc.status)) {
			frm.add_custom_button(__("Retry failed records"), () => retry_failed(frm.doc.name));
		}
	},

	on_hide(frm) {
		stop_listening(frm);
	},
});

// While the run writes this log, its end reloads the form. The run announces it in its connection's room
// (the event names the log), so join that room too.
function listen_to_run(frm) {
	stop_listening(frm);
	if (!frm.doc.connection || !["Queued", "Running"].includes(frm.doc.status)) return;
	frappe.realtime.doc_subscribe("VTigerCRM Sync", frm.doc.connection);
	frm._vtiger_refresh = (data) => {
		if (data && data.log === frm.doc.name) {
			frm.reload_doc();
		}
	};
	frappe.realtime.on("vtigercrm_sync_refresh", frm._vtiger_refresh);
}

function stop_listening(frm) {
	if (frm._vtiger_refresh) {
		frappe.realtime.off("vtigercrm_sync_refresh", frm._vtiger_refresh);
		frm._vtiger_refresh = null;
	}
}

function retry_failed(log) {
	frappe.call({
		method:
			"vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_log.vtigercrm_sync_log.retry_failed",
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
