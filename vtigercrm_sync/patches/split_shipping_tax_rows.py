"""Tax account rows keyed ``shipping_tax`` (one row for every tax on shipping) become one row per VTiger shipping
tax, ``shtax1``..``shtax3`` as a VTiger install defines them, each mapped to the account the old row named."""

import frappe

TAX_ACCOUNT_DOCTYPE = "VTigerCRM Sync Tax Account"
SHIPPING_TAXES = ("shtax1", "shtax2", "shtax3")


def execute():
	for row in frappe.get_all(
		TAX_ACCOUNT_DOCTYPE,
		filters={"vtiger_tax": "shipping_tax"},
		fields=["name", "parent", "parenttype", "parentfield", "account_head", "description", "idx"],
	):
		present = set(frappe.get_all(TAX_ACCOUNT_DOCTYPE, filters={"parent": row.parent}, pluck="vtiger_tax"))
		for key in SHIPPING_TAXES:
			if key not in present:
				frappe.get_doc(
					{
						"doctype": TAX_ACCOUNT_DOCTYPE,
						"parent": row.parent,
						"parenttype": row.parenttype,
						"parentfield": row.parentfield,
						"idx": row.idx,
						"vtiger_tax": key,
						"account_head": row.account_head,
						"description": row.description,
					}
				).db_insert()
		frappe.db.delete(TAX_ACCOUNT_DOCTYPE, {"name": row.name})
