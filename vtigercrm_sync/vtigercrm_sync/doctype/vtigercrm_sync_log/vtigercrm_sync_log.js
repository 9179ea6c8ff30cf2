// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

const VTIGER_LOG_METHODS = "vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_log.vtigercrm_sync_log";

frappe.ui.form.on("VTigerCRM Sync Log", {
	refresh(frm) {
		frm.disable_save(); // a log says what a run did; nobody edits it
		listen_to_run(frm);
		show_why(frm);
		show_reasons(frm);
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

// Why the run failed as a whole, at the top of the log: the same words as the connection's summary line.
function show_why(frm) {
	frm.set_intro(); // set_intro adds a message each time: clear what the last refresh showed
	if (frm.doc.error_summary && !["Queued", "Running"].includes(frm.doc.status)) {
		const color = frm.doc.status === "Partial Success" ? "orange" : "red";
		frm.set_intro(frappe.utils.escape_html(frm.doc.error_summary), color);
	}
}

// The failures and warnings grouped by reason, above the lines: "56 × e-mail refused by ERPNext", each with
// the records it concerns: the ERPNext document, the VTiger id (whole, to paste in a filter), VTiger's page of
// the record, and for a failure a retry of that record alone.
function show_reasons(frm) {
	const groups = (frm.doc.__onload || {}).reasons || [];
	const field = frm.get_field("failure_summary");
	if (!groups.length) {
		field.$wrapper.empty();
		return;
	}
	const ended = !["Queued", "Running"].includes(frm.doc.status);
	const esc = frappe.utils.escape_html;
	const rows = groups.map((group) => {
		const failed = group.action === "Failed";
		const documents = group.documents
			.map((d) => {
				const parts = [];
				if (d.doctype && d.name) {
					parts.push(`<a href="${frappe.utils.get_form_link(d.doctype, d.name)}">${esc(d.name)}</a>`);
				}
				parts.push(`<code>${esc(d.vtiger_id || `${d.module || ""} ${d.record || ""}`)}</code>`);
				if (d.url) {
					parts.push(
						`<a href="${esc(d.url)}" target="_blank" rel="noopener noreferrer">${__("in VTiger")}</a>`
					);
				}
				if (failed && ended && d.module && d.record) {
					parts.push(
						`<a href="#" class="vtiger-retry-one" data-module="${esc(d.module)}" data-record="${esc(
							String(d.record)
						)}">${__("retry")}</a>`
					);
				}
				return `<li>${parts.join(" ")}</li>`;
			})
			.join("");
		return `<li class="mb-2">
			<span class="indicator-pill ${failed ? "red" : "orange"}">${group.count} × ${__(group.action)}</span>
			${esc(group.reason)}
			${documents ? `<ul class="text-muted small list-unstyled ml-3">${documents}</ul>` : ""}
		</li>`;
	});
	field.$wrapper.html(`<ul class="list-unstyled vtiger-reasons">${rows.join("")}</ul>`);
	field.$wrapper.find(".vtiger-retry-one").on("click", (event) => {
		event.preventDefault();
		const link = $(event.currentTarget);
		retry_failed(frm.doc.name, { module: link.attr("data-module"), record: link.attr("data-record") });
	});
}

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

function retry_failed(log, one) {
	frappe.call({
		method: `${VTIGER_LOG_METHODS}.retry_failed`,
		type: "POST",
		args: { log, ...(one || {}) },
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
