// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

const VTIGER_SYNC_METHODS = "vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync";
const VTIGER_REFRESH_EVENT = "vtigercrm_sync_refresh";

frappe.ui.form.on("VTigerCRM Sync", {
	setup(frm) {
		frm.set_query("account_head", "tax_accounts", () => ({
			filters: { company: frm.doc.company, is_group: 0 },
		}));
		frm.set_query("selling_price_list", () => ({ filters: { selling: 1 } }));
	},

	refresh(frm) {
		listen_to_runs(frm);
		if (frm.doc.status) {
			frm.page.set_indicator(__(frm.doc.status), vtigercrm_sync.status_color(frm.doc.status));
		}
		if (frm.is_new()) {
			return;
		}
		frm.add_custom_button(__("Test Connection"), () => test_connection(frm));
		frm.add_custom_button(
			__("Create Tax Accounts"),
			() =>
				call_and_reload(frm, "form_create_tax_accounts", (r) =>
					__("{0} account(s) created; every VTiger tax, shipping and adjustment is mapped.", [
						r.created.length,
					])
				),
			__("Setup")
		);
		frm.add_custom_button(
			__("Fill Units from VTiger"),
			() =>
				call_and_reload(frm, "form_fill_units", (r) =>
					__("{0} VTiger unit(s) added with their suggested UOM.", [r.added])
				),
			__("Setup")
		);
		frm.add_custom_button(__("View Logs"), () =>
			frappe.set_route("List", "VTigerCRM Sync Log", { connection: frm.doc.name })
		);
		if (!frm.doc.enabled) {
			frm.dashboard.set_headline(__("This connection is disabled; enable it to sync."));
			return;
		}
		frm.add_custom_button(__("Full Resync"), () =>
			frappe.confirm(
				__(
					"Read every record again from VTiger? Unchanged documents are still skipped, but a large database takes a while."
				),
				() => start_sync(frm, 1)
			)
		);
		const sync_now = frm.add_custom_button(__("Sync Now"), () => start_sync(frm, 0));
		sync_now.removeClass("btn-default").addClass("btn-primary");
	},

	on_hide(frm) {
		stop_listening(frm);
	},
});

// The form object outlives the page: bind once per showing (refresh) and unbind when the page hides, so
// handlers never pile up across documents or visits.
function listen_to_runs(frm) {
	stop_listening(frm);
	frm._vtiger_handlers = {
		[VTIGER_REFRESH_EVENT]: (data) => {
			// Reloading also clears the dashboard, progress bar included.
			if (data && data.name === frm.doc.name && !frm.is_dirty()) {
				frm.reload_doc();
			}
		},
		// The run publishes progress to this document's room. Frappe's stock handler shows it in a modal;
		// this draws it on the form's dashboard too, while this form is the one on screen.
		progress: (data) => {
			if (!data || data.percent == null || cur_frm !== frm || frm.is_new()) return;
			if (!["Queued", "Running"].includes(frm.doc.status)) return;
			frm.dashboard.show_progress(
				data.title || __("Syncing from VTiger"),
				data.percent,
				data.description || ""
			);
		},
	};
	for (const [event, handler] of Object.entries(frm._vtiger_handlers)) {
		frappe.realtime.on(event, handler);
	}
}

function stop_listening(frm) {
	for (const [event, handler] of Object.entries(frm._vtiger_handlers || {})) {
		frappe.realtime.off(event, handler);
	}
	frm._vtiger_handlers = null;
}

function start_sync(frm, full) {
	if (frm.is_dirty()) {
		frappe.msgprint(__("Save the connection before syncing."));
		return;
	}
	frm.call({
		method: `${VTIGER_SYNC_METHODS}.form_start_sync`,
		args: { name: frm.doc.name, full: full },
		freeze: true,
		callback: (r) => {
			if (!r.message) return;
			frappe.show_alert({
				message: r.message.message,
				indicator: r.message.status === "queued" ? "blue" : "orange",
			});
			frm.reload_doc();
		},
	});
}

function call_and_reload(frm, method, describe) {
	if (frm.is_dirty()) {
		frappe.msgprint(__("Save the connection first."));
		return;
	}
	frm.call({
		method: `${VTIGER_SYNC_METHODS}.${method}`,
		args: { name: frm.doc.name },
		freeze: true,
		callback: (r) => {
			if (!r.message) return;
			frappe.show_alert({ message: describe(r.message), indicator: "green" });
			frm.reload_doc();
		},
	});
}

function test_connection(frm) {
	frm.call({
		method: `${VTIGER_SYNC_METHODS}.form_test_connection`,
		args: { name: frm.doc.name },
		freeze: true,
		freeze_message: __("Connecting to VTiger…"),
		callback: (r) => {
			if (r.message) {
				frappe.msgprint({
					title: __("Connected"),
					indicator: "green",
					message: __("VTiger database server {0}", [r.message]),
				});
			}
		},
	});
}
