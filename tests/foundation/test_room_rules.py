"""Rules of the rooms, read from the source with ast (nothing is imported): only :mod:`cutout.queue`
puts work on Celery (services call it, so the task module may import every service without an
import circle), and the cutout rooms ask billing rather than read its tables."""

from __future__ import annotations

import ast

from tests.foundation.import_graph import import_graph, module_files

SENDS = {"delay", "apply_async", "send_task"}


def _sends(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in SENDS
    ]


def test_the_check_sees_a_send() -> None:
    tree = ast.parse("from cutout import tasks\ntasks.finish_job.delay('1')\n")
    assert _sends(tree) == [2]


def test_only_the_queue_module_sends_tasks() -> None:
    found = {
        module: lines
        for module, path in module_files().items()
        if module != "cutout.queue"
        for lines in [_sends(ast.parse(path.read_text(), str(path)))]
        if lines
    }
    assert not found, f"tasks sent outside cutout.queue: {found}"


def test_the_cutout_rooms_ask_billing_rather_than_read_its_tables() -> None:
    """``cutout`` calls billing's services and selectors; only billing reads its own models
    (type hints under ``TYPE_CHECKING`` aside). Migrations name billing's tables, as they must."""
    graph = import_graph()
    readers = {
        module: sorted(t for t in targets if t == "billing.models")
        for module, targets in graph.items()
        if module.startswith("cutout.") and ".migrations." not in module
    }
    assert not {m: t for m, t in readers.items() if t}
