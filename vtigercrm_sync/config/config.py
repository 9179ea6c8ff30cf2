"""Load a mapping document: check its shape with no database at hand and build its :mod:`.spec` objects.

Every problem is reported at once, each with the JSON path of the entry at fault.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from vtigercrm_sync.config.graph import check_cycles, find_cycles
from vtigercrm_sync.config.spec import (
	FORBIDDEN_TARGET,
	HANDLER_CONFIG,
	INVERTIBLE_TRANSFORMS,
	LINK_KINDS,
	PLACEHOLDER,
	PRESETS,
	SOURCE_MODULES,
	STREAM_SOURCES,
	WRITEBACK_KEYS,
	ChildSpec,
	EntitySpec,
	FieldSpec,
	FilterSpec,
	HandlerConfig,
	LinkSpec,
	MappingConfig,
	MappingError,
	Problem,
	split_source,
	suggest,
)
from vtigercrm_sync.config.transforms import TRANSFORMS

_ENTITY_KEYS = {
	"source",
	"processor",
	"doctype",
	"role",
	"match",
	"fields",
	"children",
	"links",
	"depends_on",
	"skip_if_empty",
	"repeat",
	"enabled",
	"options",
	"description",
}
_FIELD_KEYS = {"from", "value", "join", "coalesce", "transforms", "required", "sensitive", "default", "push"}
_LINK_KEYS = {"kind", "entity", "field", "required", "key"}
_CHILD_KEYS = {"source", "fields", "links"}
_STREAM_KEYS = {"filter"}
_FILTER_KEYS = {"from", "in"}
_PROCESSORS = {"customer", "contact", "address", "sales_order", "item", "bank_card", "bank_account"}
NEVER_PUSH = {"bank_card", "bank_account", "item", "sales_order"}
"""Processors whose documents never push edits: payment data stays in ERPNext, items and orders are VTiger's."""


# -- loading -------------------------------------------------------------------------------------------------


def read_json(name_or_path: str | Path) -> Any:
	"""A file shipped in ``config/mapping`` by name, or any path a user gives."""
	path = Path(name_or_path)
	if path.suffix == ".json" and path.exists():
		return json.loads(path.read_text(encoding="utf-8"))
	return json.loads(
		resources.files("vtigercrm_sync.config.mapping").joinpath(str(name_or_path)).read_text("utf-8")
	)


