"""The stuck-cutout sweep: a cutout the database outage left ``processing`` is failed and its
credit released; every success keeps exactly one debit (issue 17, item 3)."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from billing.errors import ReservationReleased
from billing.models import LedgerEntry, Reservation
from billing.services import credits_capture
from cutout import engine
from cutout.cutouts import services
from cutout.cutouts.services import STALE_AFTER, cutout_create
from cutout.cutouts.sweeps import cutouts_fail_stuck
from cutout.models import Cutout
from tests.api.images import image_bytes
from tests.factories import balance, balance_and_held, make_caller
from tests.outages import database_down

pytestmark = pytest.mark.django_db(transaction=True)


def _options() -> engine.Options:
    return engine.Options(pipeline="fast")


def stuck_cutout(caller, monkeypatch) -> Cutout:
    """Make a cutout the way an outage leaves one: the database goes away mid-way, so neither
    the failure nor the release of its credit can be recorded."""
    outage = contextlib.ExitStack()

    def matte_then_outage(*args, **kwargs):
        outage.enter_context(database_down(monkeypatch))
        raise RuntimeError("the worker lost its database connection")

    monkeypatch.setattr(services.engine, "compute_matte", matte_then_outage)
    with pytest.raises(OperationalError):
        cutout_create(workspace=caller.workspace, data=image_bytes(seed=31), options=_options())
    outage.close()
    monkeypatch.undo()
    cutout = Cutout.objects.get(workspace=caller.workspace)
    assert cutout.status == Cutout.Status.PROCESSING
    return cutout


def _age(cutout: Cutout, by: timedelta) -> None:
    Cutout.objects.filter(pk=cutout.pk).update(
        created_at=timezone.now() - by, started_at=timezone.now() - by
    )


def test_an_outage_leaves_a_cutout_processing_and_the_sweep_fails_it(monkeypatch) -> None:
    caller = make_caller(credits=10)
    cutout = stuck_cutout(caller, monkeypatch)
    assert balance_and_held(caller.workspace) == (10, 1)  # the credit is held
    assert cutouts_fail_stuck() == 0  # too recent: a process may still be working on it

    _age(cutout, STALE_AFTER + timedelta(seconds=5))
    assert cutouts_fail_stuck() == 1
    cutout.refresh_from_db()
    assert cutout.status == Cutout.Status.FAILED and cutout.error_code == "stuck"
    assert cutout.credits_charged == 0 and not cutout.result
    assert balance_and_held(caller.workspace) == (10, 0)  # released at once, nothing charged
    reservation = Reservation.objects.get(cutout=cutout)
    assert reservation.status == Reservation.Status.RELEASED
    assert reservation.release_reason == "stuck"
    assert cutouts_fail_stuck() == 0  # nothing left to do


def test_a_late_success_cannot_capture_a_swept_credit(monkeypatch) -> None:
    caller = make_caller(credits=10)
    cutout = stuck_cutout(caller, monkeypatch)
    _age(cutout, STALE_AFTER + timedelta(seconds=5))
    reservation = Reservation.objects.get(cutout=cutout)
    assert cutouts_fail_stuck() == 1
    with pytest.raises(ReservationReleased):
        credits_capture(reservation=reservation, cutout=cutout)
    assert not LedgerEntry.objects.filter(cutout=cutout).exists()
    assert balance(caller.workspace) == 10


def test_the_sweep_leaves_finished_and_recent_cutouts_alone(monkeypatch) -> None:
    caller = make_caller(credits=10)
    done = cutout_create(workspace=caller.workspace, data=image_bytes(seed=32), options=_options())
    _age(done, STALE_AFTER * 3)
    assert cutouts_fail_stuck() == 0
    done.refresh_from_db()
    assert done.status == Cutout.Status.SUCCEEDED and done.result
    # Every success has exactly one debit.
    assert LedgerEntry.objects.filter(cutout=done, kind="debit").count() == 1
    assert balance(caller.workspace) == 9


def test_the_sweep_is_on_the_beat_schedule() -> None:
    from cutout.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "cutout.tasks.cutouts_fail_stuck" in tasks
    app.loader.import_default_modules()
    assert "cutout.tasks.cutouts_fail_stuck" in app.tasks
