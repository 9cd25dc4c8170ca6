"""Cutout: self-hosted background removal.

Imports nothing: ``import cutout.engine`` must not load Django or Celery. The Celery app lives in
:mod:`cutout.celery`; Django creates it at start-up (:meth:`cutout.apps.CutoutConfig.ready`) and
``celery -A cutout worker`` finds it there (Celery looks for ``cutout.celery.app``).
"""