def load_preset(preset: str) -> MappingConfig:
	if preset not in PRESETS:
		raise MappingError(
			[Problem("preset", f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")]
		)
	return load_mapping(read_json(PRESETS[preset]), load_handler_config())


def load_handler_config(data: Mapping[str, Any] | None = None) -> HandlerConfig:
	data = read_json(HANDLER_CONFIG) if data is None else data
	problems: list[Problem] = []
	doctypes = data.get("doctypes") if isinstance(data, Mapping) else None
	if not isinstance(doctypes, Mapping):
		raise MappingError([Problem("$", "handler config needs a 'doctypes' object")])
	_check_keys(data, {"doctypes", "description"}, "$", problems)
	for doctype, spec in doctypes.items():
		path = f"doctypes.{doctype}"
		_check_keys(spec, {"handler", "depends_on", "description"}, path, problems)
		for dep in spec.get("depends_on", ()):
			if dep not in doctypes:
				problems.append(Problem(f"{path}.depends_on", f"unknown doctype {dep!r}"))
	graph = {d: set(s.get("depends_on", ())) & set(doctypes) for d, s in doctypes.items()}
	for cycle in find_cycles(graph):
		problems.append(Problem("doctypes", f"depends_on has a cycle: {' -> '.join(cycle)}"))
	if problems:
		raise MappingError(problems)
	return HandlerConfig(doctypes=doctypes)


def load_mapping(data: Mapping[str, Any], handler_config: HandlerConfig | None = None) -> MappingConfig:
	"""Check a mapping document's shape and build its entity specs (repeating groups expanded)."""
	problems: list[Problem] = []
	if not isinstance(data, Mapping):
		raise MappingError([Problem("$", "a mapping must be a JSON object")])
	_check_keys(data, {"preset", "description", "streams", "entities", "writeback"}, "$", problems)
	streams = _load_streams(data.get("streams"), problems)
	raw_entities = data.get("entities")
	if not isinstance(raw_entities, Mapping) or not raw_entities:
		problems.append(Problem("entities", "must be a non-empty object of entity name -> entity"))
		raise MappingError(problems)
	entities: list[EntitySpec] = []
	enabled_names = {
		name for name, raw in raw_entities.items() if isinstance(raw, Mapping) and raw.get("enabled", True)
	}
	for name, raw in raw_entities.items():
		path = f"entities.{name}"
		if not isinstance(raw, Mapping):
			problems.append(Problem(path, "must be an object"))
			continue
		if not raw.get("enabled", True):
			continue
		entities.extend(_load_entity(name, raw, path, enabled_names, problems))
	mapping = MappingConfig(
		preset=str(data.get("preset", "custom")),
		streams=streams,
		entities=tuple(entities),
		writeback=_load_writeback(data.get("writeback"), problems),
	)
	_check_streams_cover(mapping, problems)
	_check_link_keys(mapping, problems)
	if not problems:
		check_cycles(mapping, handler_config, problems)
	if problems:
		raise MappingError(problems)
	return mapping


def _load_streams(raw: Any, problems: list[Problem]) -> dict[str, FilterSpec | None]:
	if not isinstance(raw, Mapping) or not raw:
		problems.append(
			Problem("streams", f"must name the VTiger modules to read: {', '.join(STREAM_SOURCES)}")
		)
		return {}
	streams: dict[str, FilterSpec | None] = {}
	for module, spec in raw.items():
		path = f"streams.{module}"
		if module not in STREAM_SOURCES:
			problems.append(Problem(path, f"unknown module; choose from {', '.join(STREAM_SOURCES)}"))
			continue
		spec = spec or {}
		_check_keys(spec, _STREAM_KEYS, path, problems)
		flt = spec.get("filter")
		streams[module] = None
		if flt is not None:
			_check_keys(flt, _FILTER_KEYS, f"{path}.filter", problems)
			if not isinstance(flt.get("from"), str) or not isinstance(flt.get("in"), list) or not flt["in"]:
				problems.append(
					Problem(f"{path}.filter", "needs 'from' (a field) and 'in' (a non-empty list)")
				)
			else:
				streams[module] = FilterSpec(column=flt["from"], values=tuple(str(v) for v in flt["in"]))
	return streams


def _load_entity(
	name: str, raw: Mapping[str, Any], path: str, enabled: set[str], problems: list[Problem]
) -> list[EntitySpec]:
	_check_keys(raw, _ENTITY_KEYS, path, problems)
	source = raw.get("source")
	if source not in SOURCE_MODULES:
		problems.append(Problem(f"{path}.source", f"must be one of {', '.join(SOURCE_MODULES)}"))
		return []
	processor = raw.get("processor")
	if processor not in _PROCESSORS:
		problems.append(Problem(f"{path}.processor", f"must be one of {', '.join(sorted(_PROCESSORS))}"))
	doctype = raw.get("doctype")
	if not isinstance(doctype, str) or not doctype:
		problems.append(Problem(f"{path}.doctype", "is required"))
	links = tuple(
		_load_link(link, f"{path}.links[{i}]", enabled, problems)
		for i, link in enumerate(raw.get("links", ()))
	)
	for dep in raw.get("depends_on", ()):
		if dep not in enabled:
			problems.append(
				Problem(f"{path}.depends_on", f"names entity {dep!r}, which does not exist or is disabled")
			)

	repeat = raw.get("repeat")
	if repeat is not None and (
		not isinstance(repeat, list) or not all(isinstance(r, Mapping) for r in repeat)
	):
		problems.append(Problem(f"{path}.repeat", "must be a list of objects (one per member)"))
		return []
	if repeat and not raw.get("role"):
		problems.append(
			Problem(
				f"{path}.role",
				"a repeating group needs a role, so each member's document has an id of its own",
			)
		)
	instances: list[tuple[int | None, Mapping[str, Any]]] = (
		[(i + 1, member) for i, member in enumerate(repeat)] if repeat else [(None, {})]
	)
	specs = []
	for instance, placeholders in instances:
		ipath = path if instance is None else f"{path}.repeat[{instance - 1}]"
		fields = _load_fields(raw.get("fields", {}), placeholders, f"{path}.fields", ipath, problems)
		children = tuple(
			ChildSpec(
				table=table,
				source=child.get("source", source),
				fields=_load_fields(
					child.get("fields", {}), placeholders, f"{path}.children.{table}.fields", ipath, problems
				),
				links=_load_child_links(child, f"{path}.children.{table}", enabled, problems),
			)
			for table, child in (raw.get("children") or {}).items()
			if _check_keys(child, _CHILD_KEYS, f"{path}.children.{table}", problems)
		)
		specs.append(
			EntitySpec(
				name=name,
				source=source,
				processor=processor or "",
				doctype=doctype or "",
				role=raw.get("role"),
				match=tuple(raw.get("match", ())),
				fields=fields,
				children=children,
				links=tuple(link for link in links if link),
				depends_on=tuple(raw.get("depends_on", ())),
				skip_if_empty=tuple(raw.get("skip_if_empty", ())),
				options=dict(raw.get("options", {})),
				instance=instance,
			)
		)
	if processor in NEVER_PUSH and any(spec.push for e in specs for spec in e.fields):
		problems.append(Problem(f"{path}.fields", "bank cards and bank accounts never push to VTiger"))
	targets = {f.target for f in specs[0].fields} if specs else set()
	for key in ("match", "skip_if_empty"):
		for target in raw.get(key, ()):
			if target not in targets:
				problems.append(
					Problem(f"{path}.{key}", f"names {target!r}, which is not one of this entity's fields")
				)
	return specs


def _load_fields(
	raw: Any, placeholders: Mapping[str, Any], path: str, instance_path: str, problems: list[Problem]
) -> tuple[FieldSpec, ...]:
	if not isinstance(raw, Mapping):
		problems.append(Problem(path, "must be an object of target field -> field spec"))
		return ()
	specs = []
	for target, spec in raw.items():
		fpath = f"{path}.{target}"
		if FORBIDDEN_TARGET.search(target):
			problems.append(Problem(fpath, "a card security code (CVC) is never stored; remove this field"))
			continue
		if isinstance(spec, str):
			spec = {"from": spec}
		if not isinstance(spec, Mapping):
			problems.append(Problem(fpath, "must be a column/label string or an object"))
			continue
		_check_keys(spec, _FIELD_KEYS, fpath, problems)
		if ("from" in spec) == ("value" in spec):
			problems.append(
				Problem(fpath, "needs exactly one of 'from' (VTiger field) or 'value' (constant)")
			)
			continue
		sources = spec.get("from", ())
		sources = (sources,) if isinstance(sources, str) else tuple(sources)
		try:
			sources = tuple(_fill(s, placeholders) for s in sources)
		except KeyError as missing:
			problems.append(
				Problem(instance_path, f"{fpath}.from uses placeholder {missing} that this member lacks")
			)
			continue
		except ValueError as bad:
			problems.append(Problem(fpath, str(bad)))
			continue
		reads_code = [source for source in sources if FORBIDDEN_TARGET.search(source)]
		if reads_code:
			problems.append(
				Problem(
					f"{fpath}.from", f"{reads_code[0]!r} is a card security code (CVC), which is never read"
				)
			)
			continue
		specs.append(
			FieldSpec(
				target=target,
				sources=sources,
				value=spec.get("value"),
				join=spec.get("join"),
				coalesce=bool(spec.get("coalesce")),
				transforms=_load_transforms(spec.get("transforms", []), f"{fpath}.transforms", problems),
				required=bool(spec.get("required")),
				sensitive=bool(spec.get("sensitive")),
				default=spec.get("default"),
				push=bool(spec.get("push")),
			)
		)
		if spec.get("push"):
			problems.extend(Problem(f"{fpath}.push", reason) for reason in push_refusals(specs[-1]))
		if len(sources) > 1 and spec.get("join") is None and not spec.get("coalesce"):
			problems.append(
				Problem(fpath, "several 'from' fields need 'join' (a separator) or 'coalesce': true")
			)
	return tuple(specs)


def push_refusals(spec: FieldSpec) -> list[str]:
	"""Why ERPNext's value of this field cannot be written back to VTiger: only a field read from one VTiger
	field of the record itself, through transforms that give the value back as it was, may push."""
	reasons = []
	if spec.sensitive:
		reasons.append("a sensitive value is never written to VTiger")
	if not spec.sources:
		reasons.append("a constant has no VTiger field to write to")
	if spec.join is not None:
		reasons.append("a joined value cannot be split back into its VTiger fields")
	if spec.coalesce:
		reasons.append("a coalesced value does not say which VTiger field it came from")
	if len(spec.sources) == 1 and "." in spec.sources[0] and split_source(spec.sources[0], "")[0]:
		reasons.append("it is read from another record of the bundle, not from this entity's own record")
	for name, arg in spec.transforms:
		if name not in INVERTIBLE_TRANSFORMS:
			reasons.append(f"transform {name!r} loses what VTiger had, so its result cannot be written back")
		elif name == "map" and isinstance(arg, Mapping) and "*" in arg:
			reasons.append("a value map with a '*' fallback cannot tell which VTiger value to write back")
	return reasons


def _load_writeback(raw: Any, problems: list[Problem]) -> dict[str, dict[str, str]]:
	"""``{"SalesOrder": {"status": "ERPNext Status"}}``: where VTiger receives what ERPNext made of a record."""
	if raw is None:
		return {}
	if not isinstance(raw, Mapping):
		problems.append(Problem("writeback", "must be an object of VTiger module -> {what: VTiger field}"))
		return {}
	writeback: dict[str, dict[str, str]] = {}
	for module, targets in raw.items():
		path = f"writeback.{module}"
		if module not in WRITEBACK_KEYS:
			problems.append(Problem(path, f"unknown module; choose from {', '.join(WRITEBACK_KEYS)}"))
			continue
		if not _check_keys(targets, set(WRITEBACK_KEYS[module]), path, problems):
			continue
		for key, label in targets.items():
			if not isinstance(label, str) or not label.strip():
				problems.append(Problem(f"{path}.{key}", "must name a VTiger field by its label"))
		writeback[module] = {
			key: label for key, label in targets.items() if isinstance(label, str) and label.strip()
		}
	return writeback


def _fill(source: str, placeholders: Mapping[str, Any]) -> str:
	"""Replace ``{name}`` placeholders by the member's values; any other use of braces is refused (a format string
	could reach attributes of the values)."""
	if "{" not in source and "}" not in source:
		return source
	filled = PLACEHOLDER.sub(lambda m: str(placeholders[m.group(1)]), source)
	if "{" in PLACEHOLDER.sub("", source) or "}" in PLACEHOLDER.sub("", source):
		raise ValueError(f"{source!r}: a placeholder is a bare name in braces, such as {{first}}")
	return filled


def _load_transforms(raw: Any, path: str, problems: list[Problem]) -> tuple[tuple[str, Any], ...]:
	steps = []
	for i, step in enumerate(raw if isinstance(raw, list) else [raw]):
		if not isinstance(step, str | Mapping):
			problems.append(Problem(f"{path}[{i}]", "a transform is a name or an object {name: argument}"))
			continue
		name, arg = (step, None) if isinstance(step, str) else next(iter(step.items()), (None, None))
		if isinstance(step, Mapping) and len(step) != 1:
			problems.append(Problem(f"{path}[{i}]", "an object transform has exactly one key, its name"))
			continue
		if name not in TRANSFORMS:
			hint = suggest(str(name), TRANSFORMS)
			problems.append(Problem(f"{path}[{i}]", f"unknown transform {name!r}{hint}"))
			continue
		arg_type = TRANSFORMS[name][1]
		if arg is not None and (arg_type is None or not isinstance(arg, arg_type)):
			expected = f"a {arg_type.__name__} argument" if arg_type else "no argument"
			problems.append(Problem(f"{path}[{i}]", f"transform {name!r} takes {expected}"))
			continue
		if (arg is None and arg_type is int) or (name == "map" and not arg):
			problems.append(Problem(f"{path}[{i}]", f"transform {name!r} needs its argument"))
			continue
		steps.append((name, arg))
	return tuple(steps)


def _load_link(raw: Any, path: str, enabled: set[str], problems: list[Problem]) -> LinkSpec | None:
	if not isinstance(raw, Mapping):
		problems.append(Problem(path, "must be an object"))
		return None
	_check_keys(raw, _LINK_KEYS, path, problems)
	kind, entity = raw.get("kind"), raw.get("entity")
	if kind not in LINK_KINDS:
		problems.append(Problem(f"{path}.kind", f"must be one of {', '.join(LINK_KINDS)}"))
		return None
	if entity not in enabled:
		problems.append(
			Problem(f"{path}.entity", f"links to {entity!r}, which does not exist or is disabled")
		)
		return None
	if kind != "dynamic" and not raw.get("field"):
		problems.append(Problem(f"{path}.field", f"a {kind!r} link needs the field it sets"))
		return None
	return LinkSpec(
		kind=kind,
		entity=entity,
		fieldname=raw.get("field"),
		required=bool(raw.get("required")),
		key=raw.get("key"),
	)


def _load_child_links(
	child: Mapping[str, Any], path: str, enabled: set[str], problems: list[Problem]
) -> tuple[LinkSpec, ...]:
	"""A child row links only by a ``field`` of its own, to the record its ``key`` column names."""
	links = []
	for i, raw in enumerate(child.get("links", ())):
		link = _load_link(raw, f"{path}.links[{i}]", enabled, problems)
		if link is None:
			continue
		if link.kind != "field" or not link.key:
			problems.append(
				Problem(f"{path}.links[{i}]", "a child row's link is a 'field' link with a 'key' column")
			)
			continue
		links.append(link)
	return tuple(links)


def _check_keys(raw: Any, allowed: set[str], path: str, problems: list[Problem]) -> bool:
	if not isinstance(raw, Mapping):
		problems.append(Problem(path, "must be an object"))
		return False
	for key in raw:
		if key not in allowed:
			problems.append(Problem(f"{path}.{key}", f"unknown key{suggest(key, allowed)}"))
	return True


def _check_streams_cover(mapping: MappingConfig, problems: list[Problem]) -> None:
	read = {source for module in mapping.streams for source in STREAM_SOURCES[module]}
	for entity in mapping.entities:
		if entity.source not in read:
			problems.append(
				Problem(
					f"entities.{entity.name}.source", f"{entity.source!r} is read by no stream in 'streams'"
				)
			)


def _check_link_keys(mapping: MappingConfig, problems: list[Problem]) -> None:
	"""A link to an entity read from another part of the record must say which column holds its crmid."""
	sources = {e.name: e.source for e in mapping.entities}
	for entity in mapping.entities:
		for i, link in enumerate(entity.links):
			if sources.get(link.entity) != entity.source and not link.key and entity.source != "line":
				problems.append(
					Problem(
						f"entities.{entity.name}.links[{i}].key",
						f"{link.entity!r} is read from {sources.get(link.entity)!r}, not {entity.source!r}: name the "
						"column of this record that holds its id (e.g. accountid)",
					)
				)
