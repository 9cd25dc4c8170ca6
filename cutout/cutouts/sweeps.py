"""Failing cutouts that nothing is working on any more (run by Celery beat).

A cutout is ``processing`` from the moment its credit is reserved until its result is stored and
the credit captured. If the process making it dies, or the database goes away just when it would
record the failure, the record stays ``processing`` and its credit held. :func:`cutouts_fail_stuck`
finds such records once they are older than any process may work on one
(:data:`cutout.cutouts.services.STALE_AFTER`: Celery's hard time limit and a minute), fails them
and releases their credits at once.

Nothing is lost and nothing is charged twice: each record is locked and re-checked before it is
failed, and its credit is released (reason ``stuck``, not ``expired``) in the same transaction.
A process that was in fact still working can then no longer capture that credit
(:class:`billing.errors.ReservationReleased`): its success rolls back, so every succeeded
cutout still has exactly one debit.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from billing.services import credits_release_held
from cutout.cutouts.services import STALE_AFTER, cutout_fail
from cutout.models import Cutout

logger = logging.getLogger(__name__)

STUCK_CODE = "stuck"
STUCK_MESSAGE = (
    "Processing stopped before it finished (the service was interrupted); it was not charged."
)
UNFINISHED = (Cutout.Status.PENDING, Cutout.Status.PROCESSING)


def cutouts_fail_stuck(*, older_than: timedelta | None = None, limit: int = 500) -> int:
    """Fail cutouts left unfinished for longer than ``older_than``; returns how many."""
    cutoff = timezone.now() - (older_than or STALE_AFTER)
    candidates = list(
        Cutout.objects.filter(status__in=UNFINISHED, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    failed = sum(1 for pk in candidates if _fail_one(pk, cutoff))
    if failed:
        logger.warning("failed %d stuck cutouts and released their credits", failed)
    return failed


def _fail_one(pk: uuid.UUID, cutoff: datetime) -> bool:
    with transaction.atomic():
        cutout = (
            Cutout.objects.select_for_update()
            .filter(pk=pk, status__in=UNFINISHED, created_at__lt=cutoff)
            .first()
        )
        if cutout is None or (cutout.started_at is not None and cutout.started_at >= cutoff):
            return False  # finished meanwhile, or (re)started recently
        credits_release_held(cutout=cutout, reason=STUCK_CODE)
        cutout_fail(cutout, code=STUCK_CODE, message=STUCK_MESSAGE)
    return True
