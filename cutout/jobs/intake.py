"""What a batch is made of: image files, or one ZIP, checked against the batch bounds.

Nothing here stores or charges anything: a batch refused here (:class:`JobInputError`) costs
nothing. One file too large on its own does not sink the batch; it becomes an item that fails.

No batch is ever held in memory. :func:`batch_open` reads only what describes the batch (a ZIP's
central directory, the uploads' sizes), so counts, declared sizes and the credits needed are
checked before a single entry is inflated. Then :func:`entry_spool` copies one entry at a time
into a small spooled temporary file (memory up to :data:`SPOOL_IN_MEMORY`, disk beyond), stopping
at the per-file limit and charging every byte it inflates to the batch's :class:`ByteBudget`, so a
ZIP bomb stops at a bound whatever its headers claim. Memory per batch being stored is a few
megabytes, however large the archive unpacks.
"""

from __future__ import annotations

import contextlib
import functools
import io
import posixpath
import stat
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from django.conf import settings

from cutout.errors import CutoutError

# Bounds on a batch. Settings may override each (``CUTOUT_BATCH_MAX_ITEMS`` and so on).
DEFAULT_MAX_ITEMS = 500
DEFAULT_MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # uncompressed, whole batch
DEFAULT_MAX_ZIP_ENTRIES = 2000  # entries of any kind (folders and skipped files count too)
SKIPPED_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}
READ_CHUNK = 1024 * 1024
SPOOL_IN_MEMORY = 1024 * 1024  # an entry's copy stays in memory up to this, then goes to disk
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError)


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def max_items() -> int:
    return _setting("CUTOUT_BATCH_MAX_ITEMS", DEFAULT_MAX_ITEMS)


def max_total_bytes() -> int:
    return _setting("CUTOUT_BATCH_MAX_BYTES", DEFAULT_MAX_TOTAL_BYTES)


def max_zip_entries() -> int:
    return _setting("CUTOUT_BATCH_MAX_ZIP_ENTRIES", DEFAULT_MAX_ZIP_ENTRIES)


class JobInputError(CutoutError):
    """The batch as sent cannot be accepted. Nothing was stored and nothing was charged.

    ``code`` says why (``invalid_zip``, ``too_many_files``...); the family is ``batch_refused``.
    """

    code = "batch_refused"
    field = "image"

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code)


@dataclass(frozen=True)
class BatchEntry:
    """One file of a batch, not read yet: its name, its declared size and how to open it."""

    name: str
    declared: int  # bytes, as the ZIP header or the upload says (not trusted: reading is capped)
    opener: Callable[[], contextlib.AbstractContextManager[IO[bytes]]] = field(repr=False)
    too_large: bool = False  # declared over the upload limit: its item fails, it is never read


@dataclass
class Batch:
    """The entries of one batch; :meth:`close` (or ``with``) lets go of the archive."""

    entries: list[BatchEntry]
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    @property
    def payable(self) -> int:
        """How many entries may cost a credit (those not already too large)."""
        return sum(1 for entry in self.entries if not entry.too_large)

    def close(self) -> None:
        for close in self._closers:
            close()
        self._closers.clear()

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ByteBudget:
    """The bytes a batch may still unpack; :meth:`take` refuses the batch past the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, size: int) -> None:
        self.used += size
        if self.used > self.limit:
            raise JobInputError(
                "batch_too_large", f"The batch unpacks to more than {self.limit} bytes."
            )


def _is_hidden(parts: Sequence[str]) -> bool:
    return any(part.startswith(".") or part.lower() in SKIPPED_NAMES for part in parts)


def _safe_parts(name: str) -> list[str]:
    """The path's components, or :class:`JobInputError` when it could point outside the archive."""
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise JobInputError("unsafe_path", f"The ZIP entry {name!r} has an absolute path.")
    parts = [part for part in normalised.split("/") if part not in ("", ".")]
    if any(part == ".." for part in parts):
        raise JobInputError("unsafe_path", f"The ZIP entry {name!r} points outside the archive.")
    if any("\x00" in part for part in parts):
        raise JobInputError("unsafe_path", f"The ZIP entry {name!r} has a NUL in its name.")
    return parts


def zip_open(archive: bytes | IO[bytes]) -> Batch:
    """The images inside a ZIP, from its central directory alone (nothing is inflated).

    Folders, hidden files (``.name``, ``__MACOSX/``) and symbolic links are skipped. The archive is
    refused as a whole (:class:`JobInputError`) when it is not a ZIP, is encrypted, names a path
    outside itself (absolute or ``..``), has more entries than allowed, or declares more bytes
    than a batch may hold. What it really unpacks to is bounded while it is read
    (:func:`entry_spool`).
    """
    handle: IO[bytes] = io.BytesIO(archive) if isinstance(archive, bytes) else archive
    with contextlib.suppress(AttributeError, OSError):
        handle.seek(0)
    try:
        zf = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise JobInputError("invalid_zip", "The file is not a readable ZIP archive.") from None
    try:
        entries = _zip_entries(zf)
    except BaseException:
        zf.close()
        raise
    return Batch(entries, [zf.close])


