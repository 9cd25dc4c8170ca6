from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import services

from ._helpers import workspace_by_slug


class Command(BaseCommand):
    help = "Create an API key for a workspace; prints only the secret (shown this once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="Workspace slug.")
        parser.add_argument("--name", default="API key")
        parser.add_argument(
            "--monthly-cap", type=int, default=None, help="Most credits per calendar month."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_by_slug(options["workspace"])
        cap = options["monthly_cap"]
        if cap is not None and cap < 0:
            raise CommandError("--monthly-cap must be 0 or more.")
        _key, secret = services.api_key_create(
            workspace=workspace, name=options["name"], monthly_cap=cap
        )
        self.stdout.write(secret)
