"""Cutout: self-hosted background removal."""

from cutout.celery import app as celery_app

__all__ = ("celery_app",)
