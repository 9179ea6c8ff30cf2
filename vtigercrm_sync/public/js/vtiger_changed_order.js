// A submitted order VTiger changed since: say which fields, and offer Amend from VTiger or Keep ERPNext.
frappe.ui.form.on("Sales Order", {
	refresh(frm) {
		if (frm.doc.docstatus !== 1 || !frm.doc.vtiger_changed_after_submit) return;
		frm.dashboard.add_comment(
			__("VTiger changed this order after it was submitted: {0}", [
				frappe.utils.escape_html(frm.doc.vtiger_changes || ""),
			]),
			"orange",
			true
		);
		const call = (method) =>
			frappe.call({
				method: `vtigercrm_sync.syncer.handler.amend.${method}`,
				args: { name: frm.doc.name },
				freeze: true,
				callback: (r) => {
					if (r.message) frappe.show_alert({ message: r.message, indicator: "green" });
					frm.reload_doc();
				},
			});
		frm.add_custom_button(
			__("Amend from VTiger"),
			() =>
				frappe.confirm(
					__("Cancel this order and write VTiger's version of it as its amendment?"),
					() => call("amend_from_vtiger")
				),
			__("VTiger")
		);
		frm.add_custom_button(__("Keep ERPNext"), () => call("keep_erpnext"), __("VTiger"));
	},
});
