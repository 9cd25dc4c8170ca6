"""Cut out image files and folders from the shell: the one implementation behind
``python manage.py cutout`` (and any other front end, such as a console script).

A front end builds an :class:`argparse.ArgumentParser` (or a sub-command's parser), calls
:func:`add_arguments` on it and passes the parsed namespace to :func:`run` with plain text
streams; :func:`run` returns how many inputs failed (0: everything written) and raises :class:`CliError` for a usage problem
(the management command turns it into Django's ``CommandError``). Django settings must be
configured: the default pipeline and the upload limits are the service's.

Folders are walked recursively for images. Each output keeps its input's path relative to the
folder it was found in, so ``cutout dev/images -o preds --mode mask --format png`` writes
``preds/<stem>.png`` masks at the original size, ready for ``score.py preds``.

- ``--jobs N`` runs N worker processes (default: one per core, never more than there are images),
  each with ``cores // N`` onnxruntime threads: on the 2-core reference machine two one-thread
  workers do 1.13x the images of one two-thread process (docs/performance.md). Each worker loads
  the models once (about 1 GB for ``best``). ``--jobs 1`` works in this process.
- ``--skip-existing`` leaves alone every output that is already there (an interrupted run
  resumes where it stopped).
- One line per failure, a progress bar on a terminal (a line every 10% otherwise), and exit
  status 1 if anything failed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from cutout import engine
from cutout.engine import EngineError, ModelMissing, Options, check_model

IMAGE_SUFFIXES = {
    ".jpg",
    ".jpeg",
    ".jpe",
    ".png",
    ".bmp",
    ".webp",
    ".avif",
    ".gif",
    ".tif",
    ".tiff",
}


class CliError(Exception):
    """A usage problem: the front end prints it and exits with a non-zero status."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line every front end shares."""
    parser.add_argument(
        "inputs", nargs="*", type=Path, metavar="INPUT", help="image files or folders"
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        help="output folder, or file for one input (default: ./cutouts)",
    )
    parser.add_argument("--mode", default="transparent", choices=engine.MODES)
    parser.add_argument("--pipeline", default=None, help=f"one of {', '.join(engine.PIPELINES)}")
    parser.add_argument("--format", default=None, help="png, jpg, webp, avif or zip (default: png)")
    parser.add_argument("--channels", default=None, choices=engine.CHANNELS)
    parser.add_argument(
        "--size", default="full", help="preview, small, medium, large, full or pixels"
    )
    parser.add_argument("--bg-color", default=None, help="e.g. white, #ff0000, rgba(0,0,0,0.5)")
    parser.add_argument("--crop", action="store_true", help="trim to the subject")
    parser.add_argument("--crop-margin", default="0", help="e.g. 10px or 5%% (with --crop)")
    parser.add_argument(
        "-j",
        "--jobs",
        type=int,
        default=0,
        help="worker processes (default 0: one per core, at most one per image)",
    )
    parser.add_argument(
        "--skip-existing", action="store_true", help="leave outputs that already exist alone"
    )
    parser.add_argument(
        "--list-models", action="store_true", help="show the model registry and exit"
    )


@dataclass(frozen=True)
class Task:
    source: Path
    target: Path


