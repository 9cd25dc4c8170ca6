"""No import circles, and the engine's layers pointing one way (read from the source with ast).

What counts as an import is in :mod:`tests.foundation.import_graph`: module-level and
function-level imports alike, only ``if TYPE_CHECKING:`` blocks left out.
"""

from __future__ import annotations

import pytest

from tests.foundation.import_graph import (
    cycles,
    describe,
    import_graph,
    module_files,
    top_level_imports,
)

ENGINE = "cutout.engine"

# The engine's layers, bottom first. A module may import modules of its own layer or below, never
# above; a new engine module must be placed here. cutout/engine/README.md shows the same map.
ENGINE_LAYERS: list[tuple[str, ...]] = [
    ("errors", "timing", "limits"),
    ("names", "values"),
    ("options", "optionspec"),
    (
        "decode",
        "encode",
        "foreground",
        "refine",
        "hints",
        "graphcut",
        "backdrop",
        "layout",
        "watermark",
    ),
    ("registry",),
    ("derived", "runtime"),
    ("sessions",),
    ("inference",),
    ("fusion",),
    ("pipelines",),
    ("matte",),
    ("prior",),
    ("render", "stored", "process"),
    ("guided",),
    ("edit",),
    ("",),  # the package itself (its public names)
    ("setup", "setup.fetch", "setup.graph", "setup.calibration", "setup.int8"),
]
LAYER = {
    f"{ENGINE}.{name}" if name else ENGINE: level
    for level, names in enumerate(ENGINE_LAYERS)
    for name in names
}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_the_checker_sees_function_level_imports_and_skips_type_checking(tmp_path):
    from tests.foundation.import_graph import imports_of

    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "if TYPE_CHECKING:\n    from pkg import hinted\n"
        "def f():\n    from pkg.deep import name\n    import pkg.other\n"
    )
    modules = {"pkg", "pkg.m", "pkg.sibling", "pkg.hinted", "pkg.deep", "pkg.other"}
    assert imports_of("pkg.m", source, modules) == {"pkg.sibling", "pkg.deep", "pkg.other"}


def test_engine_has_no_import_circle(graph):
    found = [c for c in cycles(graph) if any(m.startswith(ENGINE) for m in c)]
    assert not found, "import circles in the engine:\n" + describe(graph, found)


def test_engine_imports_nothing_of_the_project_and_no_django_or_celery(graph):
    outside = {
        module: sorted(t for t in targets if not t.startswith(ENGINE))
        for module, targets in graph.items()
        if module.startswith(ENGINE)
    }
    assert not {m: t for m, t in outside.items() if t}, "the engine imports the project"
    files = module_files(["cutout/engine"])
    assert len(files) >= 20
    for path in files.values():
        assert not top_level_imports(path) & {"django", "celery", "accounts", "billing"}, path


def test_engine_layers_point_one_way(graph):
    engine = sorted(m for m in graph if m.startswith(ENGINE))
    unplaced = [m for m in engine if m not in LAYER]
    assert not unplaced, f"place these in ENGINE_LAYERS: {unplaced}"
    upward = [
        f"{module} (layer {LAYER[module]}) imports {target} (layer {LAYER[target]})"
        for module in engine
        for target in sorted(graph[module])
        if LAYER[target] > LAYER[module]
    ]
    assert not upward, "imports against the engine's direction:\n" + "\n".join(upward)


def test_run_time_engine_never_imports_the_setup_package(graph):
    setup = f"{ENGINE}.setup"
    offenders = {
        module: sorted(t for t in targets if t.startswith(setup))
        for module, targets in graph.items()
        if module.startswith(ENGINE) and not module.startswith(setup)
    }
    assert not {m: t for m, t in offenders.items() if t}


def test_project_has_no_import_circle(graph):
    found = cycles(graph)
    assert not found, "import circles:\n" + describe(graph, found)