def _zip_entries(zf: zipfile.ZipFile) -> list[BatchEntry]:
    infos = zf.infolist()
    if len(infos) > max_zip_entries():
        raise JobInputError(
            "too_many_files",
            f"The ZIP has {len(infos)} entries; at most {max_zip_entries()} are accepted.",
        )
    per_file = int(settings.CUTOUT_MAX_UPLOAD_BYTES)
    entries: list[BatchEntry] = []
    for info in infos:
        parts = _safe_parts(info.filename)
        if info.is_dir() or not parts or _is_hidden(parts):
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            continue
        if info.flag_bits & 0x1:
            raise JobInputError("encrypted_zip", "Encrypted ZIP archives are not supported.")
        entries.append(
            BatchEntry(
                name="/".join(parts),
                declared=info.file_size,
                opener=functools.partial(zf.open, info),
                too_large=info.file_size > per_file,
            )
        )
    if not entries:
        raise JobInputError("empty_batch", "The ZIP holds no files to process.")
    _check_bounds(entries, what="The ZIP")
    return entries


def _check_bounds(entries: Sequence[BatchEntry], *, what: str) -> None:
    if len(entries) > max_items():
        raise JobInputError(
            "too_many_files",
            f"{what} holds {len(entries)} files; a batch takes at most {max_items()}.",
        )
    limit = max_total_bytes()
    declared = sum(entry.declared for entry in entries if not entry.too_large)
    if declared > limit:
        raise JobInputError(
            "batch_too_large",
            f"{what} would unpack to {declared} bytes; a batch takes at most {limit}.",
        )


@contextlib.contextmanager
def _rewound(handle: Any) -> Iterator[IO[bytes]]:
    """An uploaded file from its start; it stays open (its owner closes it)."""
    if hasattr(handle, "seek"):
        handle.seek(0)
    yield handle


def uploads_open(files: Iterable[Any]) -> Batch:
    """Uploaded files (or ``(name, bytes)`` pairs) as a batch, within its bounds, unread."""
    per_file = int(settings.CUTOUT_MAX_UPLOAD_BYTES)
    entries: list[BatchEntry] = []
    for item in files:
        if isinstance(item, tuple):
            name, data = str(item[0]), bytes(item[1])
            size = len(data)
            opener: Callable[[], Any] = functools.partial(io.BytesIO, data)
        else:  # an UploadedFile or any file object with a name
            name = str(getattr(item, "name", "") or "image")
            size = int(getattr(item, "size", None) or 0)
            opener = functools.partial(_rewound, item)
        name = posixpath.basename(name.replace("\\", "/")) or "image"
        entries.append(
            BatchEntry(name=name[:200], declared=size, opener=opener, too_large=size > per_file)
        )
    if not entries:
        raise JobInputError("empty_batch", "The batch has no files.")
    _check_bounds(entries, what="The batch")
    return Batch(entries)


def batch_open(
    *, files: Iterable[Any] | None = None, zip_file: bytes | IO[bytes] | None = None
) -> Batch:
    """The batch from either ``files`` or one ``zip_file``, checked against the bounds, unread."""
    if (files is None) == (zip_file is None):
        raise JobInputError("missing_files", "Send either image files or one ZIP archive.")
    return zip_open(zip_file) if zip_file is not None else uploads_open(files or ())


def entry_spool(entry: BatchEntry, budget: ByteBudget) -> IO[bytes] | None:
    """A copy of ``entry``'s bytes, rewound (memory up to :data:`SPOOL_IN_MEMORY`, then disk);
    None when it is larger than the upload limit (its item then fails on its own).

    Every byte read counts against ``budget`` (:class:`JobInputError` past it); nothing declared
    is trusted. The caller closes the copy.
    """
    per_file = int(settings.CUTOUT_MAX_UPLOAD_BYTES)
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 (returned)
    size = 0
    try:
        with entry.opener() as stream:
            while chunk := stream.read(min(READ_CHUNK, per_file + 1 - size)):
                size += len(chunk)
                budget.take(len(chunk))
                if size > per_file:
                    spool.close()
                    return None
                spool.write(chunk)
    except JobInputError:
        spool.close()
        raise
    except ZIP_ERRORS as exc:
        spool.close()
        raise JobInputError(
            "invalid_zip", f"The entry {entry.name!r} could not be read ({exc})."
        ) from None
    spool.seek(0)
    return spool
