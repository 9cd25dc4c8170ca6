"""The one place that puts work on the Celery queue, and reads the queue.

Services call these functions (from ``transaction.on_commit``, so a worker never looks for rows
that are not committed yet); :mod:`cutout.tasks` runs the work. Tasks are sent by their
registered names, the same names the beat schedule uses (``cutout.celery``), so this module does
not import the task module and the task module may import every service: no import circle.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from cutout.celery import app

logger = logging.getLogger(__name__)

# Registered task names (cutout/tasks.py). They are part of the broker's messages and the beat
# schedule: keep them when tasks move, so messages already queued by an older version still run.
PROCESS_JOB_ITEM = "cutout.tasks.process_job_item"
FINISH_JOB = "cutout.tasks.finish_job"
DELIVER_WEBHOOK = "cutout.tasks.deliver_webhook"
SEND_EMAIL = "cutout.tasks.send_email"


def _task(name: str) -> Task[Any, Any]:
    if name not in app.tasks:
        # A web process has not imported the task modules yet: Celery's autodiscovery imports
        # them, as the worker does when it starts.
        app.loader.import_default_modules()
    return app.tasks[name]


def job_item_enqueue(item_id: Any) -> None:
    """Process one batch item (:func:`cutout.jobs.processing.job_item_process`)."""
    _task(PROCESS_JOB_ITEM).delay(str(item_id))


def job_finish_enqueue(job_id: Any) -> None:
    """Close a job whose items have all finished (:func:`cutout.jobs.services.job_finish`)."""
    _task(FINISH_JOB).delay(str(job_id))


def webhook_delivery_enqueue(delivery_id: Any, attempt: int) -> None:
    """Make one attempt to send a webhook (:func:`cutout.webhooks.delivery.delivery_attempt`)."""
    _task(DELIVER_WEBHOOK).delay(str(delivery_id), attempt)


def email_enqueue(message: dict[str, Any]) -> None:
    """Send one mail from a worker (:func:`cutout.mail.email_deliver`). A broker that cannot be
    reached is a ConnectionError, as an unreachable mail server would be."""
    from kombu.exceptions import OperationalError

    try:
        _task(SEND_EMAIL).delay(message)
    except OperationalError as exc:
        raise ConnectionError(f"the task queue is unavailable: {exc}") from exc


def is_eager() -> bool:
    """Tasks run inline, in this process (tests and ``CELERY_TASK_ALWAYS_EAGER``)."""
    return bool(app.conf.task_always_eager)


def queue_length() -> int | None:
    """Messages waiting in the broker's default queue; None when that cannot be told."""
    try:
        with app.connection_for_read() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            channel: Any = conn.default_channel
            declared = channel.queue_declare(queue=app.conf.task_default_queue, passive=True)
            return int(declared.message_count)
    except Exception as exc:  # a scrape must answer even when the broker does not
        if str(getattr(exc, "reply_code", "")) == "404" or "NOT_FOUND" in str(exc):
            return 0  # no worker has declared the queue yet: nothing can be waiting in it
        logger.warning("could not read the broker queue length", exc_info=True)
        return None


def queue_is_empty() -> bool:
    """Whether the broker's default queue holds no message; False when that cannot be told."""
    try:
        with app.connection_for_read() as conn:
            channel: Any = conn.default_channel
            declared = channel.queue_declare(queue=app.conf.task_default_queue, passive=True)
            return int(declared.message_count) == 0
    except Exception:  # unknown: assume items are waiting their turn
        logger.warning("could not read the broker queue length", exc_info=True)
        return False
