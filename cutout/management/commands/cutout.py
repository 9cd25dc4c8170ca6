"""``python manage.py cutout INPUT... [-o OUT] [options]``: cut out files and folders from the shell.

The work is :mod:`cutout.management.remove` (shared with any other front end): folders walked
recursively, outputs mirroring the inputs' paths, ``--jobs`` worker processes, ``--skip-existing``,
one line per failure, a progress bar, and exit status 1 if anything failed.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cutout.management import remove


class Command(BaseCommand):
    help = "Remove the background from image files or folders (recursive)."

    def add_arguments(self, parser: CommandParser) -> None:
        remove.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        # The wrapped streams themselves: Django styles everything on its stderr as an error
        # (bold red on a terminal), which is right for a failure line and wrong for progress.
        stdout = cast(TextIO, getattr(self.stdout, "_out", self.stdout))
        stderr = cast(TextIO, getattr(self.stderr, "_out", self.stderr))
        try:
            failed = remove.run(argparse.Namespace(**options), stdout=stdout, stderr=stderr)
        except remove.CliError as exc:
            raise CommandError(exc.message) from None
        if failed:
            raise CommandError(f"{failed} input(s) failed")
