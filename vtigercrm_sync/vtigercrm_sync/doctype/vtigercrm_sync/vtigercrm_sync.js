// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

const VTIGER_SYNC_METHODS = "vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync";
const VTIGER_REFRESH_EVENT = "vtigercrm_sync_refresh";
const VTIGER_PROGRESS_EVENT = "vtigercrm_sync_progress";
// The colours set_intro knows are blue, green, yellow, orange and red.
const VTIGER_SUMMARY_COLORS = { Success: "green", "Partial Success": "yellow", Failed: "red", "Timed Out": "red" };

frappe.ui.form.on("VTigerCRM Sync", {
	setup(frm) {
		frm.set_query("account_head", "tax_accounts", () => ({
			filters: { company: frm.doc.company, is_group: 0 },
		}));
		frm.set_query("selling_price_list", () => ({ filters: { selling: 1 } }));
	},

	refresh(frm) {
		listen_to_runs(frm);
		// set_intro and set_headline add a message each time: clear what the last refresh showed.
		frm.set_intro();
		if (frm.is_new()) {
			return;
		}
		show_summary(frm);
		frm.add_custom_button(__("Test Connection"), () => test_connection(frm));
		if (frm.doc.vtiger_user) {
			frm.add_custom_button(__("Test VTiger Web Service"), () => test_web_service(frm), __("Setup"));
		}
		frm.add_custom_button(__("View Logs"), () =>
			frappe.set_route("List", "VTigerCRM Sync Log", { connection: frm.doc.name })
		);
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
		if (!frm.doc.enabled) {
			frm.dashboard.set_headline(__("This connection is disabled; enable it to sync."));
			return;
		}
		const running = summary_of(frm).running;
		const full = frm.add_custom_button(__("Full Resync"), () =>
			frappe.confirm(
				__(
					"Go through every record in VTiger and rewrite every document whose VTiger data, or the settings that shape it, changed. Records whose VTiger data and settings did not change since they were written are not read again. Edits made in ERPNext to the fields VTiger fills are overwritten."
				),
				() => start_sync(frm, 1)
			)
		);
		if (!running) {
			// a Setup group item: Frappe returns no button to disable, so it is offered only when no run is on
			frm.add_custom_button(
				__("Rebuild All"),
				() =>
					frappe.confirm(
						__(
							"Read and plan every record in VTiger again, also those whose VTiger data and settings did not change, and rewrite every document that differs. A large database takes a while."
						),
						() => start_sync(frm, 1, 1)
					),
				__("Setup")
			);
		}
		show_waiting(frm, running);
		frm.add_custom_button(__("Reconcile Now"), () =>
			frappe.confirm(
				__(
					"Compare every id ERPNext holds with VTiger's: records purged from VTiger's Recycle Bin get the deletion policy, records ERPNext lacks are synced, and contacts and orders whose account or contact changed without a trace are written again."
				),
				() =>
					call_and_reload(frm, "form_reconcile_now", (r) => r.message)
			)
		);
		const now = frm.add_custom_button(__("Sync Now"), () => start_sync(frm, 0));
		now.removeClass("btn-default").addClass("btn-primary");
		for (const button of [full, now]) {
			button.prop("disabled", running);
			if (running) button.attr("title", __("A sync is queued or running"));
		}
	},

	on_hide(frm) {
		stop_listening(frm);
	},
});

function summary_of(frm) {
	return (frm.doc.__onload || {}).run_summary || {};
}

