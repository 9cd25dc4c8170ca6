"""System checks (``manage.py check``, and every ``runserver``/``migrate``) for what the settings
could not refuse outright."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Warning, register


@register()
def unknown_variables(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A ``CUTOUT_`` variable that no setting reads is most likely a typo'd name."""
    return [
        Warning(
            f"{name} is set but is not a Cutout setting (a typo?); it has no effect.",
            hint="The README's Configuration table lists every variable.",
            id="cutout.W001",
        )
        for name in getattr(settings, "CUTOUT_UNKNOWN_VARIABLES", [])
    ]
