"""The workspace's usage page: credits per day, per member and per API key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from django.db.models import F, Q, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET

from accounts.models import ApiKey, User, Workspace
from billing.models import LedgerEntry
from cutout.web.common import current_workspace, workspace_page

PALETTE = ("#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#ec4899", "#64748b")


@dataclass(frozen=True)
class Series:
    key: str
    label: str
    kind: str  # "member" or "key"
    values: list[int]
    colour: str

    @property
    def total(self) -> int:
        return sum(self.values)


def usage_series(*, workspace: Workspace, start: date, end: date) -> list[Series]:
    """Credits used per day (debits net of refunds) by each member and each API key."""
    tz = timezone.get_current_timezone()
    rows = (
        LedgerEntry.objects.filter(
            workspace=workspace,
            created_at__date__gte=start,
            created_at__date__lte=end,
        )
        .filter(
            Q(kind=LedgerEntry.Kind.DEBIT)
            | Q(kind=LedgerEntry.Kind.REFUND, refund_of__isnull=False)
        )
        .annotate(
            day=TruncDate("created_at", tzinfo=tz),
            user_id=F("actor_user_id"),
            key_id=F("actor_api_key_id"),
            ref_user=F("refund_of__actor_user_id"),
            ref_key=F("refund_of__actor_api_key_id"),
        )
        .values("day", "kind", "user_id", "key_id", "ref_user", "ref_key")
        .annotate(total=Sum("amount"))
    )
    days = (end - start).days + 1
    buckets: dict[tuple[str, int], list[int]] = {}
    for row in rows:
        refund = row["kind"] == LedgerEntry.Kind.REFUND
        key_id = row["ref_key"] if refund else row["key_id"]
        user_id = row["ref_user"] if refund else row["user_id"]
        who = ("key", key_id) if key_id else ("member", user_id or 0)
        values = buckets.setdefault(who, [0] * days)
        index = (row["day"] - start).days
        if 0 <= index < days:
            values[index] += -int(row["total"] or 0)
    users = dict(
        User.objects.filter(pk__in=[k for kind, k in buckets if kind == "member"]).values_list(
            "pk", "email"
        )
    )
    keys = {
        pk: f"{name} ({prefix}…)"
        for pk, name, prefix in ApiKey.objects.filter(
            workspace=workspace, pk__in=[k for kind, k in buckets if kind == "key"]
        ).values_list("pk", "name", "prefix")
    }
    out: list[Series] = []
    for (kind, pk), values in sorted(buckets.items(), key=lambda kv: -sum(kv[1])):
        label = users.get(pk, "System") if kind == "member" else keys.get(pk, f"Key #{pk}")
        colour = PALETTE[len(out) % len(PALETTE)]
        out.append(Series(f"{kind}-{pk}", label, kind, [max(v, 0) for v in values], colour))
    return out


def stacked_chart(series: list[Series], start: date, days: int) -> SafeString:
    """A server-drawn SVG of stacked daily bars (no JavaScript, nothing fetched)."""
    width, height, left, bottom, top = 760, 240, 40, 28, 12
    plot_w, plot_h = width - left - 8, height - top - bottom
    totals = [sum(s.values[i] for s in series) for i in range(days)]
    highest = max([*totals, 1])
    step = 1
    while highest / step > 4:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    top_value = max(step * 4, highest)
    slot = plot_w / days
    bar = max(slot * 0.7, 1.5)
    parts = [
        f'<svg class="stacked-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="usage-title usage-desc" xmlns="http://www.w3.org/2000/svg">',
        '<title id="usage-title">Credits used per day by member and API key</title>',
        f'<desc id="usage-desc">{sum(totals)} credits over {days} days from {start.isoformat()}.'
        "</desc>",
    ]
    for i in range(5):
        value = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>'
        )
    for i in range(days):
        x = left + slot * i + (slot - bar) / 2
        y = top + plot_h
        day = start + timedelta(days=i)
        for s in series:
            v = s.values[i]
            if not v:
                continue
            h = plot_h * v / top_value
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{s.colour}"><title>{day:%b %d}: {escape(s.label)} {v}</title></rect>'
            )
        if (days - 1 - i) % 7 == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 8}" text-anchor="middle">'
                f"{day:%b %d}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every label above is escaped


@workspace_page
@require_GET
def workspace_usage(request: HttpRequest) -> HttpResponse:
    workspace = current_workspace(request)
    try:
        days = max(7, min(int(request.GET.get("days", 30)), 90))
    except ValueError:
        days = 30
    end = timezone.localdate()
    start = end - timedelta(days=days - 1)
    series = usage_series(workspace=workspace, start=start, end=end)
    return render(
        request,
        "cutout/usage.html",
        {
            "series": series,
            "members": [s for s in series if s.kind == "member"],
            "keys": [s for s in series if s.kind == "key"],
            "chart": stacked_chart(series, start, days),
            "days": days,
            "start": start,
            "end": end,
            "total": sum(s.total for s in series),
        },
    )
