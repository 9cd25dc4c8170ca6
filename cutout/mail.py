"""Mail leaves from a Celery task, never from inside the request that asked for it.

``EMAIL_BACKEND`` is :class:`QueuedEmailBackend`: Django's ``send_mail`` and
``EmailMultiAlternatives.send()`` (accounts' verification and invitation mail, password resets,
billing's receipts and low-balance notices) hand each message to :func:`cutout.queue.email_enqueue`
once the caller's transaction commits (a rolled-back sign-up sends nothing). The task
``cutout.tasks.send_email`` then delivers it through the real backend (the ``EMAIL_BACKEND``
variable, ``settings.EMAIL_DELIVERY_BACKEND``) with ``EMAIL_TIMEOUT``, retrying a mail server that
does not answer. ``EMAIL_QUEUE=0`` sends in the calling process instead.

A message travels as JSON: subject, bodies (text and HTML alternatives), addresses and headers.
Attachments are not queued (none of Cutout's mail has any): such a message is sent directly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

logger = logging.getLogger(__name__)

_FIELDS = ("subject", "body", "from_email", "to", "cc", "bcc", "reply_to")


def message_as_dict(message: EmailMessage) -> dict[str, Any]:
    data: dict[str, Any] = {name: getattr(message, name) for name in _FIELDS}
    data["headers"] = dict(message.extra_headers)
    data["alternatives"] = [
        [str(content), str(mimetype)] for content, mimetype in getattr(message, "alternatives", [])
    ]
    return data


def message_from_dict(data: dict[str, Any]) -> EmailMultiAlternatives:
    message = EmailMultiAlternatives(
        subject=data.get("subject") or "",
        body=data.get("body") or "",
        from_email=data.get("from_email"),
        to=data.get("to"),
        cc=data.get("cc"),
        bcc=data.get("bcc"),
        reply_to=data.get("reply_to"),
        headers=data.get("headers") or {},
    )
    for content, mimetype in data.get("alternatives") or []:
        message.attach_alternative(content, mimetype)
    return message


def delivery_connection(*, fail_silently: bool = False) -> Any:
    """The backend that really sends (SMTP, console...), with ``EMAIL_TIMEOUT``."""
    backend = settings.EMAIL_DELIVERY_BACKEND
    options: dict[str, Any] = {"fail_silently": fail_silently}
    if backend.endswith("smtp.EmailBackend"):
        options["timeout"] = settings.EMAIL_TIMEOUT
    return get_connection(backend, **options)


def email_deliver(*, message: dict[str, Any]) -> int:
    """Send one queued message now (the task's work). SMTP and network errors propagate, so
    the task can retry them."""
    with delivery_connection() as connection:
        return int(connection.send_messages([message_from_dict(message)]) or 0)


class QueuedEmailBackend(BaseEmailBackend):
    """Queues each message for the mail task (after the current transaction commits)."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        from cutout import queue

        queued = 0
        for message in email_messages:
            if not message.recipients():
                continue
            if message.attachments:
                with delivery_connection(fail_silently=self.fail_silently) as connection:
                    queued += int(connection.send_messages([message]) or 0)
                continue
            data = message_as_dict(message)
            try:
                transaction.on_commit(lambda data=data: queue.email_enqueue(data))  # type: ignore[misc]
            except Exception:
                if not self.fail_silently:
                    raise
                logger.warning("could not queue a mail", exc_info=True)
                continue
            queued += 1
        return queued
