"""The package's layout, held to its picture in docs/design/index.md: sub-packages along the data flow, each
importing only from earlier stages; no import circle; no private name used across modules; modules on a few
screens; imports at the top of a module except in the command modules (whose start-up cost is measured)."""
import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "speechvae"
# stage of each top-level part of the package: a module may import from its own stage or an earlier one
STAGE = {"version": 0, "config_checks": 0, "config": 1, "console": 1, "store": 1, "parallel": 2, "plots": 2,
         "device": 1, "expdir": 1, "analysis": 3, "models": 4, "training": 5, "inference": 6, "codec": 7,
         "evaluation": 8, "vc": 9, "report": 10, "experiments": 11, "cli": 12, "__main__": 13, "": 13}
MAX_LINES = 400


def modules() -> dict[str, ast.Module]:
    out = {}
    for p in sorted(PKG.rglob("*.py")):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = ast.parse(p.read_text(), str(p))
    return out


def stage(module: str) -> int:
    parts = module.split(".")
    return STAGE[parts[1] if len(parts) > 1 else ""]


def imports(tree: ast.Module, known: set[str]):
    """(line, imported module, names, at top level) of every import of a speechvae module in ``tree``; a name that
    is itself a module (``from speechvae.cli import analysis``) counts as an import of that module."""
    top = {id(n) for n in tree.body}
    guarded = {id(x) for n in tree.body if isinstance(n, ast.If) for x in ast.walk(n)}  # if TYPE_CHECKING:
    for n in ast.walk(tree):
        if (
            isinstance(n, ast.ImportFrom)
            and n.module
            and n.module.split(".")[0] == "speechvae"
            and id(n) not in guarded
        ):
            names = [a.name for a in n.names]
            for name in names:
                target = f"{n.module}.{name}"
                yield n.lineno, target if target in known else n.module, name, id(n) in top
        elif isinstance(n, ast.Import) and id(n) not in guarded:
            for a in n.names:
                if a.name.split(".")[0] == "speechvae":
                    yield n.lineno, a.name, None, id(n) in top


def test_stages_cover_every_module():
    for m in modules():
        stage(m)  # a KeyError names a top-level part the picture does not place


def test_no_import_runs_up_the_data_flow():
    mods = modules()
    up = [
        f"{m}:{line} imports {t} (stage {stage(t)} > {stage(m)})"
        for m, tree in mods.items()
        for line, t, _, _ in imports(tree, set(mods))
        if stage(t) > stage(m)
    ]
    assert not up, "\n".join(up)


def test_no_import_circle():
    mods = modules()
    graph = {m: {t for _, t, _, _ in imports(tree, set(mods)) if t != m} for m, tree in mods.items()}
    # a package's __init__ runs when any of its modules is imported: an edge to a submodule reaches its parents too
    for m in mods:
        for t in list(graph[m]):
            parent = t.rsplit(".", 1)[0]
            while parent != "speechvae" and parent in mods and not m.startswith(parent):
                graph[m].add(parent)
                parent = parent.rsplit(".", 1)[0]
    state, cycle = {}, []

    def visit(m, path):
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                cycle.append(" -> ".join(path[path.index(t) :] + [t]) if t in path else f"{m} -> {t}")
            elif t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(mods):
        if m not in state:
            visit(m, [m])
    assert not cycle, "\n".join(cycle)


def test_no_private_name_is_used_across_modules():
    mods = modules()
    private = [
        f"{m}:{line} imports {t}.{name}"
        for m, tree in mods.items()
        for line, t, name, _ in imports(tree, set(mods))
        if name and name.startswith("_") and not name.endswith("__")
    ]
    assert not private, "\n".join(private)


@pytest.mark.parametrize("path", sorted(PKG.rglob("*.py")), ids=lambda p: str(p.relative_to(PKG)))
def test_modules_are_a_few_screens(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


def test_imports_are_at_the_top_outside_the_command_modules():
    mods = modules()
    inner = [
        f"{m}:{line} imports {t} inside a function"
        for m, tree in mods.items()
        if not m.startswith("speechvae.cli")
        for line, t, _, top in imports(tree, set(mods))
        if not top
    ]
    assert not inner, "\n".join(inner)


def test_the_checks_catch_what_they_are_for(tmp_path, monkeypatch):
    """Each check fails on a planted fault: an import up the flow, a circle, a private import, a lazy import."""
    planted = {
        "analysis/up.py": "from speechvae.vc.convert import convert_folder\n",
        "models/ring_a.py": "from speechvae.models.ring_b import B\nA = 1\n",
        "models/ring_b.py": "from speechvae.models.ring_a import A\nB = 1\n",
        "evaluation/private.py": "from speechvae.evaluation.metrics import _K\n",
        "inference/lazy.py": "def f():\n    from speechvae.analysis.features import Features\n    return Features\n",
    }
    fake = tmp_path / "speechvae"
    for p in PKG.rglob("*.py"):
        dest = fake / p.relative_to(PKG)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(p.read_text())
    for rel, text in planted.items():
        (fake / rel).write_text(text)
    monkeypatch.setattr(__import__(__name__), "PKG", fake)
    for check, needle in (
        (test_no_import_runs_up_the_data_flow, "speechvae.analysis.up:1 imports speechvae.vc"),
        (test_no_import_circle, "ring_a"),
        (test_no_private_name_is_used_across_modules, "metrics._K"),
        (test_imports_are_at_the_top_outside_the_command_modules, "speechvae.inference.lazy:2"),
    ):
        with pytest.raises(AssertionError, match=needle):
            check()