def run(args: argparse.Namespace, *, stdout: TextIO, stderr: TextIO) -> int:
    """Do what ``args`` say; the number of inputs that failed (0 when everything was written)."""
    from django.conf import settings

    from cutout.cutouts.engine_settings import engine_limits

    engine.configure(threads=settings.CUTOUT_INTRA_OP_THREADS, model_dir=settings.CUTOUT_MODEL_DIR)
    if args.list_models:
        list_models(stdout)
        return 0
    if not args.inputs:
        raise CliError("give at least one INPUT file or folder (or --list-models)")
    options = engine_options(args)
    found, missing = collect(args.inputs)
    for path in missing:
        stderr.write(f"FAILED {path}: no such file or folder\n")
    if not found:
        raise CliError("no images found")
    out = args.output or Path("cutouts")
    single_file = len(found) == 1 and args.inputs[0].is_file() and out.suffix != ""
    tasks = [
        Task(source, out if single_file else out / relative.with_suffix("." + extension(options)))
        for source, relative in found
    ]
    skipped = [task for task in tasks if args.skip_existing and task.target.exists()]
    todo = [task for task in tasks if task not in skipped]
    check_models(options.pipeline)
    jobs = worker_count(args.jobs, len(todo))
    threads = settings.CUTOUT_INTRA_OP_THREADS or (
        max(1, available_cores() // jobs) if jobs > 1 else 0
    )
    if jobs == 1 and todo:
        engine.preload([options.pipeline])  # workers load their own, in parallel
    start = time.perf_counter()
    progress = Progress(len(todo), stderr)
    failures = len(missing)
    outcomes = (
        _in_pool(todo, options, engine_limits(), jobs, threads)
        if jobs > 1
        else _in_process(todo, options, engine_limits())
    )
    for done, (task, error) in enumerate(outcomes, 1):
        if error is not None:
            failures += 1
            progress.clear()
            stderr.write(f"FAILED {task.source}: {error}\n")
        progress.update(done, task.source.name)
    progress.done()
    elapsed = time.perf_counter() - start
    ok = len(todo) - (failures - len(missing))
    stdout.write(
        f"{ok} of {len(todo)} done in {elapsed:.1f} s ({elapsed / max(1, len(todo)):.2f} s each, "
        f"{jobs} worker{'s' if jobs > 1 else ''}), {len(skipped)} skipped (already there), "
        f"{failures} failed; output in {out}\n"
    )
    return failures


def engine_options(args: argparse.Namespace) -> Options:
    from cutout.cutouts.engine_settings import default_pipeline

    size = args.size
    try:
        return Options(
            mode=args.mode,
            format=args.format or "png",
            channels=args.channels,
            bg_color=args.bg_color,
            size=int(size) if str(size).isdigit() else size,
            crop=args.crop,
            crop_margin=args.crop_margin,
            pipeline=args.pipeline or default_pipeline(),
        )
    except EngineError as exc:
        raise CliError(f"{exc.field or 'option'}: {exc.message}") from None


def check_models(pipeline: str) -> None:
    """Every model ``pipeline`` runs is installed (before any worker starts), else CliError."""
    try:
        for model in engine.PIPELINES[pipeline].models:
            check_model(model, full_hash=False)
    except ModelMissing as exc:
        raise CliError(exc.message) from None


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def worker_count(jobs: int, images: int) -> int:
    """``jobs`` (0: one per core), never more than there are images, at least 1."""
    if jobs < 0:
        raise CliError("--jobs must be 0 (one per core) or more")
    return max(1, min(jobs or available_cores(), images))


def extension(options: Options) -> str:
    return {"jpeg": "jpg"}.get(options.format, options.format)


def collect(inputs: list[Path]) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """(file, output path relative to the output folder) for every image; and inputs not found."""
    found: list[tuple[Path, Path]] = []
    missing: list[Path] = []
    for item in inputs:
        if item.is_dir():
            for path in sorted(item.rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                    found.append((path, path.relative_to(item)))
        elif item.is_file():
            found.append((item, Path(item.name)))
        else:
            missing.append(item)
    return found, missing


def list_models(stdout: TextIO) -> None:
    from cutout.cutouts.engine_settings import default_pipeline

    for spec in engine.MODELS.values():
        try:
            check_model(spec.name, full_hash=False)
            state = "installed"
        except ModelMissing:
            state = "MISSING (python manage.py fetch_models)"
        stdout.write(
            f"{spec.name:8s} {spec.input_size}x{spec.input_size}  {spec.size_bytes / 1e6:6.1f} MB  {state}\n"
            f"         good at: {spec.good_at}\n"
            f"         licence: {spec.licence}\n"
            f"         source:  {spec.source.kind} package {spec.source.package}=={spec.source.version}\n"
            f"         sha256:  {spec.sha256}\n"
        )
    for pipeline in engine.PIPELINES.values():
        default = " (default)" if pipeline.name == default_pipeline() else ""
        stdout.write(f"pipeline {pipeline.name}{default}: {pipeline.description}\n")


# ----------------------------------------------------------------------------------- the work


def cut_one(source: Path, target: Path, options: Options, limits: engine.Limits) -> str | None:
    """Cut out one file and write it; None when done, else the failure as one line of text."""
    try:
        result = engine.process(source.read_bytes(), options, limits=limits)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        partial.write_bytes(result.data)
        # Renamed into place only when complete: --skip-existing never keeps a half-written file.
        partial.replace(target)
    except EngineError as exc:
        return f"{exc.code}: {exc.message}"
    except OSError as exc:
        return str(exc)
    return None


def _in_process(
    todo: list[Task], options: Options, limits: engine.Limits
) -> Iterator[tuple[Task, str | None]]:
    for task in todo:
        yield task, cut_one(task.source, task.target, options, limits)


def _worker_start(threads: int, model_dir: Path | None, pipeline: str) -> None:
    engine.configure(threads=threads, model_dir=model_dir)
    engine.preload([pipeline])


def _in_pool(
    todo: list[Task], options: Options, limits: engine.Limits, jobs: int, threads: int
) -> Iterator[tuple[Task, str | None]]:
    """The tasks on ``jobs`` fresh processes (spawned: nothing of this one's state is shared),
    at most two queued per worker so that an interrupted run has not claimed the whole folder."""
    from django.conf import settings

    context = multiprocessing.get_context("spawn")
    pending: dict[Future[str | None], Task] = {}
    queue = iter(todo)
    with ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=context,
        initializer=_worker_start,
        initargs=(threads, settings.CUTOUT_MODEL_DIR, options.pipeline),
    ) as pool:
        try:
            for task in queue:
                pending[pool.submit(cut_one, task.source, task.target, options, limits)] = task
                if len(pending) >= 2 * jobs:
                    break
            while pending:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    task = pending.pop(future)
                    yield task, future.result()
                    following = next(queue, None)
                    if following is not None:
                        submitted = pool.submit(
                            cut_one, following.source, following.target, options, limits
                        )
                        pending[submitted] = following
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


class Progress:
    """A one-line progress bar on a terminal; a line every 10% otherwise (logs, CI).

    Written straight to the stream it is given, in the terminal's own colour: not through
    Django's error styling, which showed the whole bar in bold red."""

    WIDTH = 30

    def __init__(self, total: int, stream: Any) -> None:
        self.total, self.stream = total, stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.start = time.perf_counter()
        self.last_decile = -1

    def line(self, done: int, name: str) -> str:
        fraction = done / self.total if self.total else 1.0
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (self.total - done) if done else 0.0
        filled = int(fraction * self.WIDTH)
        bar = "=" * filled + (">" if filled < self.WIDTH else "") + " " * (self.WIDTH - filled - 1)
        rate = done / elapsed if elapsed > 0 else 0.0
        return (
            f"[{bar[: self.WIDTH]}] {done}/{self.total} {fraction:4.0%} {rate:5.2f} img/s "
            f"eta {eta:4.0f}s {name[:40]}"
        )

    def update(self, done: int, name: str) -> None:
        line = self.line(done, name)
        if self.tty:
            self.stream.write("\r\x1b[K" + line)
            self.stream.flush()
        elif int(10 * done / max(1, self.total)) != self.last_decile or done == self.total:
            self.last_decile = int(10 * done / max(1, self.total))
            self.stream.write(line + "\n")

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")

    def done(self) -> None:
        if self.tty and self.total:
            self.stream.write("\n")
            self.stream.flush()
