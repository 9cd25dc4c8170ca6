"""``cutout setup [--wait SECONDS]`` (``manage.py setup``): make a deployment ready to serve.

Waits for the database (and, with S3 storage, the S3 server), applies the migrations, creates the
bucket when it is missing, and collects the static files. Every step is safe to repeat, so a
container stack runs it as a one-shot service on each start.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.utils import Error as DatabaseError


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Command(BaseCommand):
    help = "Wait for the database and S3, migrate, create the bucket, collect static files."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait",
            type=float,
            default=0,
            metavar="SECONDS",
            help="keep trying to reach the database and S3 for this long (default: try once)",
        )
        parser.add_argument(
            "--no-static", action="store_true", help="skip collectstatic (done at image build)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        wait = float(options["wait"])
        self._retry("the database", wait, self._database)
        call_command("migrate", interactive=False, verbosity=max(0, options["verbosity"] - 1))
        self.stdout.write("setup: migrations applied")
        if hasattr(default_storage, "bucket_name"):
            self._retry("S3", wait, self._bucket)
        if not options["no_static"]:
            call_command("collectstatic", interactive=False, verbosity=0)
            self.stdout.write(f"setup: static files collected in {settings.STATIC_ROOT}")
        self.stdout.write("setup: done")

    def _retry(self, what: str, wait: float, step: Callable[[], None]) -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                step()
                return
            except (DatabaseError, OSError, ConnectionError) as exc:
                error: BaseException = exc
            except Exception as exc:  # boto's endpoint errors have no common base with OSError
                if "botocore" not in type(exc).__module__:
                    raise
                error = exc
            if time.monotonic() >= deadline:
                raise CommandError(f"could not reach {what}: {_first_line(error)}")
            self.stderr.write(f"setup: waiting for {what}: {_first_line(error)}")
            connection.close()
            time.sleep(2)

    def _database(self) -> None:
        connection.ensure_connection()

    def _bucket(self) -> None:
        from botocore.exceptions import ClientError

        storage: Any = default_storage
        client = storage.connection.meta.client
        try:
            client.head_bucket(Bucket=storage.bucket_name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise
            client.create_bucket(Bucket=storage.bucket_name)
            self.stdout.write(f"setup: created the bucket {storage.bucket_name}")
