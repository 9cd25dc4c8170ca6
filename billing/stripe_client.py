"""The only module that talks to Stripe.

Configured from ``settings.STRIPE`` (secret_key, webhook_secret, publishable_key, api_base). With
no keys, billing is off: :func:`is_configured` is False and the buy page says so. ``api_base``
points the client at a local fake Stripe for tests and development.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import stripe
from django.conf import settings

from billing import errors

if TYPE_CHECKING:
    from stripe._base_address import BaseAddresses

    from billing.models import Payment

logger = logging.getLogger(__name__)

SignatureVerificationError = stripe.SignatureVerificationError


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

    Raises :class:`SignatureVerificationError` for a missing, forged or too old signature and
    ``ValueError`` for a body that is not JSON.
    """
    if not is_configured():
        raise errors.BillingNotConfigured()
    stripe.Webhook.construct_event(payload, signature, settings.STRIPE["webhook_secret"])
    event: dict[str, Any] = json.loads(payload)
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise ValueError("The webhook body is not a Stripe event.")
    return event