// The last run's outcome in one line at the top of the form, with its log.
function show_summary(frm) {
	const summary = summary_of(frm);
	if (!summary.text) return;
	let html = frappe.utils.escape_html(summary.text);
	if (summary.log) {
		html += ` · <a href="${frappe.utils.get_form_link("VTigerCRM Sync Log", summary.log)}">${__(
			"open {0}",
			[frappe.utils.escape_html(summary.log)]
		)}</a>`;
	}
	if (summary.last_run_at && !summary.running) {
		html += ` · ${frappe.datetime.comment_when(summary.last_run_at)}`;
	}
	frm.set_intro(html, (!summary.running && VTIGER_SUMMARY_COLORS[summary.status]) || "blue");
}

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
		// The run publishes its own progress event to this document's room: records read from VTiger out of
		// the run's total, and what happened to the ERPNext documents they became.
		// The bar only moves forward, and only while this form shows a run on: an update that arrives late
		// (the run's closing one, counted after its chunks were folded into the log) must not slide it back
		// or open it again after the reload that closed it.
		[VTIGER_PROGRESS_EVENT]: (data) => {
			if (!data || data.name !== frm.doc.name || cur_frm !== frm) return;
			if (!["Queued", "Running"].includes(frm.doc.status)) return;
			if (data.done < (frm._vtiger_done || 0)) return;
			frm._vtiger_done = data.done;
			frm.dashboard.show_progress(__("Syncing from VTiger"), data.percent, progress_message(data));
		},
	};
	frm._vtiger_done = 0;
	for (const [event, handler] of Object.entries(frm._vtiger_handlers)) {
		frappe.realtime.on(event, handler);
	}
}

function progress_message(data) {
	const docs = data.documents || {};
	const count = (value) => format_number(value || 0, null, 0);
	let message = __("{0} of {1} records read", [count(data.done), count(data.total)]);
	message += " · " + __("documents: {0} created, {1} updated, {2} unchanged, {3} failed", [
		count(docs.created),
		count(docs.updated),
		count(docs.unchanged),
		count(docs.failed),
	]);
	if (data.eta != null) {
		message += " · " + __("about {0} min {1} s left", [Math.floor(data.eta / 60), data.eta % 60]);
	}
	return message;
}

function stop_listening(frm) {
	for (const [event, handler] of Object.entries(frm._vtiger_handlers || {})) {
		frappe.realtime.off(event, handler);
	}
	frm._vtiger_handlers = null;
}

// Records that failed for a reason in their data or the settings wait (runs leave them) until their VTiger
// record or that setting changes: one line per reason, and a button that retries every record of a reason.
function show_waiting(frm, running) {
	for (const reason of summary_of(frm).waiting || []) {
		const label = __(reason.reason_kind) + (reason.setting ? ` (${reason.setting})` : "");
		frm.dashboard.add_comment(
			__("{0} record(s) waiting: {1}", [reason.records, frappe.utils.escape_html(label)]),
			"yellow",
			true
		);
		if (running) continue; // a group item has no button to disable: offered only when no run is on
		frm.add_custom_button(
			__("Retry waiting: {0}", [frappe.utils.escape_html(label)]),
			() => retry_waiting(frm, reason.reason_kind),
			__("Waiting")
		);
	}
}

function retry_waiting(frm, kind) {
	frappe.call({
		method: "vtigercrm_sync.syncer.run.waiting.retry_waiting",
		args: { connection: frm.doc.name, kind: kind },
		freeze: true,
		callback: (r) => {
			if (!r.message) return;
			frappe.show_alert({
				message: __("Retrying {0} waiting record(s)", [r.message.count]),
				indicator: "blue",
			});
			frm.reload_doc();
		},
	});
}

function start_sync(frm, full, rebuild) {
	if (frm.is_dirty()) {
		frappe.msgprint(__("Save the connection before syncing."));
		return;
	}
	frm.call({
		method: `${VTIGER_SYNC_METHODS}.form_start_sync`,
		args: { name: frm.doc.name, full: full, rebuild: rebuild || 0 },
		freeze: true,
		callback: (r) => {
			if (!r.message) return;
			frappe.show_alert({
				message: r.message.message,
				indicator: ["queued", "resumed"].includes(r.message.status) ? "blue" : "orange",
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

function test_web_service(frm) {
	frm.call({
		method: `${VTIGER_SYNC_METHODS}.form_test_web_service`,
		args: { name: frm.doc.name },
		freeze: true,
		freeze_message: __("Logging in to VTiger…"),
		callback: (r) => {
			if (r.message) {
				// escaped by the server
				frappe.msgprint({ title: __("Connected"), indicator: "green", message: r.message });
			}
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
					// escaped by the server: a server's version string is its own text
					message: __("VTiger database server {0}", [r.message]),
				});
			}
		},
	});
}
