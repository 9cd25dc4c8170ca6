"""``python manage.py cutout INPUT... [-o OUT] [options]``: cut out files and folders from the shell.

Folders are walked recursively for images. Each output keeps its input's path relative to the
folder it was found in, so ``cutout dev/images -o preds --mode mask --format png`` writes
``preds/<stem>.png`` masks at the original size, ready for ``score.py preds``. One line per
failure, a progress line while working, and exit status 1 if anything failed.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cutout import engine
from cutout.cutouts.engine_settings import default_pipeline, engine_limits
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


class Command(BaseCommand):
    help = "Remove the background from image files or folders (recursive)."

    def add_arguments(self, parser: CommandParser) -> None:
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
        parser.add_argument(
            "--pipeline", default=None, help=f"one of {', '.join(engine.PIPELINES)}"
        )
        parser.add_argument(
            "--format", default=None, help="png, jpg, webp, avif or zip (default: png)"
        )
        parser.add_argument("--channels", default=None, choices=engine.CHANNELS)
        parser.add_argument(
            "--size", default="full", help="preview, small, medium, large, full or pixels"
        )
        parser.add_argument("--bg-color", default=None, help="e.g. white, #ff0000, rgba(0,0,0,0.5)")
        parser.add_argument("--crop", action="store_true", help="trim to the subject")
        parser.add_argument("--crop-margin", default="0", help="e.g. 10px or 5%% (with --crop)")
        parser.add_argument(
            "--list-models", action="store_true", help="show the model registry and exit"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        engine.configure(
            threads=settings.CUTOUT_INTRA_OP_THREADS, model_dir=settings.CUTOUT_MODEL_DIR
        )
        if options["list_models"]:
            self._list_models()
            return
        inputs: list[Path] = options["inputs"]
        if not inputs:
            raise CommandError("give at least one INPUT file or folder (or --list-models)")
        opts = self._engine_options(options)

        jobs, missing = collect(inputs)
        for path in missing:
            self.stderr.write(f"FAILED {path}: no such file or folder")
        if not jobs:
            raise CommandError("no images found")
        out = options["output"] or Path("cutouts")
        single_file = len(jobs) == 1 and inputs[0].is_file() and out.suffix != ""
        limits = engine_limits()
        try:
            engine.preload([opts.pipeline])
        except EngineError as exc:
            raise CommandError(exc.message) from None

        failures = len(missing)
        start = time.perf_counter()
        progress = Progress(len(jobs), self.stderr)
        for index, (source, relative) in enumerate(jobs, 1):
            target = out if single_file else out / relative.with_suffix("." + extension(opts))
            try:
                result = engine.process(source.read_bytes(), opts, limits=limits)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(result.data)
            except EngineError as exc:
                failures += 1
                progress.clear()
                self.stderr.write(f"FAILED {source}: {exc.code}: {exc.message}")
            except OSError as exc:
                failures += 1
                progress.clear()
                self.stderr.write(f"FAILED {source}: {exc}")
            progress.update(index, source.name)
        progress.done()
        elapsed = time.perf_counter() - start
        ok = len(jobs) - (failures - len(missing))
        self.stdout.write(
            f"{ok} of {len(jobs)} done in {elapsed:.1f} s ({elapsed / max(1, len(jobs)):.2f} s each), "
            f"{failures} failed; output in {out}"
        )
        if failures:
            raise CommandError(f"{failures} input(s) failed")

    def _engine_options(self, options: dict[str, Any]) -> Options:
        try:
            return Options(
                mode=options["mode"],
                format=options["format"] or "png",
                channels=options["channels"],
                bg_color=options["bg_color"],
                size=int(options["size"]) if str(options["size"]).isdigit() else options["size"],
                crop=options["crop"],
                crop_margin=options["crop_margin"],
                pipeline=options["pipeline"] or default_pipeline(),
            )
        except EngineError as exc:
            raise CommandError(f"{exc.field or 'option'}: {exc.message}") from None

    def _list_models(self) -> None:
        for spec in engine.MODELS.values():
            try:
                check_model(spec.name, full_hash=False)
                state = "installed"
            except ModelMissing:
                state = "MISSING (python manage.py fetch_models)"
            self.stdout.write(
                f"{spec.name:8s} {spec.input_size}x{spec.input_size}  {spec.size_bytes / 1e6:6.1f} MB  {state}\n"
                f"         good at: {spec.good_at}\n"
                f"         licence: {spec.licence}\n"
                f"         source:  {spec.source.kind} package {spec.source.package}=={spec.source.version}\n"
                f"         sha256:  {spec.sha256}"
            )
        for pipeline in engine.PIPELINES.values():
            default = " (default)" if pipeline.name == default_pipeline() else ""
            self.stdout.write(f"pipeline {pipeline.name}{default}: {pipeline.description}")


def extension(options: Options) -> str:
    return {"jpeg": "jpg"}.get(options.format, options.format)


def collect(inputs: list[Path]) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """(file, output path relative to the output folder) for every image; and inputs not found."""
    jobs: list[tuple[Path, Path]] = []
    missing: list[Path] = []
    for item in inputs:
        if item.is_dir():
            for path in sorted(item.rglob("*")):
                if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                    jobs.append((path, path.relative_to(item)))
        elif item.is_file():
            jobs.append((item, Path(item.name)))
        else:
            missing.append(item)
    return jobs, missing


class Progress:
    """A one-line progress bar on a terminal; a line every 10% otherwise (logs, CI)."""

    def __init__(self, total: int, stream: Any) -> None:
        self.total, self.stream = total, stream
        self.tty = hasattr(sys.stderr, "isatty") and sys.stderr.isatty()
        self.start = time.perf_counter()
        self.last_decile = -1

    def update(self, done: int, name: str) -> None:
        fraction = done / self.total
        elapsed = time.perf_counter() - self.start
        eta = elapsed / done * (self.total - done)
        bar = "#" * int(fraction * 30)
        line = f"[{bar:<30s}] {done}/{self.total} {fraction:4.0%} eta {eta:5.0f}s {name[:40]}"
        if self.tty:
            self.stream.write("\r" + line, ending="")
            self.stream.flush()
        elif int(fraction * 10) != self.last_decile or done == self.total:
            self.last_decile = int(fraction * 10)
            self.stream.write(line)

    def clear(self) -> None:
        if self.tty:
            self.stream.write("\r" + " " * 100 + "\r", ending="")

    def done(self) -> None:
        if self.tty:
            self.stream.write("")
