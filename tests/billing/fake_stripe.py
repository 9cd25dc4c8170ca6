"""localstripe, plus the Checkout Sessions it lacks. Tests only; run as a script.

localstripe (a fake Stripe API server) has no Checkout. This adds, on its own aiohttp app:

* ``POST /v1/checkout/sessions`` and ``GET /v1/checkout/sessions/{id}`` (mode=payment with
  ``line_items[].price_data``; other parameters are kept on the object);
* a bare "hosted checkout" page at ``/_config/checkout/{id}`` standing in for Stripe's: "Pay"
  completes the session and sends ``checkout.session.completed`` through localstripe's own webhook
  delivery (signed with Stripe's scheme) to the endpoints registered with
  ``POST /_config/webhooks/{name}``, then redirects to the session's success URL.

Nothing is written to disk (localstripe otherwise pickles its store into /tmp).

    python tests/billing/fake_stripe.py --port 8420
"""

from __future__ import annotations

import html
import sys

from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError
from localstripe.resources import Event, StripeObject, random_id
from localstripe.webhooks import schedule_webhook

resources.Store.dump_to_disk = lambda self: None

BASE = {"url": "http://127.0.0.1:8420"}


class CheckoutSession(StripeObject):
    object = "checkout.session"
    _id_prefix = "cs_test_"

    def __init__(
        self,
        mode=None,
        line_items=None,
        success_url=None,
        cancel_url=None,
        client_reference_id=None,
        metadata=None,
        customer_email=None,
        payment_intent_data=None,
        **extra,
    ):
        if mode != "payment":
            raise UserError(400, "This fake supports mode=payment only")
        if not success_url or not cancel_url:
            raise UserError(400, "success_url and cancel_url are required")
        if not isinstance(line_items, list) or not line_items:
            raise UserError(400, "line_items is required")
        amount, currency = 0, None
        for item in line_items:
            price = item.get("price_data") or {}
            try:
                amount += int(price["unit_amount"]) * int(item.get("quantity", 1))
            except (KeyError, TypeError, ValueError):
                raise UserError(400, "line_items[].price_data.unit_amount is required") from None
            currency = price.get("currency")
        if not currency:
            raise UserError(400, "line_items[].price_data.currency is required")
        super().__init__()
        self.mode = mode
        self.line_items_data = line_items
        self.amount_subtotal = amount
        self.amount_total = amount
        self.currency = currency
        self.success_url = success_url
        self.cancel_url = cancel_url
        self.client_reference_id = client_reference_id
        self.metadata = metadata or {}
        self.customer_email = customer_email
        self.payment_intent_data = payment_intent_data or {}
        self.status = "open"
        self.payment_status = "unpaid"
        self.payment_intent = None
        self.url = f"{BASE['url']}/_config/checkout/{self.id}"


def _session(request: web.Request) -> CheckoutSession:
    return CheckoutSession._api_retrieve(request.match_info["id"])


async def pay_page(request: web.Request) -> web.Response:
    s = _session(request)
    name = html.escape(str(s.line_items_data[0]["price_data"]["product_data"]["name"]))
    price = f"{s.amount_total / 100:.2f} {s.currency.upper()}"
    body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Fake Stripe Checkout</title>
<style>body{{font:16px system-ui;max-width:420px;margin:60px auto;padding:24px;
border:1px solid #ddd;border-radius:10px}}button{{font-size:1rem;padding:8px 20px}}</style>
</head><body><h1>Fake Stripe Checkout</h1>
<p>{name}</p><p><strong id="amount">{price}</strong></p>
<p>Status: <span id="status">{html.escape(s.status)}</span></p>
<form method="post"><button type="submit" id="pay">Pay {price}</button></form>
<p><a id="cancel" href="{html.escape(s.cancel_url)}">Cancel</a></p></body></html>"""
    return web.Response(text=body, content_type="text/html")


async def pay(request: web.Request) -> web.Response:
    s = _session(request)
    if s.status == "open":
        s.status = "complete"
        s.payment_status = "paid"
        s.payment_intent = "pi_" + random_id(24)
        schedule_webhook(Event("checkout.session.completed", s))
    location = s.success_url.replace("{CHECKOUT_SESSION_ID}", s.id)
    raise web.HTTPSeeOther(location)


def main() -> None:
    port = 8420
    if "--port" in sys.argv:
        port = int(sys.argv[sys.argv.index("--port") + 1])
    BASE["url"] = f"http://127.0.0.1:{port}"
    router = server.app.router
    router.add_post("/v1/checkout/sessions", server.api_create(CheckoutSession, None))
    router.add_get("/v1/checkout/sessions/{id}", server.api_retrieve(CheckoutSession, None))
    router.add_get("/_config/checkout/{id}", pay_page)
    router.add_post("/_config/checkout/{id}", pay)
    if "--from-scratch" not in sys.argv:
        sys.argv.append("--from-scratch")
    server.start()


if __name__ == "__main__":
    main()
