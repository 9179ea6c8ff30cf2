"""Helpers shared by the engine tests: readers and planners over the test database, and the custom fields of the
insurance install that the ``insurance_household`` preset reads (shared/insurance_mapping.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Engine

from vtigercrm_sync.config.config import load_handler_config, load_preset
from vtigercrm_sync.config.spec import MappingConfig
from vtigercrm_sync.syncer.plan import BundleResult, DocumentPlan
from vtigercrm_sync.syncer.processor.base import PlanContext
from vtigercrm_sync.syncer.processor.planner import BundlePlanner
from vtigercrm_sync.syncer.services.query import Bundle, ChangeBatch, VTigerReader, Watermark

HASH_KEY = b"engine-tests-hash-key"
CONTEXT = PlanContext(hash_key=HASH_KEY, defaults={"country": "United States"})
FAR_FUTURE = datetime(2100, 1, 1)


def make_reader(
	engine: Engine, mapping: str | MappingConfig = "standard", batch_size: int = 500
) -> VTigerReader:
	"""A reader over the test database for a preset name or a loaded mapping."""
	config = load_preset(mapping) if isinstance(mapping, str) else mapping
	return VTigerReader.from_engine(engine, config, batch_size=batch_size)


def make_planner(reader: VTigerReader) -> BundlePlanner:
	return BundlePlanner(reader.mapping, CONTEXT, load_handler_config())


def read_batches(
	reader: VTigerReader, module: str, since: Watermark | None = None, until: datetime = FAR_FUTURE
) -> list[ChangeBatch]:
	return list(reader.iter_changes(module, since, until))


def read_bundle(reader: VTigerReader, module: str, crmid: int) -> Bundle:
	bundles = reader.read_records(module, [crmid])
	assert [b.source.crmid for b in bundles] == [crmid], f"{module} {crmid} was not read"
	return bundles[0]


def plan_record(
	engine: Engine, module: str, crmid: int, mapping: str | MappingConfig = "standard"
) -> BundleResult:
	"""Read one live record through the reader and plan it."""
	reader = make_reader(engine, mapping)
	return make_planner(reader).plan(read_bundle(reader, module, crmid))


def plans_by_key(result: BundleResult) -> dict[str, DocumentPlan]:
	"""Plans of one record by entity key (``dependent#2``); ``item`` is the first Item (there is one per line).

	Fails if any other entity was planned twice.
	"""
	keys = [plan.entity for plan in result.plans if plan.doctype != "Item"]
	assert len(keys) == len(set(keys)), f"an entity was planned twice: {keys}"
	plans: dict[str, DocumentPlan] = {}
	for plan in result.plans:
		plans.setdefault(plan.entity, plan)
	return plans


def issue_texts(result: BundleResult) -> list[str]:
	return [issue.message for issue in result.issues]


# -- the insurance install ---------------------------------------------------------------------------------------

_MEMBERS = {
	"Owner": {"first": "cf_2293", "middle": "cf_2295", "last": "cf_2297", "dob": "cf_2299", "ssn": "cf_2321"},
	"Spouse": {
		"first": "cf_2347",
		"middle": "cf_2349",
		"last": "cf_2351",
		"dob": "cf_2355",
		"ssn": "cf_2357",
	},
}
_MEMBER_EXTRA = {
	"cf_2303": ("Owner Gender", "text"),
	"cf_2601": ("Owner Document", "text"),
	"cf_2119": ("Owner Member ID", "text"),
	"cf_2359": ("Spouse Gender", "text"),
	"cf_2603": ("Spouse Document", "text"),
	"cf_2375": ("Spouse Member ID", "text"),
}
DEPENDENT_COLUMNS = (
	# first, middle, last, gender, dob, ssn, relationship (insurance_household.json, entities.dependent.repeat)
	("cf_2405", "cf_2407", "cf_2409", "cf_2411", "cf_2413", "cf_2417", "cf_2431"),
	("cf_2443", "cf_2445", "cf_2447", "cf_2449", "cf_2451", "cf_2455", "cf_2465"),
	("cf_2479", "cf_2481", "cf_2483", "cf_2485", "cf_2487", "cf_2491", "cf_2501"),
	("cf_2515", "cf_2517", "cf_2519", "cf_2521", "cf_2523", "cf_2527", "cf_2537"),
	("cf_2645", "cf_2647", "cf_2649", "cf_2651", "cf_2653", "cf_2657", "cf_2699"),
)
_POLICY = {
	"cf_2141": ("Policy Status", "text"),
	"cf_2059": ("Effective Date", "date"),
	"cf_2179": ("Sale Date", "text"),
	"cf_2183": ("Sales Person", "text"),
	"cf_2257": ("Digitizer", "text"),
	"cf_2255": ("Digitizer Date", "text"),
	"cf_2115": ("FFM App ID", "text"),
	"cf_2803": ("FFM Subscriber ID", "text"),
	"cf_2035": ("Plan HIOS ID", "text"),
	"cf_2037": ("Plan Name", "text"),
	"cf_2203": ("Benefit ID", "text"),
	"cf_2067": ("Broker", "text"),
	"cf_2261": ("Paid Through Date", "date"),
	"cf_2737": ("Household Street", "text"),
	"cf_2739": ("Household City", "text"),
	"cf_2765": ("Household State", "text"),
	"cf_2743": ("Household Zip", "text"),
	"cf_2759": ("Household PO Box", "text"),
	"cf_1463": ("Autopay", "checkbox"),
	"cf_2147": ("Paid", "checkbox"),
	"cf_2143": ("Payment Zip", "text"),
	"cf_2799": ("Payment Address 1", "text"),
	"cf_2731": ("Payment Address 2", "text"),
	"cf_1471": ("Bank Name", "text"),
	"cf_1479": ("Bank Account Name", "text"),
	"cf_1475": ("Routing Number", "text"),
	"cf_1465": ("Card Number", "text"),
	"cf_1473": ("Card Expiry", "text"),
	"cf_2157": ("Card Subtype", "text"),
}


def _insurance_fields() -> dict[str, tuple[str, str]]:
	fields = dict(_POLICY)
	for member, columns in _MEMBERS.items():
		fields[columns["first"]] = (f"{member} First Name", "text")
		fields[columns["middle"]] = (f"{member} Middle Name", "text")
		fields[columns["last"]] = (f"{member} Last Name", "text")
		fields[columns["dob"]] = (f"{member} Date of Birth", "date")
		fields[columns["ssn"]] = (f"{member} SSN", "text")
	fields.update(_MEMBER_EXTRA)
	for number, columns in enumerate(DEPENDENT_COLUMNS, start=1):
		names = ("First Name", "Middle Name", "Last Name", "Gender", "Date of Birth", "SSN", "Relationship")
		for column, name in zip(columns, names, strict=True):
			fields[column] = (f"Dependent {number} {name}", "date" if name == "Date of Birth" else "text")
	return fields


INSURANCE_FIELDS: Mapping[str, tuple[str, str]] = _insurance_fields()
"""column -> (label, Layout Editor kind) of every custom field the insurance preset reads."""


def add_insurance_fields(writer: Any) -> None:
	"""Add the insurance install's SalesOrder custom fields (idempotent: the writer returns existing labels)."""
	for column, (label, kind) in INSURANCE_FIELDS.items():
		created = writer.add_custom_field_as("SalesOrder", column, label, kind, length=100)
		assert created == column, f"label {label!r} already belongs to {created}, not {column}"
