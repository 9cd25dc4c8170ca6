"""Only :mod:`cutout.queue` puts work on Celery: services call it, so the task module may import
every service without an import circle (read from the source with ast; nothing is imported)."""

from __future__ import annotations

import ast

from tests.foundation.import_graph import module_files

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
