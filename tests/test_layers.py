"""The layers show the flow: nothing in liberica imports a module of a layer above its own.

Bottom to top: core -> processors, models, fits, samples -> analyses -> orchestration
-> api -> cli. Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import liberica

PACKAGE = pathlib.Path(liberica.__file__).parent

#: (layer, module prefixes), bottom first; a module belongs to its longest matching prefix
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("liberica.core", "liberica._version")),
    ("building blocks", ("liberica.processors", "liberica.models", "liberica.fits", "liberica.samples")),
    ("analyses", ("liberica.analysis",)),
    ("orchestration", ("liberica.orchestration",)),
    ("api", ("liberica.api",)),
    ("cli", ("liberica.cli",)),
]  # fmt: skip


def layer_of(module: str) -> int | None:
    """The index of a module's layer, or None for the package itself (``liberica``)."""
    best: tuple[int, int] | None = None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (index, len(prefix))
    return None if best is None else best[0]


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: pathlib.Path, module: str) -> set[str]:
    """Every liberica module a file imports, at any depth of its code."""
    names = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from liberica.x import y` may import the module liberica.x.y
            names |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {n for n in names if n == "liberica" or n.startswith("liberica.")}


def upward_imports() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = module_name(path)
        own = layer_of(module)
        if own is None:  # liberica/__init__.py: its lazy attributes reach the API on use
            continue
        for name in sorted(imported(path, module)):
            target = layer_of(name)
            if target is not None and target > own:
                found.append(f"{module} ({LAYERS[own][0]}) imports {name} ({LAYERS[target][0]})")
    return found


def test_every_module_has_a_layer():
    unplaced = [
        module_name(p)
        for p in PACKAGE.rglob("*.py")
        if layer_of(module_name(p)) is None and module_name(p) != "liberica"
    ]
    assert unplaced == []


def test_nothing_imports_upward():
    assert upward_imports() == []


def test_core_imports_nothing_else_of_liberica():
    for path in (PACKAGE / "core").rglob("*.py"):
        others = {n for n in imported(path, module_name(path)) if layer_of(n) not in (0, None)}
        assert others == set(), path


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("liberica.core.definition", "core"),
        ("liberica.fits.run", "building blocks"),
        ("liberica.analysis.hzz4l.processor", "analyses"),
        ("liberica.orchestration.pipeline", "orchestration"),
        ("liberica.api.fitting", "api"),
        ("liberica.cli", "cli"),
    ],
)
def test_modules_sit_in_their_layers(module, layer):
    """The walk above would pass vacuously if the prefixes placed nothing."""
    assert LAYERS[layer_of(module)][0] == layer
