"""Log lines written before they carried the VTiger record they came from get it from their VTiger id
(``prod/11:owner`` -> 11), so Retry failed records still finds them."""

import frappe

from vtigercrm_sync.syncer.plan import VTigerId

LOG_LINE_DOCTYPE = "VTigerCRM Sync Log Line"


def execute():
	for line in frappe.get_all(
		LOG_LINE_DOCTYPE, filters={"vtiger_record": ("in", (0, None))}, fields=["name", "vtiger_id"]
	):
		try:
			crmid = VTigerId.parse(line.vtiger_id or "").crmid
		except ValueError:
			continue
		frappe.db.set_value(LOG_LINE_DOCTYPE, line.name, "vtiger_record", crmid, update_modified=False)
