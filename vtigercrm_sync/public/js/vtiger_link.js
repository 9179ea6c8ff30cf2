// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

// On a Customer, Contact or Sales Order synced from VTiger: a way back to its VTiger record (when the connection
// knows VTiger's URL) and to the connection, for those who may read it. Loaded on these three forms only
// (hooks.py, doctype_js).
for (const doctype of ["Customer", "Contact", "Sales Order"]) {
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
			if (frm.doc.vtiger_connection && frappe.model.can_read("VTigerCRM Sync")) {
				frm.add_custom_button(
					__("Sync Connection"),
					() => frappe.set_route("Form", "VTigerCRM Sync", frm.doc.vtiger_connection),
					__("VTiger")
				);
			}
		},
	});
}
