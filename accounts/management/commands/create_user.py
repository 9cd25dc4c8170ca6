from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email

from accounts import errors, services


class Command(BaseCommand):
    help = "Create a user with a personal workspace and trial credits; prints the workspace slug."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--password", required=True)
        parser.add_argument("--first-name", default="")
        parser.add_argument(
            "--verified", action="store_true", help="Mark the email address as confirmed."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email = services.normalize_email(options["email"])
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{options['email']!r} is not a valid email address.") from None
        if not options["password"]:
            raise CommandError("The password must not be empty.")
        try:
            user = services.user_create(
                email=email,
                password=options["password"],
                first_name=options["first_name"],
                verified=options["verified"],
            )
        except errors.EmailTaken:
            raise CommandError(f"A user with email {email} already exists.") from None
        workspace = services.workspace_ensure_personal(user=user)
        self.stdout.write(workspace.slug)
