from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import services

from ._helpers import user_by_email


class Command(BaseCommand):
    help = "Create a team workspace owned by an existing user; prints its slug."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--owner", required=True, help="Email address of the owner.")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = user_by_email(options["owner"])
        if not options["name"].strip():
            raise CommandError("The workspace name must not be empty.")
        workspace = services.workspace_create(name=options["name"], owner=owner)
        self.stdout.write(workspace.slug)
