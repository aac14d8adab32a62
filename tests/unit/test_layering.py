"""The layers of app/ hold. `make test` runs import-linter on the layer contracts
(pyproject.toml, [tool.importlinter]); these tests check what it does not: no import
circle at all (imports inside functions included), and no provider named outside
its own module."""
from __future__ import annotations

import ast
import re
from pathlib import Path

from app.integrations import registry

APP = Path(__file__).resolve().parents[2] / "app"


def module_name(path: Path) -> str:
    parts = path.relative_to(APP.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """module -> the app modules it imports anywhere in its body (functions included)."""
    modules = {module_name(path): path for path in APP.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                submodules = [f"{node.module}.{alias.name}" for alias in node.names]
                targets = [target for target in submodules if target in modules]
                if len(targets) < len(submodules):
                    targets.append(node.module)  # names defined in the module itself
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            graph[name].update(target for target in targets if target in modules and target != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circle_in_app_counting_imports_inside_functions():
    assert cycles(import_graph()) == []


def test_the_cycle_finder_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


SHARED_PLACES = ["services", "routes", "models", "templates", "jobs.py", "tuning.py", "encryption.py",
                 "integrations/base.py", "integrations/spec.py", "integrations/exchange.py",
                 "integrations/capabilities.py", "integrations/http.py", "integrations/oauth.py",
                 "integrations/pagination.py", "integrations/ratelimit.py", "integrations/jwt_hs256.py"]


def test_no_provider_slug_is_named_outside_the_providers_own_modules():
    slugs = [spec.slug for spec in registry.all_specs()]
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, slugs)) + r")\b")
    named = []
    for place in SHARED_PLACES:
        root = APP / place
        for path in [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file()):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    named.append(f"{path.relative_to(APP)}:{number}: {line.strip()}")
    assert named == []

