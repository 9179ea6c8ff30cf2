// Copyright (c) 2026, vtigercrm_sync developers
// For license information, please see license.txt

frappe.query_reports["VTiger Reconciliation"] = {
	filters: [
		{
			fieldname: "connection",
			label: __("VTiger Connection"),
			fieldtype: "Link",
			options: "VTigerCRM Sync",
			reqd: 1,
		},
		{
			fieldname: "kind",
			label: __("Difference"),
			fieldtype: "Select",
			options: [
				"",
				"Missing in ERPNext",
				"Gone from VTiger",
				"Gone from VTiger (policy applied)",
				"Total differs",
				"Currency differs",
				"Line count differs",
				"Push waiting",
				"Push failed",
			],
		},
		{ fieldname: "show_applied", label: __("Show Records the Deletion Policy Reached"), fieldtype: "Check" },
	],
	onload(report) {
		// Records that failed for a reason in their data or the settings wait; retry every record of one reason.
		report.page.add_inner_button(__("Retry Waiting Records"), () => {
			const connection = report.get_filter_value("connection");
			if (!connection) {
				frappe.msgprint(__("Choose a connection"));
				return;
			}
			frappe.prompt(
				{
					fieldname: "kind",
					label: __("Reason"),
					fieldtype: "Select",
					reqd: 1,
					options: [
						"Tax not mapped",
						"No exchange rate",
						"Record needed is missing",
						"Value refused",
						"Could not be planned",
					],
				},
				(values) =>
					frappe.call({
						method: "vtigercrm_sync.syncer.run.waiting.retry_waiting",
						args: { connection: connection, kind: values.kind },
						callback: (r) =>
							r.message &&
							frappe.show_alert({
								message: __("Retrying {0} waiting record(s)", [r.message.count]),
								indicator: "blue",
							}),
					}),
				__("Retry Waiting Records"),
				__("Retry")
			);
		});
	},
	formatter(value, row, column, data, default_formatter) {
		const shown = default_formatter(value, row, column, data);
		if (column.fieldname === "vtiger_record" && data && data.vtiger_link) {
			// vtiger_link is built server-side from an http(s) URL only; escape it for the attribute anyway
			return `<a href="${frappe.utils.escape_html(data.vtiger_link)}" target="_blank" rel="noopener">${shown}</a>`;
		}
		if (column.fieldname === "kind" && value) {
			return default_formatter(__(value), row, column, data);
		}
		return shown;
	},
};
