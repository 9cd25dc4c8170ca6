"""Error reports to Sentry (sentry-sdk), on only when ``SENTRY_DSN`` is set.

``cutout.settings`` calls :func:`sentry_init` then, so every process that loads the settings (web,
Celery worker and beat, management commands) reports: Django's request errors, Celery task
failures, and every ERROR log line. No personal data is sent (``send_default_pii`` off: no
cookies, no user's address, no request body).
"""

from __future__ import annotations


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        traces_sample_rate=traces_sample_rate,
        send_default_pii=False,
        integrations=[DjangoIntegration(), CeleryIntegration()],
    )
