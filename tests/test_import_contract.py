"""The import contract (docs/architecture.md), read from the source with `ast`.

- `common` imports nothing of ours; `rasa_plugins` imports only `common` (it runs in .venv-rasa).
- `bot` never imports `actions`, `rasa_plugins` or `scripts`.
- Inside `bot`, areas import only areas below them in LAYERS. `web` and `ops` are imported by
  nothing else; `ops`, which holds every process's entry module, may import `web`, and `web`
  never imports `ops`.
- No module imports itself back through others (no cycles).
- No production package imports the test harness (`tests`) or the benchmarks (`scripts`).

Written here rather than with import-linter: its contracts cover the layers but not cycles
between modules of one area, and this is all of it in one screen.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from bot.core.settings import PROJECT_ROOT

PACKAGES = ("common", "rasa_plugins", "bot", "actions")
# Lowest first. A module may import its own area and the areas before it.
LAYERS = ("core", "db", "knowledge", "rasa_api", "incidents", "people", "conversation", "web", "ops")
TOP = {"web", "ops"}  # nothing else imports these; of the two, only ops imports web (its entry module)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path) -> Iterator[str]:
    """Our modules that `path` imports, at any depth in the file (lazy imports count too)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def edges() -> dict[str, set[str]]:
    known = modules()
    return {name: {m for m in imports(path) if m in known and m != name} for name, path in known.items()}


def area(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "bot" and len(parts) > 1 else None


def test_common_and_rasa_plugins_import_nothing_of_the_project_but_common() -> None:
    for module, targets in edges().items():
        if module.startswith(("common", "rasa_plugins")):
            allowed = ("common",) if module.startswith("rasa_plugins") else ()
            assert all(t.startswith(allowed) for t in targets if t.split(".")[0] != module.split(".")[0]), (
                module,
                targets,
            )
            if module.startswith("common"):
                assert not {t for t in targets if not t.startswith("common")}, (module, targets)


def test_bot_never_imports_the_adapters_above_it() -> None:
    for module, targets in edges().items():
        if module.startswith("bot"):
            assert not {t for t in targets if t.startswith(("actions", "rasa_plugins"))}, (module, targets)


def test_every_bot_area_is_on_a_layer() -> None:
    assert {area(m) for m in modules() if area(m)} == set(LAYERS)


def test_bot_areas_import_only_downward_and_web_and_ops_stand_alone() -> None:
    for module, targets in edges().items():
        source = area(module)
        if source is None:
            if module.startswith(("actions", "bot")):
                assert not {t for t in targets if area(t) in TOP}, (module, targets)
            continue
        for target in targets:
            dest = area(target)
            if dest is None or dest == source:
                continue
            assert dest not in TOP or (source, dest) == ("ops", "web"), f"{module} imports {target}"
            assert LAYERS.index(dest) < LAYERS.index(source), f"{module} imports {target}, an area above it"


def test_there_are_no_import_cycles() -> None:
    graph = edges()
    # A package's __init__ naming its submodules is not a cycle; only module-to-module arrows count.
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> None:
        if node in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(node) :], node]))
        if node in done:
            return
        path.append(node)
        for target in sorted(graph.get(node, ())):
            visit(target)
        path.pop()
        done.add(node)

    for module in sorted(graph):
        visit(module)


HARNESS = ("tests", "scripts")  # the test rig and the benchmarks: production never depends on them


def test_production_never_imports_the_test_harness_or_the_benchmarks() -> None:
    for package in PACKAGES:
        for path in (PROJECT_ROOT / package).rglob("*.py"):
            reached = {m for m in imports(path) if m.split(".")[0] in HARNESS}
            assert not reached, f"{path.relative_to(PROJECT_ROOT)} imports {sorted(reached)}"
