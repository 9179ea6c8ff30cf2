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
