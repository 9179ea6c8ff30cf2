// A submitted order VTiger changed since: say which fields, and offer Amend from VTiger or Keep ERPNext; one VTiger
// cancelled: say so, and offer Cancel in ERPNext or Keep ERPNext.
frappe.ui.form.on("Sales Order", {
	refresh(frm) {
		if (frm.doc.docstatus !== 1 || !frm.doc.vtiger_changed_after_submit) return;
		const cancelled = !!frm.doc.vtiger_cancelled_after_submit;
		frm.dashboard.add_comment(
			__(
				cancelled
					? "VTiger cancelled this order after it was submitted: {0}"
					: "VTiger changed this order after it was submitted: {0}",
				[frappe.utils.escape_html(frm.doc.vtiger_changes || "")]
			),
			cancelled ? "red" : "orange",
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
		if (cancelled) {
			frm.add_custom_button(
				__("Cancel in ERPNext"),
				() =>
					frappe.confirm(__("Cancel this order, as VTiger did?"), () =>
						call("cancel_in_erpnext")
					),
				__("VTiger")
			);
		} else {
			frm.add_custom_button(
				__("Amend from VTiger"),
				() =>
					frappe.confirm(
						__("Cancel this order and write VTiger's version of it as its amendment?"),
						() => call("amend_from_vtiger")
					),
				__("VTiger")
			);
		}
		frm.add_custom_button(__("Keep ERPNext"), () => call("keep_erpnext"), __("VTiger"));
	},
});
