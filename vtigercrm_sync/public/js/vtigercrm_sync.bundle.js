// Shared by the VTigerCRM Sync and Sync Log forms and lists: one colour per run status.
frappe.provide("vtigercrm_sync");

vtigercrm_sync.STATUS_COLORS = {
	"Never Run": "gray",
	Queued: "blue",
	Running: "orange",
	Success: "green",
	"Partial Success": "yellow",
	Failed: "red",
	"Timed Out": "red",
};

vtigercrm_sync.status_color = (status) => vtigercrm_sync.STATUS_COLORS[status] || "gray";
