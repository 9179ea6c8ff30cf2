"""Mapping config: shape checks with JSON paths, repeating groups, write order. No database."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

from vtigercrm_sync.config.config import load_handler_config, load_mapping, load_preset, read_json
from vtigercrm_sync.config.graph import entity_graph, selected_columns, write_order
from vtigercrm_sync.config.spec import MappingError
from vtigercrm_sync.syncer.handler.factory import handler_order

DEPENDENT_COLUMNS = (
	("cf_2405", "cf_2407", "cf_2409", "cf_2411", "cf_2413", "cf_2417", "cf_2431"),
	("cf_2443", "cf_2445", "cf_2447", "cf_2449", "cf_2451", "cf_2455", "cf_2465"),
	("cf_2479", "cf_2481", "cf_2483", "cf_2485", "cf_2487", "cf_2491", "cf_2501"),
	("cf_2515", "cf_2517", "cf_2519", "cf_2521", "cf_2523", "cf_2527", "cf_2537"),
	("cf_2645", "cf_2647", "cf_2649", "cf_2651", "cf_2653", "cf_2657", "cf_2699"),
)


def standard_doc() -> dict:
	return copy.deepcopy(read_json("salesorder.json"))


def problems_of(doc: dict, handler=None) -> dict[str, str]:
	"""path -> message of every problem load_mapping reports (fails if it reports none)."""
	with pytest.raises(MappingError) as caught:
		load_mapping(doc, handler if handler is not None else load_handler_config())
	found: dict[str, str] = {}
	for problem in caught.value.problems:
		found[problem.path] = found.get(problem.path, "") + problem.message
	return found


def tiny(**entities: dict) -> dict:
	"""A mapping with one Accounts stream and the given entities (each a customer unless told otherwise)."""
	base = {
		"source": "account",
		"processor": "customer",
		"doctype": "Customer",
		"fields": {"customer_name": "accountname"},
	}
	return {
		"streams": {"Accounts": {}},
		"entities": {name: {**base, **spec} for name, spec in entities.items()},
	}


# -- presets ---------------------------------------------------------------------------------------------------


def test_standard_preset_loads():
	mapping = load_preset("standard")
	assert mapping.preset == "standard"
	assert set(mapping.streams) == {"Accounts", "Contacts", "SalesOrder"}
	names = {e.name for e in mapping.entities}
	assert {"customer", "contact", "item", "sales_order", "customer_billing_address"} <= names
	# Disabled entities are left out entirely.
	assert not {"bank_card", "bank_account"} & names
	assert not mapping.resolved


def test_insurance_preset_loads_with_its_status_filter():
	mapping = load_preset("insurance_household")
	assert set(mapping.streams) == {"SalesOrder"}
	status = mapping.streams["SalesOrder"]
	assert status.column == "cf_2141"
	assert status.values == ("Active", "Initial Enrollment", "Sin Digitar")
	assert {"bank_card", "bank_account", "household_address", "owner", "spouse"} <= {
		e.name for e in mapping.entities
	}
	# The reader must bring the filter's column.
	assert "cf_2141" in selected_columns(mapping)["salesorder"]


def test_unknown_preset_names_the_choices():
	with pytest.raises(MappingError) as caught:
		load_preset("household")
	(problem,) = caught.value.problems
	assert problem.path == "preset"
	assert "standard" in problem.message and "insurance_household" in problem.message


def test_selected_columns_follow_other_parts_of_the_bundle():
	selected = selected_columns(load_preset("standard"))
	# sales_order_billing_address reads "account.accountname": the account part must bring it.
	assert "accountname" in selected["account"]
	assert "account.accountname" not in selected["salesorder"]
	assert {"item_no", "item_name", "comment"} <= selected["line"]
	assert "bill_street" in selected["salesorder"] and "bill_street" in selected["account"]
	assert "mailingcity" in selected["contact"] and "mailingcity" not in selected["account"]


def test_a_stream_selects_only_what_its_records_plan():
	mapping = load_preset("standard")
	orders = selected_columns(mapping, "SalesOrder")
	# An order plans its customer (and its address snapshots), never the account's own addresses.
	assert "accountname" in orders["account"] and "bill_street" not in orders["account"]
	# ...nor its contact's mailing address, which the Contacts stream owns.
	assert "firstname" in orders["contact"] and "mailingcity" not in orders["contact"]
	assert "bill_street" in orders["salesorder"] and "item_no" in orders["line"]
	contacts = selected_columns(mapping, "Contacts")
	assert "mailingcity" in contacts["contact"] and "ship_street" not in contacts["account"]
	assert selected_columns(mapping, "Accounts")["account"] >= {"bill_street", "ship_street", "accountname"}


# -- every problem at once, with its path ------------------------------------------------------------------------


def test_every_problem_is_reported_at_once_with_its_path():
	doc = standard_doc()
	entities = doc["entities"]
	entities["customer"]["colour"] = "red"
	entities["customer"]["fields"]["website"]["transforms"] = ["trimm"]
	entities["item"]["fields"]["item_name"]["transforms"][1] = {"truncate": "140"}
	entities["contact"]["fields"]["first_name"] = {"from": "firstname", "value": "Anon"}
	entities["contact"]["fields"]["last_name"] = {"transforms": ["trim"]}
	del entities["contact_address"]["fields"]["address_title"]["join"]
	entities["sales_order"]["links"][1]["entity"] = "contact_person"
	entities["sales_order"]["links"].append({"kind": "field", "entity": "bank_card", "field": "card"})
	entities["sales_order"]["depends_on"] = ["items"]
	doc["streams"]["Leads"] = {}

	found = problems_of(doc)

	expected = {
		"entities.customer.colour": "unknown key",
		"entities.customer.fields.website.transforms[0]": "unknown transform 'trimm'; did you mean 'trim'",
		"entities.item.fields.item_name.transforms[1]": "transform 'truncate' takes a int argument",
		"entities.contact.fields.first_name": "exactly one of 'from'",
		"entities.contact.fields.last_name": "exactly one of 'from'",
		"entities.contact_address.fields.address_title": "need 'join'",
		"entities.sales_order.links[1].entity": "'contact_person', which does not exist or is disabled",
		"entities.sales_order.links[4].entity": "'bank_card', which does not exist or is disabled",
		"entities.sales_order.depends_on": "'items', which does not exist or is disabled",
		"streams.Leads": "unknown module",
	}
	for path, text in expected.items():
		assert path in found, f"no problem reported at {path}; got {sorted(found)}"
		assert text in found[path], found[path]
	# The error's text lists every problem as "path: message".
	assert set(found) == set(expected)


def test_mapping_error_message_lists_each_problem_on_its_own_line():
	doc = standard_doc()
	doc["entities"]["customer"]["fields"]["website"]["from"] = ["website", "email1"]
	doc["entities"]["contact"]["fields"]["phone"]["transforms"] = [{"trim": 1}]
	with pytest.raises(MappingError) as caught:
		load_mapping(doc)
	lines = str(caught.value).splitlines()
	assert lines == [str(p) for p in caught.value.problems]
	assert any(line.startswith("entities.customer.fields.website: several 'from' fields") for line in lines)
	assert "entities.contact.fields.phone.transforms[0]: transform 'trim' takes no argument" in lines


@pytest.mark.parametrize(
	("transforms", "message"),
	[
		(["truncate"], "transform 'truncate' needs its argument"),
		([{"map": {}}], "transform 'map' needs its argument"),
		([{"map": ["a"]}], "transform 'map' takes a dict argument"),
		([{"trim": None, "upper": None}], "exactly one key"),
		([42], "a transform is a name or an object"),
		(["Lower"], "did you mean 'lower'"),
	],
)
def test_bad_transforms(transforms, message):
	doc = standard_doc()
	doc["entities"]["customer"]["fields"]["website"]["transforms"] = transforms
	found = problems_of(doc)
	assert message in found["entities.customer.fields.website.transforms[0]"]


def test_unknown_transform_without_a_close_name_gets_no_suggestion():
	doc = standard_doc()
	doc["entities"]["customer"]["fields"]["website"]["transforms"] = ["qqqqqq"]
	message = problems_of(doc)["entities.customer.fields.website.transforms[0]"]
	assert message == "unknown transform 'qqqqqq'"


def test_unknown_field_key_suggests_the_right_one():
	doc = standard_doc()
	doc["entities"]["customer"]["fields"]["website"] = {"form": "website"}
	found = problems_of(doc)
	assert "did you mean 'from'" in found["entities.customer.fields.website.form"]


@pytest.mark.parametrize("target", ["cvc", "card_cvv", "security_code", "cvv2", "card_cid", "CardCode"])
def test_card_security_code_targets_are_refused(target):
	doc = standard_doc()
	doc["entities"]["customer"]["fields"][target] = "accountname"
	doc["entities"]["sales_order"]["children"]["items"]["fields"][target] = {"value": "x"}
	found = problems_of(doc)
	assert "CVC" in found[f"entities.customer.fields.{target}"]
	assert "CVC" in found[f"entities.sales_order.children.items.fields.{target}"]


@pytest.mark.parametrize("target", ["accident_date", "incident_no", "decided_by"])
def test_words_that_merely_contain_cid_are_not_card_codes(target):
	doc = standard_doc()
	doc["entities"]["customer"]["fields"][target] = "accountname"
	mapping = load_mapping(doc)
	assert target in {f.target for f in mapping.entity("customer").fields}


def test_several_sources_need_join_or_coalesce():
	doc = tiny(customer={"fields": {"customer_name": {"from": ["accountname", "account_no"]}}})
	found = problems_of(doc)
	assert "several 'from' fields need 'join'" in found["entities.customer.fields.customer_name"]
	for fix in ({"join": " "}, {"coalesce": True}):
		ok = tiny(customer={"fields": {"customer_name": {"from": ["accountname", "account_no"], **fix}}})
		assert load_mapping(ok).entity("customer").fields[0].sources == ("accountname", "account_no")


def test_links_and_depends_on_must_name_enabled_entities():
	doc = tiny(
		customer={},
		card={"enabled": False, "processor": "bank_card", "doctype": "Bank Card"},
		address={
			"processor": "address",
			"doctype": "Address",
			"fields": {"address_line1": "bill_street"},
			"links": [{"kind": "dynamic", "entity": "card"}, {"kind": "dynamic", "entity": "nobody"}],
			"depends_on": ["card"],
		},
	)
	found = problems_of(doc)
	assert "'card', which does not exist or is disabled" in found["entities.address.links[0].entity"]
	assert "'nobody', which does not exist or is disabled" in found["entities.address.links[1].entity"]
	assert "'card', which does not exist or is disabled" in found["entities.address.depends_on"]


def test_link_kind_and_field_are_checked():
	doc = tiny(
		customer={},
		address={
			"processor": "address",
			"doctype": "Address",
			"fields": {"address_line1": "bill_street"},
			"links": [{"kind": "sideways", "entity": "customer"}, {"kind": "primary", "entity": "customer"}],
		},
	)
	found = problems_of(doc)
	assert "must be one of field, dynamic, primary" in found["entities.address.links[0].kind"]
	assert "needs the field it sets" in found["entities.address.links[1].field"]


def test_unknown_stream_module_and_empty_streams():
	doc = standard_doc()
	doc["streams"] = {"Accounts": {}, "Contacts": {}, "SalesOrder": {}, "Invoice": {}}
	assert "choose from Accounts, Contacts, SalesOrder" in problems_of(doc)["streams.Invoice"]
	doc["streams"] = {}
	assert "must name the VTiger modules" in problems_of(doc)["streams"]


def test_stream_filter_needs_from_and_values():
	doc = standard_doc()
	doc["streams"]["SalesOrder"] = {"filter": {"from": "sostatus", "in": []}}
	assert "non-empty list" in problems_of(doc)["streams.SalesOrder.filter"]


def test_entity_whose_source_no_stream_reads():
	doc = standard_doc()
	del doc["streams"]["SalesOrder"]
	found = problems_of(doc)
	for name in ("sales_order", "sales_order_billing_address", "sales_order_shipping_address"):
		assert found[f"entities.{name}.source"] == "'salesorder' is read by no stream in 'streams'"
	# Lines come only with orders.
	assert found["entities.item.source"] == "'line' is read by no stream in 'streams'"
	# Contacts still read accounts, so the customer is fine.
	assert "entities.customer.source" not in found


def test_entity_shape_problems():
	doc = tiny(
		customer={"processor": "vendor", "doctype": "", "match": ["customer_nam"], "skip_if_empty": ["x"]},
		other={"source": "lead"},
	)
	found = problems_of(doc)
	assert "must be one of" in found["entities.customer.processor"]
	assert found["entities.customer.doctype"] == "is required"
	assert "'customer_nam', which is not one of this entity's fields" in found["entities.customer.match"]
	assert "'x', which is not one of this entity's fields" in found["entities.customer.skip_if_empty"]
	assert "must be one of account, contact, salesorder, line" in found["entities.other.source"]


# -- cycles -------------------------------------------------------------------------------------------------------


def test_depends_on_cycle_is_reported_with_the_cycle():
	doc = tiny(
		alpha={"depends_on": ["beta"]}, beta={"depends_on": ["gamma"]}, gamma={"depends_on": ["alpha"]}
	)
	found = problems_of(doc, handler=None)
	assert found == {"entities": "depends_on/links form a cycle: alpha -> beta -> gamma -> alpha"}


def test_field_links_count_as_edges_but_primary_links_do_not():
	doc = tiny(
		customer={"links": [{"kind": "field", "entity": "address", "field": "customer_primary_address"}]},
		address={
			"processor": "address",
			"doctype": "Address",
			"fields": {"address_line1": "bill_street"},
			"links": [{"kind": "dynamic", "entity": "customer"}],
		},
	)
	assert "address -> customer -> address" in problems_of(doc)["entities"]
	# The same pair with a primary link (set on the customer after the address is written) is fine.
	doc["entities"]["customer"]["links"][0]["kind"] = "primary"
	mapping = load_mapping(doc, load_handler_config())
	assert write_order(mapping, load_handler_config()) == ["customer", "address"]


def test_handler_config_doctype_cycle_and_unknown_doctype():
	with pytest.raises(MappingError) as caught:
		load_handler_config(
			{
				"doctypes": {
					"Customer": {"depends_on": ["Contact"]},
					"Contact": {"depends_on": ["Customer", "Lead"]},
				}
			}
		)
	found = {p.path: p.message for p in caught.value.problems}
	assert found["doctypes.Contact.depends_on"] == "unknown doctype 'Lead'"
	assert found["doctypes"] == "depends_on has a cycle: Contact -> Customer -> Contact"


# -- repeating groups -------------------------------------------------------------------------------------------


def test_repeating_group_expands_to_one_entity_per_member():
	mapping = load_preset("insurance_household")
	dependents = mapping.entities_named("dependent")
	assert [d.instance for d in dependents] == [1, 2, 3, 4, 5]
	assert [d.key for d in dependents] == [f"dependent#{n}" for n in range(1, 6)]
	for spec, (first, middle, last, gender, dob, ssn, relationship) in zip(
		dependents, DEPENDENT_COLUMNS, strict=True
	):
		sources = {f.target: f.sources for f in spec.fields}
		assert sources == {
			"first_name": (first,),
			"middle_name": (middle,),
			"last_name": (last,),
			"gender": (gender,),
			"vtiger_birth_date": (dob,),
			"vtiger_ssn": (ssn,),
			"vtiger_ssn_last4": (ssn,),
			"vtiger_relationship": (relationship,),
		}
	# Everything else is shared by the members.
	assert {d.role for d in dependents} == {"dependent"}
	assert all(d.skip_if_empty == ("first_name", "last_name") for d in dependents)


def test_repeating_group_member_missing_a_placeholder():
	doc = copy.deepcopy(read_json("insurance_household.json"))
	del doc["entities"]["dependent"]["repeat"][1]["ssn"]
	found = problems_of(doc)
	message = found["entities.dependent.repeat[1]"]
	assert "placeholder 'ssn'" in message
	assert "entities.dependent.fields.vtiger_ssn.from" in message
	# The first member is complete, so it is not blamed.
	assert "entities.dependent.repeat[0]" not in found


def test_repeat_must_be_a_list_of_objects():
	doc = copy.deepcopy(read_json("insurance_household.json"))
	doc["entities"]["dependent"]["repeat"] = {"first": "cf_1"}
	assert "must be a list of objects" in problems_of(doc)["entities.dependent.repeat"]


# -- write order -------------------------------------------------------------------------------------------------


def test_write_order_of_the_standard_preset():
	mapping = load_preset("standard")
	order = write_order(mapping, load_handler_config())
	assert sorted(order) == sorted({e.name for e in mapping.entities})
	position = order.index
	assert position("customer") < position("contact") < position("sales_order")
	assert position("item") < position("sales_order")
	assert position("customer") < position("customer_billing_address")
	assert position("contact") < position("contact_address")
	assert position("sales_order_billing_address") < position("sales_order")


def test_write_order_of_the_insurance_preset():
	mapping = load_preset("insurance_household")
	order = write_order(mapping, load_handler_config())
	position = order.index
	assert position("customer") < position("owner") < position("sales_order")
	assert position("customer") < position("dependent") < position("household_address")
	assert position("household_address") < position("sales_order")
	assert position("customer") < position("bank_card")


def test_handler_doctype_order_adds_edges():
	mapping = load_preset("standard")
	without = entity_graph(mapping)
	with_handlers = entity_graph(mapping, load_handler_config())
	# handler.json says Address depends on Contact: the customer's address waits for contacts too.
	assert "contact" not in without["customer_billing_address"]
	assert "contact" in with_handlers["customer_billing_address"]
	# A primary link adds no edge: the customer does not wait for its primary address.
	assert "customer_billing_address" not in with_handlers["customer"]


def test_handler_order_needs_a_handler_for_every_doctype():
	mapping = load_preset("insurance_household")
	handler = load_handler_config()
	assert handler_order(mapping, handler) == write_order(mapping, handler)
	doctypes = {k: v for k, v in handler.doctypes.items() if k not in ("Bank Card", "Sales Order")}
	with pytest.raises(MappingError) as caught:
		handler_order(mapping, load_handler_config({"doctypes": doctypes}))
	(problem,) = caught.value.problems
	assert problem.path == "doctypes"
	assert problem.message == "handler.json has no handler for Bank Card, Sales Order"


def test_factory_imports_without_frappe():
	code = (
		"import sys; sys.modules['frappe'] = None\n"
		"from vtigercrm_sync.config.config import load_handler_config, load_preset\n"
		"from vtigercrm_sync.syncer.handler.factory import handler_order\n"
		"order = handler_order(load_preset('standard'), load_handler_config())\n"
		"assert 'vtigercrm_sync.syncer.handler.document' not in sys.modules\n"
		"print(order.index('customer') < order.index('sales_order'))\n"
	)
	done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
	assert done.returncode == 0, done.stderr
	assert done.stdout.strip() == "True"


def test_links_to_another_part_of_the_record_need_a_key():
	doc = standard_doc()
	del doc["entities"]["contact"]["links"][0]["key"]
	doc["entities"]["sales_order"]["links"][0]["key"] = None
	found = problems_of(doc)
	assert "name the column of this record that holds its id" in found["entities.contact.links[0].key"]
	assert "'customer' is read from 'account', not 'salesorder'" in found["entities.sales_order.links[0].key"]
	# The key column is selected for the entity's own source.
	assert "contactid" in selected_columns(load_preset("standard"))["salesorder"]


@pytest.mark.parametrize("source", ["cf_cvv2", "Card CVV", "Security Code", "card-verification value"])
def test_reading_a_card_security_code_is_refused_by_its_name(source):
	doc = standard_doc()
	doc["entities"]["customer"]["fields"]["customer_details"] = {"from": source}
	assert "card security code" in problems_of(doc)["entities.customer.fields.customer_details.from"]


@pytest.mark.parametrize(
	"template", ["{first.__class__}", "{first!r}", "{first[0]}", "{first:>10}", "cf_{first", "{first}}"]
)
def test_a_placeholder_is_a_bare_name_only(template):
	"""``str.format_map`` would reach attributes of the member's values; only ``{name}`` is filled in."""
	doc = standard_doc()
	doc["entities"]["contact"]["repeat"] = [{"first": "firstname"}]
	doc["entities"]["contact"]["fields"]["first_name"] = {"from": template}
	found = problems_of(doc)
	assert "bare name in braces" in found["entities.contact.fields.first_name"]


def test_a_repeating_group_needs_a_role():
	doc = standard_doc()
	doc["entities"]["contact"]["repeat"] = [{"first": "firstname"}, {"first": "lastname"}]
	doc["entities"]["contact"].pop("role", None)
	assert "needs a role" in problems_of(doc)["entities.contact.role"]
