"""The floor plan, kept: which part of the package may import which. Read from the source with
`ast` (nothing is imported), so a new arrow that breaks a rule fails here with its module's name.

- model/ (snapshots) and decide/ (pure decisions) reach nothing that does I/O, not even through
  another module: only each other, config (the settings types), events.model, and libraries that
  compute (no processes, sockets, files, clocks or connections).
- Probes, the exporter and health read; only act/ and the programs change things.
- The CLI is the top: nothing imports it. Programs are not imported by what they use.
- Folders (and top-level modules) form no cycle."""

import ast
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "postdock_supervisor"
NAME = PACKAGE.name

# Libraries a pure module may use; anything else outside the package is I/O until shown otherwise.
PURE_LIBRARIES = {
    "enum",
    "math",
    "re",
    "dataclasses",
    "datetime",
    "typing",
    "collections",
    "json",
    "croniter",
    "psycopg.conninfo",
}
PURE_PARTS = ("model", "decide", "config.modes", "events.model")
READERS = ("observe", "metrics", "metrics_barman", "health", "status")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> tuple[set[str], set[str]]:
    """(modules of this package, outside modules) imported anywhere in the file, functions included."""
    own, outside = set(), set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)] if package else []
                base = ".".join([*up, base] if base else up)
                base = f"{NAME}.{base}" if base else NAME
            names = [f"{base}.{a.name}" for a in node.names] if base in (NAME, f"{NAME}.programs") else [base]
        else:
            continue
        for name in names:
            if name == NAME or name.startswith(f"{NAME}."):
                own.add(name.removeprefix(NAME).lstrip("."))
            else:
                outside.add(name)
    return own, outside


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    own_edges, outside_edges = {}, {}
    for name, path in modules.items():
        own, outside = imports_of(path)
        # `from pkg import module` names a module; `from pkg.module import thing` names pkg.module.
        own_edges[name] = {m if m in modules else m.rpartition(".")[0] for m in own} - {"", name}
        outside_edges[name] = outside
    return own_edges, outside_edges


OWN, OUTSIDE = graph()


def within(name: str, parts: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for p in parts)


def reachable(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in OWN.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_the_graph_is_read() -> None:
    assert "decide.startup" in OWN and "model.node" in OWN["decide.startup"]
    assert "programs.fence_keeper" in OWN and "decide.fence" in OWN["programs.fence_keeper"]


def test_decisions_and_snapshots_reach_nothing_that_does_io() -> None:
    allowed = ("model", "decide", "config", "events.model", "errors", "paths")
    for name in OWN:
        if not within(name, ("model", "decide")):
            continue
        wrong = sorted(dep for dep in reachable(name) if not within(dep, allowed))
        assert not wrong, f"{name} reaches {wrong}"
        for dep in {name} | {d for d in reachable(name) if within(d, PURE_PARTS)}:
            libraries = {m for m in OUTSIDE[dep] if m.split(".")[0] not in ("collections",)}
            impure = sorted(m for m in libraries if m not in PURE_LIBRARIES and not m.startswith("collections."))
            assert not impure, f"{dep} imports {impure}"


def test_readers_never_import_act_programs_or_the_cli() -> None:
    for name, deps in OWN.items():
        if within(name, READERS):
            wrong = sorted(d for d in deps if within(d, ("act", "programs", "cli")))
            assert not wrong, f"{name} imports {wrong}"


def test_nothing_imports_the_cli_and_only_programs_import_programs() -> None:
    for name, deps in OWN.items():
        assert within(name, ("cli", "__main__")) or not any(within(d, ("cli",)) for d in deps), name
        if not within(name, ("programs", "cli", "__main__")):
            assert not any(within(d, ("programs",)) for d in deps), f"{name} imports a program"


def test_folders_form_no_cycle() -> None:
    folders: dict[str, set[str]] = defaultdict(set)
    for name, deps in OWN.items():
        top = name.split(".")[0]
        folders[top] |= {d.split(".")[0] for d in deps} - {top, ""}
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(folders.get(node, ())):
            assert state.get(nxt) != "open", "cycle: " + " -> ".join([*path, nxt])
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for top in sorted(folders):
        if top not in state:
            visit(top, [top])


def test_every_import_of_the_package_names_a_module_or_a_name_that_exists() -> None:
    # Imports inside functions (the CLI's are) run only when their command does: a moved module
    # must fail here, not in a container.
    import importlib

    for name, path in ((module_name(p), p) for p in PACKAGE.rglob("*.py")):
        own, _ = imports_of(path)
        for imported in own:
            module, _, attribute = imported.rpartition(".")
            target = f"{NAME}.{imported}" if imported else NAME
            try:
                importlib.import_module(target)
            except ModuleNotFoundError:
                parent = importlib.import_module(f"{NAME}.{module}" if module else NAME)
                assert hasattr(parent, attribute), f"{name} imports {imported}, which does not exist"


def test_every_listener_the_cli_names_is_a_program_with_main() -> None:
    import importlib

    from postdock_supervisor.cli import LISTENERS

    for module in LISTENERS.values():
        assert callable(importlib.import_module(module).main), module
