"""The package's floors (issue 23): every import, at module level or inside a function, runs to the
module's own layer or a lower one, and no modules import each other in a circle. The layer table is
defined here, once; CONTRIBUTING ("Layers") shows the same order, and a test below holds them equal.
The old ``direct2v.shapes`` package (a deprecated shim) stands outside the layers: nothing imports it."""
import ast
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "direct2v"

LAYERS = [  # lowest first: a module may import from its own layer or lower ones
    ("foundation", ("runtime", "training", "video", "settings")),
    ("world", ("world",)),
    ("attention", ("attention", "noise")),
    ("pipeline", ("pipeline", "viz")),
    ("directors and metrics", ("director", "metrics")),
    ("miniature, motion, evaluation", ("miniature", "motion", "evaluate")),
    ("command", ("cli", "__main__")),
]
OUTSIDE = ("shapes",)
"""Deprecated shim packages: outside the layers, imported by nothing in the package."""


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path) -> dict[str, dict[str, int]]:
    """``{module: {imported module of the package: line}}`` of every ``.py`` under ``root`` (a package folder),
    from every import statement anywhere in the module (functions included). ``from X import name``
    counts as an import of ``X.name`` when that is a module, else of ``X``."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = graph.setdefault(name, {})
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[:len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets = [f"{source}.{a.name}" if f"{source}.{a.name}" in files else source for a in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] == root.name and target != name:
                    edges.setdefault(target, node.lineno)
    return graph


def circles(graph: dict[str, dict]) -> list[list[str]]:
    """The import circles of ``graph``: each strongly connected set of two or more modules (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def layer_of(module: str, layers=LAYERS, outside=OUTSIDE):
    """The layer number of a module of the package (the root package: 0), ``None`` outside the layers;
    ``KeyError`` for a module no layer names."""
    parts = module.split(".")
    if len(parts) == 1:
        return 0   # the root package: __version__ and a lazy door (importlib, no import statements)
    if parts[1] in outside:
        return None
    for number, (_, members) in enumerate(layers):
        if parts[1] in members:
            return number
    raise KeyError(f"{module} is in no layer of LAYERS: add it to the table and to CONTRIBUTING")


def upward_imports(graph: dict[str, dict[str, int]], layers=LAYERS, outside=OUTSIDE) -> list[str]:
    """Every import from a lower layer to a higher one, or from a layered module into a shim."""
    bad = []
    for module, edges in sorted(graph.items()):
        low = layer_of(module, layers, outside)
        if low is None:
            continue
        for target, line in sorted(edges.items()):
            high = layer_of(target, layers, outside)
            if high is None or high > low:
                where = "a deprecated shim" if high is None else f"layer {high} ({layers[high][0]})"
                bad.append(f"{module} (layer {low}, {layers[low][0]}) line {line} imports {target}: {where}")
    return bad


def test_no_import_runs_upward():
    assert upward_imports(import_graph(PACKAGE)) == []


def test_no_import_circles():
    assert circles(import_graph(PACKAGE)) == []


def test_every_module_has_a_layer():
    for module in import_graph(PACKAGE):
        layer_of(module)


def test_contributing_shows_the_same_layers():
    text = (ROOT / "CONTRIBUTING.md").read_text()
    rows = re.findall(r"^\| (\d) \| ([^|]+) \| ([^|]+) \|$", text, flags=re.M)
    assert [(int(n), name.strip(), tuple(re.findall(r"`([\w/]+?)/?`", members))) for n, name, members in rows] == \
        [(n, name, members) for n, (name, members) in enumerate(LAYERS)]


# ------------------------------------------------------------------ the checker itself, on planted faults
def _package(tmp_path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


TOY = [("low", ("base",)), ("high", ("top", "sub"))]


def test_checker_finds_an_upward_import_inside_a_function(tmp_path):
    root = _package(tmp_path, {"base.py": "import os\n\n\ndef f():\n    from .top import g\n",
                               "top.py": "from .base import f\n\n\ndef g():\n    pass\n",
                               "sub/__init__.py": "", "sub/leaf.py": "from ..base import f\nfrom pkg import top\n"})
    graph = import_graph(root)
    assert graph["pkg.base"] == {"pkg.top": 5} and graph["pkg.sub.leaf"] == {"pkg.base": 1, "pkg.top": 2}
    assert upward_imports(graph, TOY, ()) == ["pkg.base (layer 0, low) line 5 imports pkg.top: layer 1 (high)"]
    assert circles(graph) == [["pkg.base", "pkg.top"]]


def test_checker_passes_a_clean_graph_and_flags_shims_and_unplaced_modules():
    clean = {"pkg.top": {"pkg.base": 1}, "pkg.sub.leaf": {"pkg.top": 1, "pkg.sub": 1}, "pkg.base": {}}
    assert upward_imports(clean, TOY, ()) == [] and circles(clean) == []
    assert circles({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == [["a", "b", "c"]]
    assert upward_imports({"pkg.top": {"pkg.old": 3}}, TOY, ("old",)) == \
        ["pkg.top (layer 1, high) line 3 imports pkg.old: a deprecated shim"]
    with pytest.raises(KeyError, match="pkg.stray"):
        upward_imports({"pkg.stray": {}}, TOY, ())


# ------------------------------------------------------------------ the old paths, kept one release
def test_old_shapes_paths_warn_and_give_the_new_modules(monkeypatch):
    import direct2v.miniature.model
    from direct2v.world.detect import detect as new_detect
    from direct2v.world.render import render as new_render

    for name in [m for m in sys.modules if m == "direct2v.shapes" or m.startswith("direct2v.shapes.")]:
        monkeypatch.delitem(sys.modules, name)
    with pytest.warns(DeprecationWarning, match="direct2v.world"):
        from direct2v.shapes import detect, render  # the package re-exports the world's names, as before
    assert render is new_render and detect is new_detect
    with pytest.warns(DeprecationWarning, match="use direct2v.miniature.model"):
        from direct2v.shapes.model import WEIGHTS
        import direct2v.shapes.model as old
    assert old is direct2v.miniature.model and WEIGHTS == direct2v.miniature.model.WEIGHTS
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        import direct2v.shapes.model  # noqa: F401 - once imported, no second warning


def test_old_shapes_command_runs_the_new_one_with_a_warning():
    out = subprocess.run([sys.executable, "-m", "direct2v.shapes.quality", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0 and "python -m direct2v.miniature.quality" in out.stdout
    assert "DeprecationWarning: python -m direct2v.shapes.quality is deprecated" in out.stderr


def test_pipeline_settings_names_moved_to_settings_and_warn():
    from direct2v import pipeline, settings

    with pytest.warns(DeprecationWarning, match="use direct2v.settings.SETTINGS_FILE"):
        assert pipeline.SETTINGS_FILE == settings.SETTINGS_FILE == "direct2v.json"
    with pytest.warns(DeprecationWarning, match="warm_start_steps"):
        assert pipeline.warm_start_steps(50) == settings.warm_start_steps(50)
    with pytest.raises(AttributeError, match="no_such_name"):
        pipeline.no_such_name


def test_embedded_model_folder_has_one_owner():
    from direct2v import settings
    from direct2v.miniature import model

    assert settings.MODELS["shapes"] == settings.SHAPES_WEIGHTS == model.WEIGHTS
    assert settings.model_settings("shapes") == settings.model_settings(model.WEIGHTS)
    assert settings.model_settings("shapes")["guidance_scale"] == model.GUIDANCE
