from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import errors, services
from accounts.models import Membership, Role

from ._helpers import user_by_email, workspace_by_slug


class Command(BaseCommand):
    help = "Add an existing user to a workspace with a role (or change their role)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--workspace", required=True, help="Workspace slug.")
        parser.add_argument("--email", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)

    def handle(self, *args: Any, **options: Any) -> None:
        workspace = workspace_by_slug(options["workspace"])
        user = user_by_email(options["email"])
        role = options["role"]
        existing = Membership.objects.filter(workspace=workspace, user=user).first()
        try:
            if existing is None:
                services.membership_add(workspace=workspace, user=user, role=role)
                verb = "added as"
            else:
                services.membership_set_role(membership=existing, role=role)
                verb = "is now"
        except errors.AccountsError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{user.email} {verb} {role} of {workspace.slug}")
