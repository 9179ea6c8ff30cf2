"""Foreign-currency orders made through the real VTiger's web service, and every row VTiger keeps for one.

Shared by the engine tests and the Frappe suite: an order in EUR (0.92 to VTiger's base USD) with everything
VTiger's inventory save recomputes — tax type, an overall discount, S&H with its tax, an adjustment, fractional
quantities and a line discount — so a test can check that a write leaves all of it alone.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, text

INVENTORY_TABLES = {  # table: (key, order)
	"vtiger_salesorder": ("salesorderid", "salesorderid"),
	"vtiger_salesordercf": ("salesorderid", "salesorderid"),
	"vtiger_inventoryproductrel": ("id", "sequence_no"),
	"vtiger_inventorychargesrel": ("recordid", "recordid"),
	"vtiger_sobillads": ("sobilladdressid", "sobilladdressid"),
	"vtiger_soshipads": ("soshipaddressid", "soshipaddressid"),
}


def inventory_rows(db: Engine, crmid: int) -> dict[str, list[dict]]:
	"""Every row VTiger keeps for an order, but the crmentity row (whose modifiedtime a write moves)."""
	with db.connect() as conn:
		return {
			table: [
				dict(row)
				for row in conn.execute(
					text(f"SELECT * FROM {table} WHERE {key} = :id ORDER BY {order}"), {"id": crmid}
				).mappings()
			]
			for table, (key, order) in INVENTORY_TABLES.items()
		}


def euro_currency(client: Any) -> str:
	"""EUR at 0.92, made as VTiger's Currencies settings make it; its ws id."""
	found = client.query("select id from Currency where currency_code = 'EUR'")
	if found:
		return found[0]["id"]
	return client.create(
		"Currency",
		{
			"currency_name": "Euro",
			"currency_code": "EUR",
			"currency_symbol": "€",
			"conversion_rate": "0.92",
			"currency_status": "Active",
			"defaultid": "0",
			"deleted": "0",
		},
	)["id"]


def euro_order(client: Any, euro: str, taxtype: str, name: str, account_id: str | None = None) -> dict:
	"""An EUR order of two lines (a product, 2.5 at 12.505 less 10 %, and a service), group or individual tax,
	5 % overall discount, 10.10 S&H taxed at tax2, adjustment -0.335; under a new account unless one is given."""
	user = client.user_id
	product = client.create(
		"Products",
		{
			"productname": f"Wídget {name}",
			"unit_price": "12.50",
			"discontinued": "1",
			"assigned_user_id": user,
		},
	)
	service = client.create(
		"Services",
		{"servicename": f"Sérvice {name}", "unit_price": "40", "discontinued": "1", "assigned_user_id": user},
	)
	if account_id is None:
		account_id = client.create(
			"Accounts",
			{
				"accountname": f"Ąčme {name}",
				"assigned_user_id": user,
				"bill_street": "1 Rue",
				"bill_city": "Łódź",
			},
		)["id"]
	lines = [
		{"productid": product["id"], "quantity": "2.5", "listprice": "12.505", "discount_percent": "10"},
		{"productid": service["id"], "quantity": "3", "listprice": "40.00"},
	]
	if taxtype == "individual":
		lines[0]["tax1"] = "4.5"
		lines[1].update(tax2="10", tax3="12.5")
	else:
		for line in lines:
			line.update(tax1="4.5", tax2="10")
	return client.create(
		"SalesOrder",
		{
			"subject": f"Zamówienie {name}",
			"account_id": account_id,
			"sostatus": "Created",
			"invoicestatus": "AutoCreated",
			"bill_street": "1 Rue",
			"bill_city": "Łódź",
			"ship_street": "2 Rue",
			"ship_city": "Kraków",
			"assigned_user_id": user,
			"productid": product["id"],
			"currency_id": euro,
			"conversion_rate": "0.92",
			"hdnTaxType": taxtype,
			"hdnDiscountPercent": "5",
			"shipping_&_handling": "10.10",
			"shipping_&_handling_shtax2": "10",
			"txtAdjustment": "-0.335",
			"LineItems": lines,
		},
	)
