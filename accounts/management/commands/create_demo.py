from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from accounts import services
from accounts.models import Membership, Role, User, Workspace

DEMO_EMAIL = "demo@cutout.local"
DEMO_PASSWORD = "cutout-demo"  # noqa: S105 - a documented, well-known local demo password
DEMO_TEAM = "Demo Team"


class Command(BaseCommand):
    help = (
        "Create (or repair) the demo account: demo@cutout.local with a personal workspace and "
        "the 'Demo Team' workspace, trial credits once. Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Create the demo account even when CUTOUT_ENV=production (its password is public).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if getattr(settings, "PRODUCTION", False) and not options["allow_production"]:
            raise CommandError(
                "Refusing to create a demo account with a public password in production "
                "(pass --allow-production if you really want it)."
            )
        with transaction.atomic():
            user = User.objects.filter(email=DEMO_EMAIL).first()
            if user is None:
                user = services.user_create(email=DEMO_EMAIL, password=DEMO_PASSWORD, verified=True)
            else:
                changed = []
                if not user.check_password(DEMO_PASSWORD):
                    user.set_password(DEMO_PASSWORD)
                    changed.append("password")
                if user.email_verified_at is None:
                    user.email_verified_at = timezone.now()
                    changed.append("email_verified_at")
                if not user.is_active:
                    user.is_active = True
                    changed.append("is_active")
                if changed:
                    user.save(update_fields=changed)
                services.workspace_ensure_personal(user=user)
            team = (
                Workspace.objects.filter(
                    kind=Workspace.Kind.TEAM,
                    name=DEMO_TEAM,
                    memberships__user=user,
                    memberships__role=Role.OWNER,
                )
                .order_by("pk")
                .first()
            )
            if team is None:
                team = Workspace.objects.filter(
                    kind=Workspace.Kind.TEAM, name=DEMO_TEAM, created_by=user
                ).first()
                if team is None:
                    team = services.workspace_create(name=DEMO_TEAM, owner=user)
                else:
                    Membership.objects.update_or_create(
                        workspace=team, user=user, defaults={"role": Role.OWNER}
                    )
            services.trial_credits_grant(workspace=team)
        site = settings.SITE_URL.rstrip("/")
        self.stdout.write(f"Demo account ready. Open {site}/ and log in with:")
        self.stdout.write(f"  email:    {DEMO_EMAIL}")
        self.stdout.write(f"  password: {DEMO_PASSWORD}")
        self.stdout.write(f"  workspaces: {DEMO_TEAM} ({team.slug}) and your personal one")
