"""SQLAlchemy models of the VTiger tables the sync reads.

Importing a model never touches a database: the install-specific ``cf_NNN`` columns of the custom-field tables
are reflected later, per engine, by :mod:`vtigercrm_sync.syncer.services.catalog`.
"""

from vtigercrm_sync.models.vtigercrm_account import Account
from vtigercrm_sync.models.vtigercrm_accountbillads import AccountBillAddress
from vtigercrm_sync.models.vtigercrm_accountscf import AccountCustomFields
from vtigercrm_sync.models.vtigercrm_accountshipads import AccountShipAddress
from vtigercrm_sync.models.vtigercrm_contactaddress import ContactAddress
from vtigercrm_sync.models.vtigercrm_contactdetails import ContactDetails
from vtigercrm_sync.models.vtigercrm_contactscf import ContactCustomFields
from vtigercrm_sync.models.vtigercrm_contactsubdetails import ContactSubDetails
from vtigercrm_sync.models.vtigercrm_crmentity import CrmEntity
from vtigercrm_sync.models.vtigercrm_currency_info import CurrencyInfo
from vtigercrm_sync.models.vtigercrm_field import Field
from vtigercrm_sync.models.vtigercrm_inventorychargesrel import InventoryChargesRel
from vtigercrm_sync.models.vtigercrm_inventoryproductrel import InventoryProductRel
from vtigercrm_sync.models.vtigercrm_inventorytaxinfo import InventoryTaxInfo, ShippingTaxInfo
from vtigercrm_sync.models.vtigercrm_modtracker import (
	ModTrackerBasic,
	ModTrackerRelation,
	ModTrackerTab,
	RelatedListsRb,
)
from vtigercrm_sync.models.vtigercrm_products import Product
from vtigercrm_sync.models.vtigercrm_salesorder import SalesOrder
from vtigercrm_sync.models.vtigercrm_salesordercf import SalesOrderCustomFields
from vtigercrm_sync.models.vtigercrm_service import Service
from vtigercrm_sync.models.vtigercrm_sobillads import SalesOrderBillAddress
from vtigercrm_sync.models.vtigercrm_soshipads import SalesOrderShipAddress
from vtigercrm_sync.models.vtigercrm_tab import Tab
from vtigercrm_sync.models.vtigercrm_usageunit import ServiceUsageUnit, UsageUnit

__all__ = [
	"Account",
	"AccountBillAddress",
	"AccountCustomFields",
	"AccountShipAddress",
	"ContactAddress",
	"ContactCustomFields",
	"ContactDetails",
	"ContactSubDetails",
	"CrmEntity",
	"CurrencyInfo",
	"Field",
	"InventoryChargesRel",
	"InventoryProductRel",
	"InventoryTaxInfo",
	"ModTrackerBasic",
	"ModTrackerRelation",
	"ModTrackerTab",
	"Product",
	"RelatedListsRb",
	"SalesOrder",
	"SalesOrderBillAddress",
	"SalesOrderCustomFields",
	"SalesOrderShipAddress",
	"Service",
	"ServiceUsageUnit",
	"ShippingTaxInfo",
	"Tab",
	"UsageUnit",
]
