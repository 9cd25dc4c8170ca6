"""Admin: credit packs (editable), read-only ledger/balances/payments/events, the usage report,
and grant/refund actions that write ledger entries through the services."""

from __future__ import annotations

import csv
import secrets
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from accounts.models import User, Workspace
from billing import errors, services, usage_report
from billing.models import (
    CreditBalance,
    CreditPack,
    LedgerEntry,
    Payment,
    Reservation,
    StripeEvent,
    UsageReport,
)


def _staff_user(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


# Moving credits (grants, refunds, releasing reservations, re-processing payment events) needs
# this permission, not just staff status: superusers have it, others get it explicitly.
WRITE_LEDGER_PERMISSION = "billing.add_ledgerentry"


def can_write_ledger(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.has_perm(WRITE_LEDGER_PERMISSION))


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by services: visible, never added, changed or deleted here."""

    def has_write_ledger_permission(self, request: HttpRequest) -> bool:
        """For actions declared with ``permissions=["write_ledger"]``."""
        return can_write_ledger(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(CreditPack)
class CreditPackAdmin(admin.ModelAdmin):
    list_display = ("name", "credits", "price", "price_display", "currency", "active", "sort_order")
    list_editable = ("active", "sort_order")
    list_filter = ("active", "currency")
    ordering = ("sort_order", "credits")

    @admin.display(description="Price")
    def price_display(self, obj: CreditPack) -> str:
        return obj.price_display


class GrantForm(forms.Form):
    workspace = forms.ModelChoiceField(queryset=Workspace.objects.order_by("name"))
    amount = forms.IntegerField(min_value=1, max_value=1_000_000)
    reason = forms.CharField(max_length=200, help_text="Shown in the workspace's history.")
    token = forms.CharField(widget=forms.HiddenInput)


@admin.register(CreditBalance)
class CreditBalanceAdmin(ReadOnlyAdmin):
    list_display = ("workspace", "balance", "reserved", "available", "low_balance_notified_at")
    search_fields = ("workspace__name", "workspace__slug")
    list_select_related = ("workspace",)
    actions = ("grant_credits",)
    change_list_template = "billing/admin_balance_change_list.html"

    @admin.display(description="Available")
    def available(self, obj: CreditBalance) -> int:
        return obj.available

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "grant/",
                self.admin_site.admin_view(self.grant_view),
                name="billing_creditbalance_grant",
            )
        ]
        return own + super().get_urls()

    @admin.action(
        description="Grant credits to the selected workspaces…", permissions=["write_ledger"]
    )
    def grant_credits(self, request: HttpRequest, queryset: QuerySet[CreditBalance]) -> Any:
        first = queryset.first()
        url = reverse("admin:billing_creditbalance_grant")
        return HttpResponseRedirect(f"{url}?workspace={first.workspace_id}" if first else url)

    def grant_view(self, request: HttpRequest) -> HttpResponse:
        if not can_write_ledger(request):
            raise PermissionDenied("Granting credits needs the billing.add_ledgerentry permission.")
        if request.method == "POST":
            form = GrantForm(request.POST)
            if form.is_valid():
                data = form.cleaned_data
                entry = services.credits_grant(
                    workspace=data["workspace"],
                    amount=data["amount"],
                    reason=data["reason"],
                    kind=LedgerEntry.Kind.GRANT,
                    actor_user=_staff_user(request),
                    idempotency_key=f"admin-grant:{data['token']}",
                )
                self.message_user(
                    request,
                    f"Granted {entry.amount} credits to {data['workspace']}; "
                    f"balance now {entry.balance_after}.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(reverse("admin:billing_creditbalance_changelist"))
        else:
            form = GrantForm(
                initial={
                    "workspace": request.GET.get("workspace"),
                    "token": secrets.token_urlsafe(24),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Grant credits",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "billing/admin_grant.html", context)


class RefundForm(forms.Form):
    reason = forms.CharField(max_length=200, help_text="Shown in the workspace's history.")


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "workspace",
        "kind",
        "amount",
        "balance_after",
        "actor",
        "reason",
        "cutout_id",
        "payment_id",
    )
    list_filter = ("kind", "created_at")
    search_fields = ("workspace__name", "reason", "idempotency_key", "actor_user__email")
    date_hierarchy = "created_at"
    list_select_related = ("workspace", "actor_user", "actor_api_key")
    actions = ("refund_debits", "export_csv")
    change_list_template = "billing/admin_ledger_change_list.html"

    @admin.display(description="Actor")
    def actor(self, obj: LedgerEntry) -> str:
        return obj.actor_display

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            qs = context["cl"].queryset
            context["ledger_totals"] = (
                qs.order_by().values("kind").annotate(total=Sum("amount"), n=Count("id"))
            )
            context["ledger_net"] = qs.aggregate(net=Sum("amount"))["net"] or 0
        return response

    @admin.action(description="Refund the selected cutout debits…", permissions=["write_ledger"])
    def refund_debits(self, request: HttpRequest, queryset: QuerySet[LedgerEntry]) -> Any:
        debits = queryset.filter(kind=LedgerEntry.Kind.DEBIT, refunded_by__isnull=True)
        if "apply" in request.POST:
            form = RefundForm(request.POST)
            if form.is_valid():
                done = 0
                for entry in debits:
                    try:
                        services.credits_refund(
                            entry=entry,
                            reason=form.cleaned_data["reason"],
                            actor_user=_staff_user(request),
                        )
                        done += 1
                    except errors.BillingError as exc:
                        self.message_user(request, f"Entry {entry.pk}: {exc}", messages.ERROR)
                self.message_user(request, f"Refunded {done} debit(s).", messages.SUCCESS)
                return None
        else:
            form = RefundForm()
        return render(
            request,
            "billing/admin_refund.html",
            {
                **self.admin_site.each_context(request),
                "title": "Refund cutout debits",
                "form": form,
                "entries": debits,
                "skipped": queryset.count() - debits.count(),
                "opts": self.model._meta,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
            },
        )

    @admin.action(description="Export the selected entries as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet[LedgerEntry]) -> HttpResponse:
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="cutout-ledger.csv"'
        writer = csv.writer(response)
        writer.writerow(
            ["id", "created_at", "workspace", "kind", "amount", "balance_after", "actor", "reason"]
        )
        for e in queryset.select_related("workspace", "actor_user", "actor_api_key").order_by(
            "created_at", "id"
        ):
            writer.writerow(
                [
                    e.pk,
                    e.created_at.isoformat(),
                    e.workspace.name,
                    e.kind,
                    e.amount,
                    e.balance_after,
                    e.actor_display,
                    e.reason,
                ]
            )
        return response


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "workspace", "amount", "status", "api_key", "user", "expires_at")
    list_filter = ("status", "created_at")
    search_fields = ("workspace__name", "idempotency_key")
    list_select_related = ("workspace", "api_key", "user")
    actions = ("release_held",)

    @admin.action(
        description="Release the selected held reservations", permissions=["write_ledger"]
    )
    def release_held(self, request: HttpRequest, queryset: QuerySet[Reservation]) -> None:
        n = 0
        for reservation in queryset.filter(status=Reservation.Status.HELD):
            services.credits_release(reservation=reservation, reason="released by staff")
            n += 1
        self.message_user(request, f"Released {n} reservation(s).", messages.SUCCESS)


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "workspace",
        "user",
        "credits",
        "amount_display",
        "status",
        "amount_refunded",
        "credits_refunded",
        "credits_unrecovered",
    )
    list_filter = ("status", "currency", "created_at")
    search_fields = ("workspace__name", "stripe_checkout_session_id", "stripe_payment_intent_id")
    list_select_related = ("workspace", "user")


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "type", "stripe_id", "status", "deliveries", "error")
    list_filter = ("status", "type")
    search_fields = ("stripe_id",)
    actions = ("process_again",)

    @admin.action(
        description="Process the selected failed events again", permissions=["write_ledger"]
    )
    def process_again(self, request: HttpRequest, queryset: QuerySet[StripeEvent]) -> None:
        results = [
            services.stripe_event_receive(event=e.payload).status
            for e in queryset.filter(status=StripeEvent.Status.FAILED)
        ]
        failed = results.count(StripeEvent.Status.FAILED)
        self.message_user(
            request,
            f"Processed {len(results)} event(s), {failed} still failing.",
            messages.WARNING if failed else messages.SUCCESS,
        )


@admin.register(UsageReport)
class UsageReportAdmin(ReadOnlyAdmin):
    """Usage per workspace, user, API key or day, with a chart and CSV export."""

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        context = usage_report.context(request)
        if request.GET.get("format") == "csv":
            return usage_report.csv_response(context)
        context.update(
            {
                **self.admin_site.each_context(request),
                "title": "Usage report",
                "opts": self.model._meta,
            }
        )
        return TemplateResponse(request, "billing/admin_usage.html", context)
