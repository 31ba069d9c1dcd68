"""The package's layers: imports go one way (a layer imports only from layers before it), no module takes part
in an import cycle, no layer imports the notebooks' short-hand (`clusterkit/__init__.py`), and per-rank
scripts use only the rank-side API. Every import counts, also one inside a function."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from clusterkit.machine.environment import REPO_ROOT

PACKAGE = REPO_ROOT / "src" / "clusterkit"
# in the order imports may go: each layer imports only from itself and the layers before it
LAYERS = ("course", "machine", "rank", "jobs", "clusters", "notebook", "authoring", "learner", "exercises", "room",
          "bench")
# per-rank scripts: the course's (beside the notebooks), the package's own (self-check, Horovod's collectives)
RANK_SCRIPTS = sorted((REPO_ROOT / "solutions").glob("*/*.py")) + sorted((PACKAGE / "scripts").glob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(module: str) -> bool:
    return (PACKAGE.parent / module.replace(".", "/") / "__init__.py").exists()


def is_module(module: str) -> bool:
    return is_package(module) or (PACKAGE.parent / (module.replace(".", "/") + ".py")).exists()


def imports_of(path: Path) -> set[str]:
    """The clusterkit modules a file imports (`from a import b` counts as a.b when b is a module)."""
    tree = ast.parse(path.read_text())
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if is_module(f"{base}.{alias.name}") else base)
    return {name for name in found if name == "clusterkit" or name.startswith("clusterkit.")}


def layer_of(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "facade"
    return "rank-script" if parts[1] == "scripts" else parts[1]


GRAPH = {module_name(path): imports_of(path) for path in sorted(PACKAGE.rglob("*.py"))}


def test_every_folder_and_top_level_module_of_the_package_is_a_layer():
    tops = {layer_of(module) for module in GRAPH} - {"facade", "rank-script"}
    assert tops == set(LAYERS), f"not in LAYERS: {sorted(tops - set(LAYERS))}; gone: {sorted(set(LAYERS) - tops)}"


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if layer_of(m) in LAYERS))
def test_imports_go_from_a_later_layer_to_an_earlier_one(module):
    mine = LAYERS.index(layer_of(module))
    wrong = sorted(t for t in GRAPH[module] if layer_of(t) == "facade" or
                   (layer_of(t) in LAYERS and LAYERS.index(layer_of(t)) > mine))
    assert not wrong, (f"{module} (layer {layer_of(module)}) imports {wrong}: a layer imports only from itself and "
                       f"the layers before it ({', '.join(LAYERS[:mine + 1])}), never `clusterkit` itself")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles (strongly connected components of more than one module, or a module importing itself)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
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
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle():
    # a package's __init__ runs before its modules: an __init__ that re-exports its own modules is no cycle
    graph = {m: {t for t in targets if not (is_package(t) and m.startswith(t + "."))} for m, targets in GRAPH.items()}
    assert not cycles(graph), f"import cycles: {cycles(graph)}"


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_layer_check_sees_imports_inside_functions(tmp_path, monkeypatch):
    probe = PACKAGE / "machine" / "environment.py"
    assert "clusterkit.jobs.runner" not in GRAPH[module_name(probe)]
    doctored = tmp_path / "src" / "clusterkit" / "machine" / "environment.py"
    doctored.parent.mkdir(parents=True)
    doctored.write_text("def later():\n    from clusterkit.jobs.runner import mpirun\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", tmp_path / "src" / "clusterkit")
    assert module_name(doctored) == "clusterkit.machine.environment"
    assert "clusterkit.jobs.runner" in imports_of(doctored)


@pytest.mark.parametrize("script", RANK_SCRIPTS, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_per_rank_scripts_use_only_the_rank_side_api(script):
    tree = ast.parse(script.read_text())
    used = {node.module if isinstance(node, ast.ImportFrom) else alias.name
            for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))
            for alias in node.names if (node.module if isinstance(node, ast.ImportFrom) else alias.name) or ""}
    wrong = sorted(m for m in used if m and m.split(".")[0] == "clusterkit" and m != "clusterkit.rank")
    assert not wrong, f"{script.name} imports {wrong}: per-rank scripts import only from clusterkit.rank"


def test_every_short_hand_name_of_the_notebooks_resolves():
    import clusterkit as ck

    missing = [name for name in ck.__all__ if getattr(ck, name, None) is None]
    assert not missing and len(ck.__all__) > 20, missing
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        ck.no_such_name  # noqa: B018
