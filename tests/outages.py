"""Outages of the database and of storage, simulated for tests (the real code paths answer)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from django.core.files.storage import FileSystemStorage
from django.db import OperationalError
from django.db.backends.utils import CursorWrapper

# What the test's own transaction needs to go on working while "the database is down".
_TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@contextlib.contextmanager
def database_down(monkeypatch: Any) -> Iterator[None]:
    """Every query fails as it does when PostgreSQL is stopped (``OperationalError``)."""

    def refuse(self: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
        if str(sql).lstrip().upper().startswith(_TRANSACTION_CONTROL):
            return real_execute(self, sql, *args, **kwargs)
        raise OperationalError(
            'connection to server at "127.0.0.1", port 5432 failed: Connection refused'
        )

    real_execute = CursorWrapper.execute
    with monkeypatch.context() as patch:
        patch.setattr(CursorWrapper, "execute", refuse)
        patch.setattr(CursorWrapper, "executemany", refuse)
        yield


@contextlib.contextmanager
def storage_unwritable(monkeypatch: Any) -> Iterator[None]:
    """Every write to the media store fails as on a read-only or foreign-owned folder."""

    def refuse(self: Any, name: str, content: Any) -> str:
        raise PermissionError(13, "Permission denied", name)

    with monkeypatch.context() as patch:
        patch.setattr(FileSystemStorage, "_save", refuse)
        yield
