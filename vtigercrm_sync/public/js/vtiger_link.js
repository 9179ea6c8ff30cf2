// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

// On a Customer, Contact, Address or Sales Order synced from VTiger: a way back to its VTiger record (when the
// connection knows VTiger's URL), to the connection, and, for whoever may read the connection, the record's own
// controls: sync it from VTiger now, compare it with VTiger, its sync history. Loaded on these forms only
// (hooks.py, doctype_js).
const RECORD_METHODS = "vtigercrm_sync.syncer.run.record.";

for (const doctype of ["Customer", "Contact", "Address", "Sales Order"]) {
	frappe.ui.form.on(doctype, {
		refresh(frm) {
			if (frm.is_new() || !frm.doc.vtiger_id) return;
			frappe.call({
				method: "vtigercrm_sync.vtigercrm_sync.doctype.vtigercrm_sync.vtigercrm_sync.get_vtiger_url",
				type: "GET",
				args: { doctype: frm.doctype, name: frm.doc.name },
				callback: (r) => {
					if (r.message) {
						frm.add_custom_button(__("Open in VTiger"), () => window.open(r.message, "_blank"), __("VTiger"));
					}
				},
			});
			if (!frm.doc.vtiger_connection || !frappe.model.can_read("VTigerCRM Sync")) return;
			frm.add_custom_button(
				__("Sync Connection"),
				() => frappe.set_route("Form", "VTigerCRM Sync", frm.doc.vtiger_connection),
				__("VTiger")
			);
			if (frm.perm[0] && frm.perm[0].write) {
				frm.add_custom_button(__("Sync from VTiger now"), () => sync_now(frm), __("VTiger"));
			}
			frm.add_custom_button(__("Compare with VTiger"), () => compare(frm), __("VTiger"));
			frm.add_custom_button(__("Sync History"), () => history(frm), __("VTiger"));
			if (!frm.__vtiger_listening) {
				frm.__vtiger_listening = true;
				frappe.realtime.on("vtigercrm_sync_refresh", (data) => {
					if (data && data.doctype === frm.doctype && frm.doc && data.name === frm.doc.name) {
						const said = data.message ? ": " + frappe.utils.escape_html(data.message) : "";
						frappe.show_alert({ message: __("VTiger sync ended: {0}", [__(data.status)]) + said, indicator: "blue" });
						frm.reload_doc();
					}
				});
			}
		},
	});
}

function sync_now(frm) {
	frappe.call({
		method: RECORD_METHODS + "sync_from_vtiger_now",
		args: { doctype: frm.doctype, name: frm.doc.name },
		callback: (r) => r.message && frappe.show_alert({ message: r.message, indicator: "blue" }),
	});
}

function compare(frm) {
	frappe.call({
		method: RECORD_METHODS + "compare_with_vtiger",
		type: "GET",
		args: { doctype: frm.doctype, name: frm.doc.name },
		freeze: true,
		freeze_message: __("Reading VTiger…"),
		callback: (r) => {
			const result = r.message || {};
			const esc = frappe.utils.escape_html;
			let body;
			if (!result.found) {
				body = `<p>${__("VTiger has no live record for this document (deleted or purged).")}</p>`;
			} else if (!result.rows.length) {
				body = `<p>${esc(result.message || __("The mapping plans nothing for this document now."))}</p>`;
			} else {
				const rows = result.rows
					.map(
						(row) => `<tr class="${row.same === false ? "text-danger" : ""}">
							<td>${esc(row.label)}</td><td>${esc(row.vtiger)}</td><td>${esc(row.erpnext)}</td>
							<td>${row.same === null ? "" : row.same ? __("Same") : __("Differs")}</td></tr>`
					)
					.join("");
				body = `<table class="table table-bordered table-condensed"><thead><tr>
					<th>${__("Field")}</th><th>${__("VTiger (as the sync would write it)")}</th>
					<th>${__("ERPNext")}</th><th></th></tr></thead><tbody>${rows}</tbody></table>`;
			}
			frappe.msgprint({ title: __("Compare with VTiger"), message: body, wide: true });
		},
	});
}

function history(frm) {
	frappe.call({
		method: RECORD_METHODS + "sync_history",
		type: "GET",
		args: { doctype: frm.doctype, name: frm.doc.name },
		callback: (r) => {
			const esc = frappe.utils.escape_html;
			const lines = r.message || [];
			const rows = lines
				.map(
					(line) => `<tr><td><a href="${frappe.utils.get_form_link("VTigerCRM Sync Log", line.log)}">${esc(
						line.log
					)}</a></td><td>${esc(frappe.datetime.str_to_user(line.started_at))}</td>
					<td>${esc(__(line.direction || ""))}</td><td>${esc(__(line.action))}</td><td>${esc(line.message || "")}</td></tr>`
				)
				.join("");
			frappe.msgprint({
				title: __("Sync History"),
				wide: true,
				message: lines.length
					? `<table class="table table-bordered table-condensed"><thead><tr><th>${__("Log")}</th>
						<th>${__("Started")}</th><th>${__("Direction")}</th><th>${__("Action")}</th><th>${__("Message")}</th>
						</tr></thead><tbody>${rows}</tbody></table>`
					: __("No sync log names this document: every sync of it simply succeeded."),
			});
		},
	});
}
