"""The mapping's dependency graph: which entity's documents must be written before which."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from vtigercrm_sync.config.spec import (
	SOURCE_MODULES,
	STREAM_SOURCES,
	HandlerConfig,
	MappingConfig,
	MappingError,
	Problem,
	split_source,
)


def check_cycles(
	mapping: MappingConfig, handler_config: HandlerConfig | None, problems: list[Problem]
) -> None:
	graph = entity_graph(mapping, handler_config)
	for cycle in find_cycles(graph):
		problems.append(Problem("entities", f"depends_on/links form a cycle: {' -> '.join(cycle)}"))


def entity_graph(mapping: MappingConfig, handler_config: HandlerConfig | None = None) -> dict[str, set[str]]:
	"""Entity name -> the entities that must be written before it.

	Edges come from ``depends_on``, from ``field``/``dynamic`` links (the target must exist first) and from the
	doctype order in handler.json. ``primary`` links point backwards on purpose and add no edge.
	"""
	names = {e.name for e in mapping.entities}
	by_doctype: dict[str, set[str]] = {}
	for e in mapping.entities:
		by_doctype.setdefault(e.doctype, set()).add(e.name)
	graph: dict[str, set[str]] = {name: set() for name in names}
	for e in mapping.entities:
		graph[e.name].update(e.depends_on)
		graph[e.name].update(link.entity for link in e.links if link.kind != "primary")
		graph[e.name].update(link.entity for child in e.children for link in child.links)
		if handler_config:
			for doctype in handler_config.depends_on(e.doctype):
				graph[e.name].update(by_doctype.get(doctype, set()) - {e.name})
	return graph


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
	cycles, state = [], {}

	def visit(node: str, trail: list[str]) -> None:
		state[node] = "active"
		for nxt in sorted(graph.get(node, ())):
			if state.get(nxt) == "active":
				cycles.append([*trail[trail.index(nxt) :], nxt])
			elif nxt not in state:
				visit(nxt, [*trail, nxt])
		state[node] = "done"

	for node in sorted(graph):
		if node not in state:
			visit(node, [node])
	return cycles


def topological_order(graph: Mapping[str, Iterable[str]]) -> list[str]:
	"""Nodes with their prerequisites first; ties broken by name so the order is stable."""
	remaining = {node: set(deps) & set(graph) for node, deps in graph.items()}
	order: list[str] = []
	while remaining:
		ready = sorted(node for node, deps in remaining.items() if not deps)
		if not ready:
			raise MappingError([Problem("entities", f"cycle among {', '.join(sorted(remaining))}")])
		for node in ready:
			order.append(node)
			del remaining[node]
		for deps in remaining.values():
			deps.difference_update(ready)
	return order


def stream_entities(mapping: MappingConfig) -> dict[str, set[str]]:
	"""The entities one record of each stream plans: its own, and those they link to or depend on.

	An order plans its customer, contact and items so it never links to a document that was not synced yet, but
	not the contact's own address, which the Contacts stream owns.
	"""
	needs = {
		e.name: set(e.depends_on) | {link.entity for link in e.links if link.kind != "primary"}
		for e in mapping.entities
	}
	result = {}
	for module in mapping.streams:
		primary = STREAM_SOURCES[module][0]
		names = {e.name for e in mapping.entities if e.source == primary}
		pending = list(names)
		while pending:
			for dep in needs.get(pending.pop(), ()):
				if dep not in names:
					names.add(dep)
					pending.append(dep)
		result[module] = names
	return result


def write_order(mapping: MappingConfig, handler_config: HandlerConfig | None = None) -> list[str]:
	"""Entity names in the order their documents must be written."""
	return topological_order(entity_graph(mapping, handler_config))


def selected_columns(mapping: MappingConfig, module: str | None = None) -> dict[str, set[str]]:
	"""Every VTiger column each source must bring, so the reader selects only what is mapped; for one stream,
	only what the entities its records plan read (an order needs its account's name, not its addresses)."""
	selected: dict[str, set[str]] = {source: set() for source in SOURCE_MODULES}
	planned = stream_entities(mapping).get(module, set()) if module else None
	for entity in mapping.entities:
		if planned is not None and entity.name not in planned:
			continue
		selected[entity.source].update(link.key for link in entity.links if link.key)
		for child in entity.children:
			selected[child.source].update(link.key for link in child.links if link.key)
		groups = [(entity.source, entity.fields)] + [(c.source, c.fields) for c in entity.children]
		for source, specs in groups:
			for spec in specs:
				for name in spec.sources:
					part, column = split_source(name, source)
					selected[part].add(column)
	for stream, flt in mapping.streams.items():
		if flt and module in (None, stream):
			selected[STREAM_SOURCES[stream][0]].add(flt.column)
	return selected
