// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

const VTIGER_STATUS_COLORS = {
	"Never Run": "gray",
	Queued: "blue",
	Running: "orange",
	Success: "green",
	"Partial Success": "yellow",
	Failed: "red",
	"Timed Out": "red",
};

frappe.ui.form.on("VTigerCRM Sync", {
	setup(frm) {
		frm.set_query("account_head", "tax_accounts", () => ({
			filters: { company: frm.doc.company, is_group: 0 },
		}));
		frm.set_query("selling_price_list", () => ({ filters: { selling: 1 } }));
	},

	onload(frm) {
		// Progress events reach this document's room; the stock handler draws the bar. This one reloads
		// the form when a run ends, so counts, status and watermarks are current.
		frm._vtiger_refresh = (data) => {
			if (data && data.name === frm.doc.name && !frm.is_dirty()) {
				frm.reload_doc();
			}
		};
		frappe.realtime.on("vtigercrm_sync_refresh", frm._vtiger_refresh);
	},

	on_unload(frm) {
		frappe.realtime.off("vtigercrm_sync_refresh", frm._vtiger_refresh);
	},

	refresh(frm) {
		if (frm.doc.status) {
			frm.page.set_indicator(__(frm.doc.status), VTIGER_STATUS_COLORS[frm.doc.status] || "gray");
		}
		if (frm.is_new()) {
			return;
		}
		frm.add_custom_button(__("Test Connection"), () => test_connection(frm));
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
});

function start_sync(frm, full) {
	if (frm.is_dirty()) {
		frappe.msgprint(__("Save the connection before syncing."));
		return;
	}
	frm.call({
		method: "vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync.form_start_sync",
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

function test_connection(frm) {
	frm.call({
		method: "vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync.form_test_connection",
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
