"""The layering the README's Architecture section states, read from the source with ``ast``: the import
graph of ``src/billrun`` has no cycle, and each layer imports only what it may."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted((SRC / "billrun").rglob("*.py"))}


def _imported(module: str, path: Path) -> set[str]:
    """The billrun modules ``module`` imports, wherever the import statement is (function bodies included)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in MODULES and name != module}
    return found


GRAPH = {module: _imported(module, path) for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_takes_part_in_an_import_cycle() -> None:
    assert len(GRAPH) > 50
    assert _cycles(GRAPH) == []


#: layer -> the layers it must never import (README, Architecture: "Dependency rules").
FORBIDDEN = {
    "billrun.domain": ("billrun.store", "billrun.billing", "billrun.ingest", "billrun.worker", "billrun.api"),
    "billrun.store": ("billrun.billing", "billrun.ingest", "billrun.worker", "billrun.api"),
    "billrun.ingest": ("billrun.worker", "billrun.api"),  # ingestion may ask billing to recalculate
    "billrun.billing": ("billrun.ingest", "billrun.worker", "billrun.api"),
    "billrun.worker": ("billrun.api",),
    "billrun.views": ("billrun.billing", "billrun.ingest", "billrun.worker", "billrun.api"),
    "billrun.documents": ("billrun.store", "billrun.billing", "billrun.ingest", "billrun.worker", "billrun.api"),
    "billrun.webhooks": ("billrun.store", "billrun.billing", "billrun.ingest", "billrun.worker", "billrun.api"),
}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_what_it_may(layer: str) -> None:
    broken = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module == layer or module.startswith(layer + ".")
        for target in targets
        if any(target == banned or target.startswith(banned + ".") for banned in FORBIDDEN[layer])
    )
    assert broken == []


def test_the_domain_imports_only_the_domain() -> None:
    outside = sorted(
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        if module.startswith("billrun.domain")
        for target in targets
        if not target.startswith("billrun.domain") and target != "billrun"
    )
    assert outside == []


def _tree(module: str) -> ast.Module:
    return ast.parse(MODULES[module].read_text())


def test_no_status_literal_outside_the_enums_module() -> None:
    """Statuses are spelled once, in domain/statuses.py; everywhere else names them (migrations excepted:
    they are history, written with the values of their day)."""
    from billrun.domain import statuses

    values = {
        member.value
        for enum in (
            statuses.InvoiceStatus,
            statuses.PaymentStatus,
            statuses.RunStatus,
            statuses.ScheduleStatus,
            statuses.TravellerStatus,
            statuses.ExecutionStatus,
            statuses.CatalogStatus,
            statuses.DeliveryStatus,
            statuses.EndpointStatus,
            statuses.EventType,
            statuses.BacktestStatus,
        )
        for member in enum
    }
    assert {"DRAFT", "IN_PROGRESS", "DEPRECATED", "READY", "UNPAID", "SKIPPED"} <= values
    spelled = sorted(
        f"{MODULES[module].relative_to(SRC)}:{node.lineno} {node.value}"
        for module in MODULES
        if module != "billrun.domain.statuses" and not module.startswith("billrun.migrations")
        for node in ast.walk(_tree(module))
        if isinstance(node, ast.Constant) and node.value in values
    )
    assert spelled == []


def test_use_cases_and_routers_run_no_sql_themselves() -> None:
    """Every statement lives in store/: api/ and billing/ call its functions, never ``.execute``."""
    executing = sorted(
        f"{MODULES[module].relative_to(SRC)}:{node.lineno}"
        for module in MODULES
        if module.startswith(("billrun.api", "billrun.billing"))
        for node in ast.walk(_tree(module))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "execute"
    )
    assert executing == []


def test_the_http_layer_stays_small() -> None:
    """Routers translate HTTP: no file in api/ over 400 lines, no router function over ~40 (45 allowed)."""
    long_files = sorted(
        f"{path.relative_to(SRC)}: {lines}"
        for module, path in MODULES.items()
        if module.startswith("billrun.api") and (lines := len(path.read_text().splitlines())) > 400
    )
    long_functions = sorted(
        f"{MODULES[module].relative_to(SRC)}:{node.lineno} {node.name}"
        for module in MODULES
        if module.startswith("billrun.api.routers")
        for node in ast.walk(_tree(module))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > 45
    )
    assert (long_files, long_functions) == ([], [])
