"""Billing pages, Stripe Checkout, the Stripe webhook and the staff usage report.

Views stay thin: they read through :mod:`billing.selectors` and write through
:mod:`billing.services`.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import cast

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import workspace_required
from accounts.middleware import MemberRequest
from billing import errors, selectors, services, stripe_client, usage_report
from billing.charts import bar_chart
from billing.forms import TransferForm
from billing.models import CreditPack, Payment, StripeEvent

logger = logging.getLogger(__name__)


def _member(request: HttpRequest) -> MemberRequest:
    return cast(MemberRequest, request)  # every caller is behind workspace_required


def _absolute(request: HttpRequest, name: str) -> str:
    return request.build_absolute_uri(reverse(name))


@workspace_required
@require_GET
def billing(request: HttpRequest) -> HttpResponse:
    req = _member(request)
    workspace = req.workspace
    today = timezone.localdate()
    start = today - timedelta(days=29)
    problem = services.purchase_permission_problem(workspace=workspace, user=req.user)
    history = Paginator(selectors.ledger_for(workspace), 25).get_page(request.GET.get("page"))
    owned = selectors.owned_with_credits(req.user)
    transfer = None
    if len(owned) > 1 and any(ws.pk == workspace.pk for ws, _ in owned):
        others = [ws for ws, _ in owned if ws.pk != workspace.pk]
        # Into this workspace from another by default; the other way round is one choice away.
        transfer = TransferForm(
            owned=owned,
            initial={
                "source": str(others[0].pk),
                "target": str(workspace.pk),
                "token": secrets.token_urlsafe(24),
            },
        )
    return render(
        request,
        "billing/billing.html",
        {
            "workspace": workspace,
            "balance": selectors.balance_for(workspace),
            "threshold": _threshold(),
            "packs": CreditPack.objects.filter(active=True),
            "configured": stripe_client.is_configured(),
            "purchase_problem": problem,
            "checkout_token": secrets.token_urlsafe(24),
            "transfer": transfer,
            "payments": selectors.payments_for(workspace).select_related("pack")[:20],
            "history": history,
            "chart": bar_chart(
                selectors.usage_daily(start=start, end=today, workspace=workspace),
                title="Credits used per day, last 30 days",
            ),
            "month_used": selectors.usage_totals(
                start=today.replace(day=1), end=today, workspace=workspace
            ).net,
        },
    )


def _threshold() -> int:
    return int(settings.CUTOUT_LOW_BALANCE_THRESHOLD)


@workspace_required
@require_POST
def checkout(request: HttpRequest) -> HttpResponse:
    req = _member(request)
    raw_pack = request.POST.get("pack", "")
    if not raw_pack.isdigit():  # a tampered form: no such pack, not a server error
        raise Http404("No such credit pack.")
    pack = get_object_or_404(CreditPack, pk=int(raw_pack), active=True)
    try:
        payment = services.checkout_start(
            workspace=req.workspace,
            user=req.user,
            pack=pack,
            token=request.POST.get("token", ""),
            success_url=_absolute(request, "billing_success") + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=_absolute(request, "billing_cancel"),
        )
    except errors.BillingError as exc:
        messages.error(request, exc.message)
        return redirect("billing")
    return HttpResponseRedirect(payment.checkout_url, status=303)  # see other: GET it


@workspace_required
@require_POST
def transfer(request: HttpRequest) -> HttpResponse:
    """Move credits between two workspaces the person owns (a pair of ledger entries)."""
    req = _member(request)
    form = TransferForm(request.POST, owned=selectors.owned_with_credits(req.user))
    if not form.is_valid():
        first = next(iter(form.errors.values()))[0]
        messages.error(request, f"Credits not moved: {first}")
        return redirect("billing")
    source, target = form.workspaces()
    amount = form.cleaned_data["amount"]
    try:
        services.credits_transfer(
            source=source,
            target=target,
            amount=amount,
            actor_user=req.user,
            idempotency_key=f"transfer:{req.user.pk}:{form.cleaned_data['token']}",
        )
    except errors.BillingError as exc:
        messages.error(request, f"Credits not moved: {exc.message}")
        return redirect("billing")
    word = "credit" if amount == 1 else "credits"
    messages.success(request, f"Moved {amount} {word} from {source.name} to {target.name}.")
    return redirect("billing")


@workspace_required
@require_GET
def success(request: HttpRequest) -> HttpResponse:
    workspace = _member(request).workspace
    session_id = request.GET.get("session_id", "")
    payment = (
        Payment.objects.filter(workspace=workspace, stripe_checkout_session_id=session_id).first()
        if session_id
        else None
    )
    return render(
        request,
        "billing/success.html",
        {
            "payment": payment,
            "balance": selectors.balance_for(workspace),
            "waiting": payment is not None
            and payment.status in (Payment.Status.PENDING, Payment.Status.PROCESSING),
        },
    )


@workspace_required
@require_GET
def cancel(request: HttpRequest) -> HttpResponse:
    return render(request, "billing/cancel.html")


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Stripe's webhook: verify, record once, process. 400 for bad signatures, 500 to retry."""
    if not stripe_client.is_configured():
        return JsonResponse({"error": "billing is not configured"}, status=404)
    try:
        event = stripe_client.webhook_event(
            request.body, request.headers.get("Stripe-Signature", "")
        )
    except stripe_client.SignatureVerificationError:
        logger.warning("refused a Stripe webhook with a bad or stale signature")
        return JsonResponse({"error": "invalid signature"}, status=400)
    except ValueError:
        return JsonResponse({"error": "invalid payload"}, status=400)
    record = services.stripe_event_receive(event=event)
    status = 500 if record.status == StripeEvent.Status.FAILED else 200
    return JsonResponse({"id": record.stripe_id, "status": record.status}, status=status)


# ---------------------------------------------------------------------------------------------
# Staff usage report (built by billing.usage_report; the admin shows it too)


@staff_member_required
@require_GET
def usage(request: HttpRequest) -> HttpResponse:
    context = usage_report.context(request)
    if request.GET.get("format") == "csv":
        return usage_report.csv_response(context)
    return render(request, "billing/usage.html", context)
