"""Storage tests share the jobs fixtures (storage backends, eager Celery)."""

from tests.jobs.conftest import backend, eager

__all__ = ["backend", "eager"]
