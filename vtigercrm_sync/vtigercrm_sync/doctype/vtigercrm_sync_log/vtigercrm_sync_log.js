// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

const VTIGER_LOG_METHODS = "vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync_log.vtigercrm_sync_log";
const VTIGER_LINE_DOCTYPE = "VTigerCRM Sync Log Line";
const VTIGER_CHUNK_DOCTYPE = "VTigerCRM Sync Chunk";
const VTIGER_LINE_PAGE = 20;
const VTIGER_LINE_ACTIONS = [
	"Failed",
	"Warning",
	"Skipped",
	"Filtered",
	"Deleted",
	"Disabled",
	"Conflict",
	"Pushed",
	"Retrying",
	"Created",
	"Updated",
];

frappe.ui.form.on("VTigerCRM Sync Log", {
	refresh(frm) {
		frm.disable_save(); // a log says what a run did; nobody edits it
		listen_to_run(frm);
		show_why(frm);
		show_reasons(frm);
		show_jobs(frm);
		show_lines(frm, 0, "");
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

// The lines, a page at a time (a first sync writes tens of thousands; the form never loads them all), with a
// filter by action and a link to the line list of this log.
function show_lines(frm, start, action) {
	frappe
		.call({
			method: `${VTIGER_LOG_METHODS}.get_lines`,
			args: { log: frm.doc.name, start, page_length: VTIGER_LINE_PAGE, action: action || null },
		})
		.then((r) => {
			const { lines, total } = r.message;
			const wrapper = frm.get_field("lines_html").$wrapper;
			wrapper.html(`<div class="vtiger-lines">
				${line_pager(start, lines.length, total, action)}
				${lines.length ? line_table(lines) : ""}
			</div>`);
			wrapper.find(".vtiger-line-action").on("change", (e) => show_lines(frm, 0, $(e.target).val()));
			wrapper
				.find(".vtiger-line-prev")
				.on("click", () => show_lines(frm, Math.max(start - VTIGER_LINE_PAGE, 0), action));
			wrapper
				.find(".vtiger-line-next")
				.on("click", () => show_lines(frm, start + VTIGER_LINE_PAGE, action));
			wrapper.find(".vtiger-line-list").on("click", (e) => {
				e.preventDefault();
				frappe.route_options = { log: frm.doc.name, ...(action ? { action } : {}) };
				frappe.set_route("List", VTIGER_LINE_DOCTYPE);
			});
		});
}

function line_pager(start, shown, total, action) {
	const options = ["", ...VTIGER_LINE_ACTIONS]
		.map((a) => `<option value="${a}" ${a === action ? "selected" : ""}>${a ? __(a) : __("All")}</option>`)
		.join("");
	const range = total ? __("{0}–{1} of {2}", [start + 1, start + shown, total]) : __("No lines");
	return `<div class="d-flex align-items-center mb-2">
		<select class="form-control input-xs vtiger-line-action" style="width: auto">${options}</select>
		<span class="text-muted small ml-3">${range}</span>
		<button class="btn btn-xs btn-default ml-3 vtiger-line-prev" ${start ? "" : "disabled"}>
			${__("Previous")}
		</button>
		<button class="btn btn-xs btn-default ml-1 vtiger-line-next" ${start + shown < total ? "" : "disabled"}>
			${__("Next")}
		</button>
		<a href="#" class="small ml-auto vtiger-line-list">${__("View all lines")}</a>
	</div>`;
}

// VTiger's text (ids, messages, names) is escaped: it is whatever the CRM's users typed.
function line_table(lines) {
	const esc = frappe.utils.escape_html;
	const rows = lines.map((line) => {
		const link = line.target_doctype && line.target_name;
		const target = link
			? `<a href="${frappe.utils.get_form_link(line.target_doctype, line.target_name)}">${esc(
					line.target_name
			  )}</a>`
			: "";
		return `<tr>
			<td class="text-muted">${esc(String(line.name))}</td>
			<td>${esc(__(line.action || ""))}</td>
			<td>${esc(line.vtiger_module || "")}</td>
			<td><code>${esc(line.vtiger_id || "")}</code></td>
			<td>${target}</td>
			<td>${esc(line.message || "")}</td>
		</tr>`;
	});
	return `<table class="table table-sm table-bordered small">
		<thead><tr>
			<th>#</th><th>${__("Action")}</th><th>${__("VTiger Module")}</th><th>${__("VTiger ID")}</th>
			<th>${__("Document")}</th><th>${__("Message")}</th>
		</tr></thead>
		<tbody>${rows.join("")}</tbody>
	</table>`;
}

// The run's jobs (one row per chunk; a run of 50,000 records has a few hundred), each opening its own form.
function show_jobs(frm) {
	const jobs = (frm.doc.__onload || {}).jobs || [];
	const field = frm.get_field("jobs_html");
	if (!jobs.length) {
		field.$wrapper.empty();
		return;
	}
	const esc = frappe.utils.escape_html;
	const rows = jobs
		.map(
			(job) => `<tr>
				<td><a href="${frappe.utils.get_form_link(VTIGER_CHUNK_DOCTYPE, job.name)}">${esc(
				`${job.module || ""} ${__(job.stage || "")}`
			)}</a></td>
				<td>${esc(job.until_key || "")}</td>
				<td>${esc(__(job.status || ""))}</td>
				<td>${job.attempts || 0}</td>
				<td>${job.records_read || 0} / ${job.records || 0}</td>
				<td>${job.failed || 0}</td>
			</tr>`
		)
		.join("");
	field.$wrapper.html(`<table class="table table-sm table-bordered small"><thead><tr>
		<th>${__("Job")}</th><th>${__("Up To")}</th><th>${__("Status")}</th><th>${__("Attempts")}</th>
		<th>${__("Records Read")}</th><th>${__("Failed")}</th>
	</tr></thead><tbody>${rows}</tbody></table>`);
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
