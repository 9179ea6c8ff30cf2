"""The workspace is "VTiger" now: Frappe's apps screen finds a workspace by comparing its name with the tile's
route without slugging it, so "VTiger Sync" (/app/vtiger-sync) sent the tile to Home. Standard workspaces are
synced, never removed: remove the old one."""

import frappe


def execute():
	frappe.delete_doc_if_exists("Workspace", "VTiger Sync", force=True)
