"""The app's layers, read from its source: the engine never imports Frappe, and no module or package imports
one that imports it back (README, "Layout")."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "vtigercrm_sync"
ENGINE = (
	"config",
	"database",
	"models",
	"syncer.processor",
	"syncer.services",
	"syncer.plan",
	"syncer.redact",
)
FRAPPE_LAYER = ("syncer.handler", "syncer.observer", "syncer.run", "syncer.push", "syncer.setup")


def module_name(path: Path) -> str:
	parts = path.relative_to(APP.parent).with_suffix("").parts
	return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
	"""Every module named by an import anywhere in the file, a function's deferred import included."""
	found: set[str] = set()
	for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
		if isinstance(node, ast.Import):
			found.update(alias.name for alias in node.names)
		elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
			found.add(node.module)
			found.update(f"{node.module}.{alias.name}" for alias in node.names)
	return found


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
	"""Module → the app's modules it imports; the Frappe suite's tests are left out (they import everything)."""
	sources = [p for p in APP.rglob("*.py") if "tests" not in p.parts and not p.name.startswith("test_")]
	modules = {module_name(p): imports_of(p) for p in sources}
	return {m: {d for d in deps if d in modules and d != m} for m, deps in modules.items()}


def package(module: str) -> str:
	parts = module.split(".")
	depth = 3 if len(parts) > 3 and parts[1] == "syncer" else 2
	return ".".join(parts[:depth])


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
	"""Strongly connected components of more than one node (Tarjan)."""
	index: dict[str, int] = {}
	low: dict[str, int] = {}
	stack: list[str] = []
	found: list[list[str]] = []

	def visit(node: str) -> None:
		index[node] = low[node] = len(index)
		stack.append(node)
		for nxt in edges.get(node, ()):
			if nxt not in index:
				visit(nxt)
				low[node] = min(low[node], low[nxt])
			elif nxt in stack:
				low[node] = min(low[node], index[nxt])
		if low[node] == index[node]:
			component = []
			while True:
				top = stack.pop()
				component.append(top)
				if top == node:
					break
			if len(component) > 1:
				found.append(sorted(component))

	for node in sorted(edges):
		if node not in index:
			visit(node)
	return found


def test_the_engine_imports_no_frappe():
	engine = tuple(f"vtigercrm_sync.{layer}" for layer in ENGINE)
	offenders = [
		f"{module_name(p)} imports {name}"
		for p in sorted(APP.rglob("*.py"))
		if module_name(p).startswith(engine)
		for name in sorted(imports_of(p))
		if name.split(".")[0] == "frappe"
	]
	assert offenders == []


def test_no_module_imports_one_that_imports_it_back(graph):
	assert cycles(graph) == []


def test_no_package_imports_one_that_imports_it_back(graph):
	edges: dict[str, set[str]] = {}
	for module, deps in graph.items():
		for dep in deps:
			if package(module) != package(dep):
				edges.setdefault(package(module), set()).add(package(dep))
	assert cycles(edges) == []


def test_each_frappe_layer_package_exists_and_the_handlers_are_only_writers(graph):
	"""The writers (``syncer/handler``) never reach up into a run's orchestration or the push."""
	assert all((APP / layer.replace(".", "/") / "__init__.py").exists() for layer in FRAPPE_LAYER)
	upward = sorted(
		f"{m} imports {d}"
		for m, deps in graph.items()
		if package(m) == "vtigercrm_sync.syncer.handler"
		for d in deps
		if package(d) in ("vtigercrm_sync.syncer.run", "vtigercrm_sync.syncer.push")
	)
	assert upward == []
