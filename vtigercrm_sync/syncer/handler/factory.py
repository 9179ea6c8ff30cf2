"""Build the handler for each mapping entity, in write order.

``handler_order`` is pure (tested without Frappe); ``build_handlers`` imports the Frappe handlers lazily so the
engine and the pytest suite can import this module with no Frappe installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vtigercrm_sync.config.graph import write_order
from vtigercrm_sync.config.spec import HandlerConfig, MappingConfig, MappingError, Problem

if TYPE_CHECKING:
	from vtigercrm_sync.syncer.handler.base import DocumentHandler


def handler_order(mapping: MappingConfig, handler_config: HandlerConfig) -> list[str]:
	"""Entity names in the order their documents are written; every doctype must have a handler."""
	missing = sorted({e.doctype for e in mapping.entities} - set(handler_config.doctypes))
	if missing:
		raise MappingError([Problem("doctypes", f"handler.json has no handler for {', '.join(missing)}")])
	return write_order(mapping, handler_config)


def build_handlers(
	mapping: MappingConfig, handler_config: HandlerConfig, settings: Any
) -> dict[str, DocumentHandler]:
	"""entity name -> handler instance, ordered as :func:`handler_order`."""
	from vtigercrm_sync.syncer.handler.document import HANDLERS

	handlers = {}
	for name in handler_order(mapping, handler_config):
		doctype = mapping.entities_named(name)[0].doctype
		kind = handler_config.doctypes[doctype].get("handler", "document")
		if kind not in HANDLERS:
			raise MappingError([Problem(f"doctypes.{doctype}.handler", f"unknown handler {kind!r}")])
		handlers[name] = HANDLERS[kind](doctype, settings)
		handlers[name].cleared_fields, handlers[name].mirrored_doctypes = mirrored_links(mapping, name)
	return handlers


def mirrored_links(mapping: MappingConfig, name: str) -> tuple[frozenset[str], frozenset[str]]:
	"""The links a document of entity ``name`` mirrors rather than only adds: its optional link fields (emptied
	when VTiger's reference is: an order whose contact was deleted) and the doctypes of its dynamic links (a link
	to a synced document the plan no longer names is removed: a contact whose account was emptied)."""
	specs = mapping.entities_named(name)
	links = [link for spec in specs for link in spec.links]
	fields = {
		link.fieldname for link in links if link.kind == "field" and link.fieldname and not link.required
	}
	doctypes = {mapping.entities_named(link.entity)[0].doctype for link in links if link.kind == "dynamic"}
	return frozenset(fields), frozenset(doctypes)
