"""The only module that talks to Stripe.

Configured from ``settings.STRIPE`` (secret_key, webhook_secret, publishable_key, api_base). With
no keys, billing is off: :func:`is_configured` is False and the buy page says so. ``api_base``
points the client at a local fake Stripe for tests and development.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import stripe
from django.conf import settings

from billing import errors
from cutout.jsonbody import json_body

if TYPE_CHECKING:
    from stripe._base_address import BaseAddresses

    from billing.models import Payment

logger = logging.getLogger(__name__)

SignatureVerificationError = stripe.SignatureVerificationError
# How far a webhook's signed timestamp may be from now, either way (Stripe's default is 300 s).
WEBHOOK_TOLERANCE_S = 300
MAX_WEBHOOK_BYTES = 1024 * 1024  # Stripe's events are a few kilobytes


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


def is_configured() -> bool:
    conf = settings.STRIPE
    return bool(conf.get("secret_key") and conf.get("webhook_secret"))


def client() -> stripe.StripeClient:
    if not is_configured():
        raise errors.BillingNotConfigured()
    conf = settings.STRIPE
    base: BaseAddresses | None = None
    if conf.get("api_base"):
        base = {"api": conf["api_base"].rstrip("/")}
    return stripe.StripeClient(conf["secret_key"], base_addresses=base, max_network_retries=2)


def checkout_session_create(
    *, payment: Payment, product_name: str, success_url: str, cancel_url: str, email: str = ""
) -> CheckoutSession:
    """A hosted Checkout Session (mode=payment) for one pack; idempotent per payment."""
    metadata = {
        "workspace_id": str(payment.workspace_id),
        "pack_id": str(payment.pack_id or ""),
        "payment_id": str(payment.id),
    }
    params: dict[str, Any] = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": payment.currency,
                    "unit_amount": payment.amount,
                    "product_data": {
                        "name": product_name,
                        "description": f"{payment.credits:,} Cutout credits",
                    },
                },
            }
        ],
        "success_url": success_url,
        "cancel_url": cancel_url,
        "client_reference_id": str(payment.id),
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
    }
    if email:
        params["customer_email"] = email
    try:
        session = client().v1.checkout.sessions.create(
            params,  # type: ignore[arg-type]
            {"idempotency_key": f"cutout-checkout-{payment.id}"},
        )
    except stripe.StripeError as exc:
        logger.warning("Stripe refused the checkout session: %s", exc.user_message or type(exc))
        raise errors.CheckoutFailed() from exc
    if not session.url:
        raise errors.CheckoutFailed("Stripe returned a checkout session without a page to open.")
    return CheckoutSession(id=session.id, url=session.url)


def webhook_event(payload: bytes, signature: str) -> dict[str, Any]:
    """The event in a webhook body, after checking its ``Stripe-Signature`` header.

    Raises :class:`SignatureVerificationError` for a missing or forged signature, or one whose
    timestamp is more than :data:`WEBHOOK_TOLERANCE_S` away from now, in the past (a replay)
    or in the future (Stripe's library checks only the past); ``ValueError`` for a body that is
    not a Stripe event: not JSON, not an object, too large or too deeply nested
    (:func:`cutout.jsonbody.json_body`). The body is parsed only once it is verified.
    """
    if not is_configured():
        raise errors.BillingNotConfigured()
    if len(payload) > MAX_WEBHOOK_BYTES:
        raise ValueError("The webhook body is too large to be a Stripe event.")
    secret = settings.STRIPE["webhook_secret"]
    stripe.WebhookSignature.verify_header(payload, signature, secret, WEBHOOK_TOLERANCE_S)
    if _signed_at(signature) > time.time() + WEBHOOK_TOLERANCE_S:
        raise SignatureVerificationError(
            "Timestamp in the future, outside the tolerance zone", signature, payload
        )
    event = json_body(payload, max_bytes=MAX_WEBHOOK_BYTES)
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise ValueError("The webhook body is not a Stripe event.")
    return event


def _signed_at(signature: str) -> int:
    """The ``t=`` of a header that :func:`stripe.WebhookSignature.verify_header` accepted."""
    for part in signature.split(","):
        key, _, value = part.partition("=")
        if key.strip() == "t":
            return int(value)
    raise SignatureVerificationError("No timestamp in the signature", signature)
