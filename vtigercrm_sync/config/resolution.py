"""Resolve a loaded mapping against a live VTiger install: labels become columns, every name is checked.

Like a Singer catalog's resolution: no query is ever built from an unchecked name, and every miss is reported at
once with the closest real names.
"""

from __future__ import annotations

from dataclasses import replace

from vtigercrm_sync.config.spec import (
	FORBIDDEN_TARGET,
	SOURCE_MODULES,
	STREAM_SOURCES,
	Catalog,
	FieldSpec,
	FilterSpec,
	MappingConfig,
	MappingError,
	Problem,
	split_source,
	suggest,
)


def resolve_mapping(mapping: MappingConfig, catalog: Catalog) -> MappingConfig:
	"""Replace labels by columns and check every column exists in this VTiger; report all misses at once."""
	problems: list[Problem] = []
	entities = []
	for entity in mapping.entities:
		path = f"entities.{entity.name}" + (
			"" if entity.instance is None else f".repeat[{entity.instance - 1}]"
		)
		fields = _resolve_fields(entity.fields, entity.source, f"{path}.fields", catalog, problems)
		children = tuple(
			replace(
				child,
				fields=_resolve_fields(
					child.fields, child.source, f"{path}.children.{child.table}.fields", catalog, problems
				),
				links=tuple(
					replace(
						link,
						key=_resolve_name(
							link.key,
							child.source,
							f"{path}.children.{child.table}.links[{i}].key",
							catalog,
							problems,
						),
					)
					for i, link in enumerate(child.links)
				),
			)
			for child in entity.children
		)
		links = tuple(
			replace(
				link, key=_resolve_name(link.key, entity.source, f"{path}.links[{i}].key", catalog, problems)
			)
			if link.key
			else link
			for i, link in enumerate(entity.links)
		)
		entities.append(replace(entity, fields=fields, children=children, links=links))
	streams: dict[str, FilterSpec | None] = {}
	for module, flt in mapping.streams.items():
		streams[module] = flt and replace(
			flt,
			column=_resolve_name(
				flt.column, STREAM_SOURCES[module][0], f"streams.{module}.filter.from", catalog, problems
			),
		)
	if problems:
		raise MappingError(problems)
	return replace(mapping, entities=tuple(entities), streams=streams, resolved=True)


def resolve_writeback(mapping: MappingConfig, catalog: Catalog) -> dict[str, dict[str, str]]:
	"""The write-back targets as columns: VTiger module -> {what: column}. Resolved only for a connection that
	writes back (a read-only one needs none of these fields); every unknown label is reported at once."""
	problems: list[Problem] = []
	writeback = {
		module: {
			key: _resolve_label(label, module, f"writeback.{module}.{key}", catalog, problems)
			for key, label in targets.items()
		}
		for module, targets in mapping.writeback.items()
	}
	if problems:
		raise MappingError(problems)
	return writeback


def _resolve_label(label: str, module: str, path: str, catalog: Catalog, problems: list[Problem]) -> str:
	"""A write-back target is a field the user made with VTiger's Layout Editor, named by its label (a custom
	field's column differs per install); an unknown label is reported with the closest real ones."""
	source = next(s for s, m in SOURCE_MODULES.items() if m == module)
	labels = catalog.labels(source)
	column = {name.casefold(): c for name, c in labels.items()}.get(label.strip().casefold())
	if column:
		return column
	hint = suggest(label, labels, prefix="; closest labels: ")
	problems.append(Problem(path, f"no VTiger {module} field has the label {label!r}{hint}"))
	return label


def _resolve_fields(
	specs: tuple[FieldSpec, ...], source: str, path: str, catalog: Catalog, problems: list[Problem]
) -> tuple[FieldSpec, ...]:
	return tuple(
		replace(
			spec,
			sources=tuple(
				_resolve_name(s, source, f"{path}.{spec.target}.from", catalog, problems)
				for s in spec.sources
			),
		)
		for spec in specs
	)


def _resolve_name(
	name: str, default_source: str, path: str, catalog: Catalog, problems: list[Problem]
) -> str:
	source, bare = split_source(name, default_source)
	prefix = "" if source == default_source else f"{source}."
	columns = catalog.columns(source)
	labels = catalog.labels(source)
	column = (
		bare if bare in columns else {label.casefold(): c for label, c in labels.items()}.get(bare.casefold())
	)
	if column in columns:
		code_label = next(
			(label for label, c in labels.items() if c == column and FORBIDDEN_TARGET.search(label)), None
		)
		if code_label:
			problems.append(
				Problem(
					path,
					f"{column} is VTiger's {code_label!r}, a card security code (CVC), which is never read",
				)
			)
		return prefix + column
	module = SOURCE_MODULES[source]
	hint = suggest(bare, [*columns, *labels], prefix="; closest fields: ")
	problems.append(Problem(path, f"no VTiger {module} field has the column or label {name!r}{hint}"))
	return name
