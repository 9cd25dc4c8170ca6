"""Batch ZIP input: bounded, no paths outside the archive, folders and hidden files skipped."""

from __future__ import annotations

import io
import stat
import zipfile
from typing import Any

import pytest

from cutout.jobs.intake import ByteBudget, JobInputError, entry_spool, max_total_bytes, zip_open


def zip_read(archive: bytes) -> list[tuple[str, bytes | None]]:
    """Every entry's name and bytes (None: too large), the way a batch is stored."""
    with zip_open(archive) as batch:
        budget = ByteBudget(max_total_bytes())
        out: list[tuple[str, bytes | None]] = []
        for entry in batch.entries:
            copy = None if entry.too_large else entry_spool(entry, budget)
            out.append((entry.name, None if copy is None else copy.read()))
        return out


def _zip(entries: dict[str, bytes], **kwargs: Any) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, **kwargs) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def test_reads_files_and_keeps_their_folders() -> None:
    files = zip_read(_zip({"a.png": b"A", "shoes/red/b.jpg": b"BB", "dir/": b""}))
    assert files == [("a.png", b"A"), ("shoes/red/b.jpg", b"BB")]


def test_skips_hidden_files_mac_junk_and_symlinks() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("keep.png", b"K")
        zf.writestr(".hidden.png", b"H")
        zf.writestr("folder/.DS_Store", b"D")
        zf.writestr("__MACOSX/._keep.png", b"M")
        zf.writestr(".git/config", b"G")
        zf.writestr("Thumbs.db", b"T")
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    assert [name for name, _ in zip_read(buffer.getvalue())] == ["keep.png"]


@pytest.mark.parametrize(
    "name", ["../escape.png", "a/../../escape.png", "/etc/passwd", "C:/Windows/x.png", "..\\x.png"]
)
def test_refuses_paths_outside_the_archive(name: str) -> None:
    with pytest.raises(JobInputError) as caught:
        zip_read(_zip({"ok.png": b"1", name: b"2"}))
    assert caught.value.code == "unsafe_path"


def test_refuses_too_many_files(settings: Any) -> None:
    settings.CUTOUT_BATCH_MAX_ITEMS = 3
    with pytest.raises(JobInputError) as caught:
        zip_read(_zip({f"{i}.png": b"x" for i in range(4)}))
    assert caught.value.code == "too_many_files"
    assert len(zip_read(_zip({f"{i}.png": b"x" for i in range(3)}))) == 3


def test_refuses_too_many_entries_even_when_skipped(settings: Any) -> None:
    settings.CUTOUT_BATCH_MAX_ZIP_ENTRIES = 10
    with pytest.raises(JobInputError) as caught:
        zip_read(_zip({f".junk{i}": b"" for i in range(11)}))
    assert caught.value.code == "too_many_files"


def test_refuses_a_zip_bomb_by_its_declared_size(settings: Any) -> None:
    settings.CUTOUT_BATCH_MAX_BYTES = 5 * 1024 * 1024
    bomb = _zip({f"{i}.png": b"\0" * (2 * 1024 * 1024) for i in range(3)})
    assert len(bomb) < 50_000  # tiny archive, 6 MB unpacked
    with pytest.raises(JobInputError) as caught:
        zip_read(bomb)
    assert caught.value.code == "batch_too_large"


def test_refuses_a_zip_whose_headers_understate_the_size(settings: Any) -> None:
    """Declared sizes are not trusted: reading stops at the limit, whatever the header says."""
    settings.CUTOUT_BATCH_MAX_BYTES = 1024 * 1024
    settings.CUTOUT_MAX_UPLOAD_BYTES = 512 * 1024
    archive = bytearray(_zip({"big.png": b"\0" * (3 * 1024 * 1024)}))
    # Rewrite the uncompressed size in the local header and the central directory to 100 bytes.
    local = archive.find(b"PK\x03\x04")
    archive[local + 22 : local + 26] = (100).to_bytes(4, "little")
    central = archive.find(b"PK\x01\x02")
    archive[central + 24 : central + 28] = (100).to_bytes(4, "little")
    with pytest.raises(JobInputError) as caught:
        zip_read(bytes(archive))
    # zipfile reads no more than the header claims, then the CRC of that prefix does not match.
    assert caught.value.code == "invalid_zip"
    assert "big.png" in caught.value.message


def test_an_oversized_entry_is_never_inflated(settings: Any) -> None:
    settings.CUTOUT_MAX_UPLOAD_BYTES = 1000
    files = zip_read(_zip({"big.png": b"x" * 5000, "small.png": b"y" * 10}))
    assert files == [("big.png", None), ("small.png", b"y" * 10)]


def test_refuses_encrypted_and_non_zip_input() -> None:
    archive = bytearray(_zip({"a.png": b"data"}))
    for signature in (b"PK\x03\x04", b"PK\x01\x02"):
        at = archive.find(signature)
        flag_at = at + (6 if signature == b"PK\x03\x04" else 8)
        archive[flag_at] |= 0x1
    with pytest.raises(JobInputError) as caught:
        zip_read(bytes(archive))
    assert caught.value.code == "encrypted_zip"
    with pytest.raises(JobInputError) as caught:
        zip_read(b"this is not a zip")
    assert caught.value.code == "invalid_zip"


def test_refuses_an_empty_archive() -> None:
    with pytest.raises(JobInputError) as caught:
        zip_read(_zip({"folder/": b"", ".hidden": b"x"}))
    assert caught.value.code == "empty_batch"
