"""A connection's mapping checked against ERPNext's metadata and VTiger's real columns, every problem at once."""

from __future__ import annotations

from typing import Any

import frappe
from frappe import _
from frappe.utils import escape_html

from vtigercrm_sync.config.resolution import resolve_mapping, resolve_writeback
from vtigercrm_sync.config.spec import MappingError
from vtigercrm_sync.database.engine import get_engine
from vtigercrm_sync.syncer.processor.planner import PROCESSORS
from vtigercrm_sync.syncer.services.catalog import VTigerCatalog
from vtigercrm_sync.syncer.services.query import ConnectionFailed, read_catalog


def validate_connection_mapping(doc: Any) -> tuple[list[str], VTigerCatalog | None]:
	"""Every problem of a connection's mapping (shape, target DocType fields, VTiger's real columns), and what
	VTiger has, when it answers."""
	try:
		mapping = doc.mapping_config()
	except MappingError as exc:
		return [str(problem) for problem in exc.problems], None
	problems = target_field_problems(mapping)
	try:
		catalog = read_catalog(get_engine(doc.connection_settings()))
	except ConnectionFailed as exc:
		frappe.msgprint(
			_("VTiger columns were not checked: {0}").format(escape_html(str(exc))),
			indicator="orange",
			title=_("Not checked"),
		)
		return problems, None
	try:
		resolve_mapping(mapping, catalog)
	except MappingError as exc:
		problems += [str(problem) for problem in exc.problems]
	if doc.push_status:
		problems += writeback_problems(mapping, catalog)
	return problems, catalog


def writeback_problems(mapping: Any, catalog: VTigerCatalog) -> list[str]:
	"""Writing back needs the VTiger fields the mapping names by label: each unknown one, with the closest."""
	if not mapping.writeback:
		return [
			"writeback: " + _("the mapping names no VTiger fields to write ERPNext's names and status to")
		]
	try:
		resolve_writeback(mapping, catalog)
	except MappingError as exc:
		return [str(problem) for problem in exc.problems]
	return []


def _keeps_secret(entity: Any, meta: Any, target: str) -> bool:
	"""A sensitive value is kept only encrypted: in a Password field, or reduced by its processor (a card number
	becomes its last four digits, and its full number a Password field, only when the connection opts in)."""
	if target in PROCESSORS[entity.processor].consumed_fields:
		return True
	field = meta.get_field(target)
	return bool(field) and field.fieldtype == "Password"


def target_field_problems(mapping: Any) -> list[str]:
	problems = []
	for entity in mapping.entities:
		path = f"entities.{entity.name}"
		if not frappe.db.exists("DocType", entity.doctype):
			problems.append(f"{path}.doctype: " + _("DocType {0} does not exist").format(entity.doctype))
			continue
		meta = frappe.get_meta(entity.doctype)
		consumed = PROCESSORS[entity.processor].consumed_fields
		for spec in entity.fields:
			if spec.target not in consumed and not meta.has_field(spec.target):
				problems.append(
					f"{path}.fields.{spec.target}: "
					+ _("{0} has no field {1}").format(entity.doctype, spec.target)
				)
			elif spec.sensitive and not _keeps_secret(entity, meta, spec.target):
				problems.append(
					f"{path}.fields.{spec.target}: "
					+ _(
						"is sensitive, so it may only go to a Password field, and {0}.{1} is a {2} field"
					).format(entity.doctype, spec.target, meta.get_field(spec.target).fieldtype)
				)
		for child in entity.children:
			table = meta.get_field(child.table)
			if not table or table.fieldtype != "Table":
				problems.append(
					f"{path}.children.{child.table}: "
					+ _("{0} has no table {1}").format(entity.doctype, child.table)
				)
				continue
			child_meta = frappe.get_meta(table.options)
			for spec in child.fields:
				if not child_meta.has_field(spec.target):
					problems.append(
						f"{path}.children.{child.table}.fields.{spec.target}: "
						+ _("{0} has no field {1}").format(table.options, spec.target)
					)
		for link in entity.links:
			target_doctype = mapping.entities_named(link.entity)[0].doctype
			owner, fieldname = (
				(target_doctype, link.fieldname)
				if link.kind == "primary"
				else (entity.doctype, link.fieldname)
			)
			if link.kind == "dynamic":
				owner, fieldname = entity.doctype, "links"
			if not frappe.get_meta(owner).has_field(fieldname):
				problems.append(f"{path}.links: " + _("{0} has no field {1}").format(owner, fieldname))
	return problems
