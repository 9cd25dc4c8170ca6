"""What a batch is made of: image files, or one ZIP, read and checked against the batch bounds.

Nothing here stores or charges anything: a batch refused here (:class:`JobInputError`) costs
nothing. One file too large on its own does not sink the batch; it becomes an item that fails.
"""

from __future__ import annotations

import io
import posixpath
import stat
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings

from cutout.errors import CutoutError

# Bounds on a batch. Settings may override each (``CUTOUT_BATCH_MAX_ITEMS`` and so on).
DEFAULT_MAX_ITEMS = 500
DEFAULT_MAX_TOTAL_BYTES = 1024 * 1024 * 1024  # uncompressed, whole batch
DEFAULT_MAX_ZIP_ENTRIES = 2000  # entries of any kind (folders and skipped files count too)
SKIPPED_NAMES = {"thumbs.db", "desktop.ini", "__macosx"}
READ_CHUNK = 1024 * 1024


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
class BatchFile:
    name: str
    data: bytes
    too_large: bool = False  # over the upload limit: its item fails at once, data not kept


def read_capped(handle: IO[bytes], limit: int) -> bytes | None:
    """Up to ``limit`` bytes; None when there are more (the caller refuses the file)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = handle.read(READ_CHUNK)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


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


def zip_read(archive: bytes | IO[bytes]) -> list[BatchFile]:
    """The images inside a ZIP, checked against the batch bounds.

    Folders, hidden files (``.name``, ``__MACOSX/``) and symbolic links are skipped. The archive is
    refused as a whole (:class:`JobInputError`) when it is not a ZIP, is encrypted, names a path
    outside itself (absolute or ``..``), has more entries than allowed, or would unpack to more
    bytes than allowed, declared or actual (a ZIP bomb stops at the limit).
    """
    handle: IO[bytes] = io.BytesIO(archive) if isinstance(archive, bytes) else archive
    try:
        zf = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError, ValueError):
        raise JobInputError("invalid_zip", "The file is not a readable ZIP archive.") from None
    with zf:
        return _unpack(zf, _wanted_entries(zf))


def _wanted_entries(zf: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, str]]:
    """The entries to process, with their safe names; refuses the archive as a whole if need be."""
    infos = zf.infolist()
    if len(infos) > max_zip_entries():
        raise JobInputError(
            "too_many_files",
            f"The ZIP has {len(infos)} entries; at most {max_zip_entries()} are accepted.",
        )
    wanted: list[tuple[zipfile.ZipInfo, str]] = []
    for info in infos:
        parts = _safe_parts(info.filename)
        if info.is_dir() or not parts or _is_hidden(parts):
            continue
        if stat.S_ISLNK(info.external_attr >> 16):
            continue
        if info.flag_bits & 0x1:
            raise JobInputError("encrypted_zip", "Encrypted ZIP archives are not supported.")
        wanted.append((info, "/".join(parts)))
    if not wanted:
        raise JobInputError("empty_batch", "The ZIP holds no files to process.")
    if len(wanted) > max_items():
        raise JobInputError(
            "too_many_files",
            f"The ZIP holds {len(wanted)} files; a batch takes at most {max_items()}.",
        )
    limit = max_total_bytes()
    declared = sum(info.file_size for info, _ in wanted)
    if declared > limit:
        raise JobInputError(
            "batch_too_large",
            f"The ZIP would unpack to {declared} bytes; a batch takes at most {limit}.",
        )
    return wanted


def _unpack(zf: zipfile.ZipFile, wanted: list[tuple[zipfile.ZipInfo, str]]) -> list[BatchFile]:
    """Read the entries, trusting no header: reading stops at each limit."""
    limit = max_total_bytes()
    files: list[BatchFile] = []
    total = 0
    per_file = settings.CUTOUT_MAX_UPLOAD_BYTES
    for info, name in wanted:
        try:
            with zf.open(info) as entry:
                # Read one byte past what the entry may hold, so a lying header is caught.
                data = read_capped(entry, min(per_file, limit - total) + 1)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
            raise JobInputError(
                "invalid_zip", f"The ZIP entry {name!r} could not be read ({exc})."
            ) from None
        if data is None or len(data) > min(per_file, limit - total):
            if total + per_file >= limit:
                raise JobInputError(
                    "batch_too_large", f"The ZIP unpacks to more than {limit} bytes."
                )
            # One oversized file does not sink the batch: its item fails on its own.
            files.append(BatchFile(name=name, data=b"", too_large=True))
            total += per_file
            continue
        total += len(data)
        files.append(BatchFile(name=name, data=data))
    return files


def uploads_read(files: Iterable[Any]) -> list[BatchFile]:
    """Uploaded files (or ``(name, bytes)`` pairs) as batch files, within the batch's bytes."""
    out: list[BatchFile] = []
    per_file = settings.CUTOUT_MAX_UPLOAD_BYTES
    total = 0
    for item in files:
        data: bytes | None
        if isinstance(item, BatchFile):
            name, data = item.name, item.data
        elif isinstance(item, tuple):
            name, data = str(item[0]), bytes(item[1])
        else:  # an UploadedFile or any file object with a name
            name = str(getattr(item, "name", "") or "image")
            if hasattr(item, "seek"):
                item.seek(0)
            data = read_capped(item, per_file)  # None: more than the limit
        too_large = data is None or len(data) > per_file
        data = b"" if data is None or too_large else data
        total += len(data)
        if total > max_total_bytes():
            raise JobInputError(
                "batch_too_large", f"The files add up to more than {max_total_bytes()} bytes."
            )
        name = posixpath.basename(name.replace("\\", "/")) or "image"
        out.append(BatchFile(name=name[:200], data=data, too_large=too_large))
    return out


def batch_read(
    *, files: Iterable[Any] | None = None, zip_file: bytes | IO[bytes] | None = None
) -> list[BatchFile]:
    """The batch's files from either ``files`` or one ``zip_file``, within the bounds."""
    if (files is None) == (zip_file is None):
        raise JobInputError("missing_files", "Send either image files or one ZIP archive.")
    batch = zip_read(zip_file) if zip_file is not None else uploads_read(files or ())
    if not batch:
        raise JobInputError("empty_batch", "The batch has no files.")
    if len(batch) > max_items():
        raise JobInputError(
            "too_many_files", f"A batch takes at most {max_items()} files; {len(batch)} were sent."
        )
    return batch
