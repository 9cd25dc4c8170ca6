"""Reads of credits that need care (no locks: for display and decisions that re-check later).

Balances, the usage reports and chart series (staff report, billing page, workspace usage page),
the ledger and payments of a workspace, held reservations and an API key's monthly usage.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

from django.db.models import Case, Count, F, Q, QuerySet, Sum, When
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from accounts.models import ApiKey, Membership, Role, User, Workspace
from billing.charts import PALETTE, Series
from billing.models import CreditBalance, LedgerEntry, Payment, Reservation

if TYPE_CHECKING:
    from cutout.models import Cutout, JobItem


@dataclass(frozen=True)
class Balance:
    balance: int
    reserved: int
    available: int


def owned_with_credits(user: User) -> list[tuple[Workspace, int]]:
    """The workspaces ``user`` owns (personal first), each with its credits available."""
    memberships = (
        Membership.objects.filter(user=user, role=Role.OWNER)
        .select_related("workspace")
        .order_by("workspace__kind", "workspace__name", "workspace_id")
    )
    workspaces = [m.workspace for m in memberships]
    rows = dict(
        CreditBalance.objects.filter(workspace__in=workspaces).values_list(
            "workspace_id", F("balance") - F("reserved")
        )
    )
    return [(ws, int(rows.get(ws.pk, 0))) for ws in workspaces]


def has_credit_history(workspace: Workspace) -> bool:
    """Whether the workspace ever had credits (a new team has not: it starts with a step to add
    some rather than an out-of-credits warning)."""
    return LedgerEntry.objects.filter(workspace=workspace).exists()


def balance_for(workspace: Workspace | int) -> Balance:
    """The workspace's balance; zero for a workspace that never had credits."""
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    row = (
        CreditBalance.objects.filter(workspace_id=workspace_id)
        .values_list("balance", "reserved")
        .first()
    )
    if row is None:
        return Balance(balance=0, reserved=0, available=0)
    return Balance(balance=row[0], reserved=row[1], available=row[0] - row[1])


# ---------------------------------------------------------------------------------------------
# Usage reports (debits are usage; refunds of debits are shown beside them)

GROUPS = {
    "workspace": "Workspace",
    "user": "User",
    "api_key": "API key",
    "day": "Day",
}


@dataclass(frozen=True)
class UsageRow:
    key: str
    label: str
    credits: int
    cutouts: int
    refunded: int

    @property
    def net(self) -> int:
        return self.credits - self.refunded


@dataclass(frozen=True)
class UsageTotals:
    credits: int
    cutouts: int
    refunded: int
    purchased: int
    granted: int
    revenue: dict[str, int]

    @property
    def net(self) -> int:
        return self.credits - self.refunded


def _day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    tz = timezone.get_current_timezone()
    since = datetime.combine(start, time.min, tzinfo=tz)
    until = datetime.combine(end + timedelta(days=1), time.min, tzinfo=tz)
    return since, until


def _entries(start: date, end: date, workspace: Workspace | None) -> QuerySet[LedgerEntry]:
    """Entries of the days from ``start`` to ``end`` (inclusive, in the current time zone)."""
    since, until = _day_bounds(start, end)
    qs = LedgerEntry.objects.filter(created_at__gte=since, created_at__lt=until)
    if workspace is not None:
        qs = qs.filter(workspace=workspace)
    return qs


def _usage_entries(start: date, end: date, workspace: Workspace | None) -> QuerySet[LedgerEntry]:
    """Usage in the days: debits, and refunds of debits (other refunds are not usage)."""
    return _entries(start, end, workspace).filter(
        Q(kind=LedgerEntry.Kind.DEBIT) | Q(kind=LedgerEntry.Kind.REFUND, refund_of__isnull=False)
    )


def _who(field: str) -> Case:
    """``field`` of the entry, or of the debit it refunds: a refund of a debit counts against
    whoever made the debit, not the admin who refunded it."""
    return Case(When(refund_of__isnull=False, then=F(f"refund_of__{field}")), default=F(field))


def workspace_labels(ids: list[int] | None = None) -> dict[int, str]:
    """Staff's names for workspaces (all, or ``ids``), by name: the name, its owners and its slug,
    so that the many workspaces called "Personal" can be told apart. Two queries."""
    workspaces = Workspace.objects.order_by("name", "slug")
    if ids is not None:
        workspaces = workspaces.filter(pk__in=ids)
    rows = list(workspaces.values_list("pk", "name", "slug"))
    owners: dict[int, list[str]] = {}
    for ws_id, email in Membership.objects.filter(
        workspace_id__in=[pk for pk, _, _ in rows], role=Role.OWNER
    ).values_list("workspace_id", "user__email"):
        owners.setdefault(ws_id, []).append(email)
    return {
        pk: f"{name} · {', '.join(sorted(owners.get(pk, []))) or 'no owner'} ({slug})"
        for pk, name, slug in rows
    }


def _group_labels(group: str, ids: list[int]) -> dict[object, str]:
    if group == "workspace":
        return dict(workspace_labels(ids).items())
    if group == "user":
        return dict(User.objects.filter(pk__in=ids).values_list("pk", "email"))
    if group == "api_key":
        return {
            pk: f"{name} ({prefix}…) · {ws}"
            for pk, name, prefix, ws in ApiKey.objects.filter(pk__in=ids).values_list(
                "pk", "name", "prefix", "workspace__name"
            )
        }
    return {}


NONE_LABELS = {
    "workspace": "(deleted)",
    "user": "(no user: API key or system)",
    "api_key": "(web app, no API key)",
}


def usage_by(
    *, group: str, start: date, end: date, workspace: Workspace | None = None
) -> list[UsageRow]:
    """Credits used (debits) and refunded, per workspace, user, API key or day."""
    if group not in GROUPS:
        raise ValueError(f"Unknown usage grouping {group!r}.")
    qs = _usage_entries(start, end, workspace)
    if group == "workspace":
        qs = qs.annotate(g=F("workspace_id"))
    elif group == "user":
        qs = qs.annotate(g=_who("actor_user_id"))
    elif group == "api_key":
        qs = qs.annotate(g=_who("actor_api_key_id"))
    else:
        qs = qs.annotate(g=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
    rows = list(
        qs.values("g")
        .annotate(
            used=Coalesce(Sum(-F("amount"), filter=Q(kind=LedgerEntry.Kind.DEBIT)), 0),
            cutouts=Count("id", filter=Q(kind=LedgerEntry.Kind.DEBIT)),
            refunded=Coalesce(Sum("amount", filter=Q(kind=LedgerEntry.Kind.REFUND)), 0),
        )
        .order_by("g")
    )
    labels = _group_labels(group, [row["g"] for row in rows if row["g"] is not None])
    result = []
    for row in rows:
        g = row["g"]
        if group == "day":
            key = label = g.isoformat()
        else:
            key = "" if g is None else str(g)
            label = NONE_LABELS[group] if g is None else labels.get(g, f"#{g} (deleted)")
        result.append(
            UsageRow(
                key=key,
                label=label,
                credits=int(row["used"]),
                cutouts=int(row["cutouts"]),
                refunded=int(row["refunded"]),
            )
        )
    if group != "day":
        result.sort(key=lambda r: (-r.credits, r.label))
    return result


def usage_daily(
    *, start: date, end: date, workspace: Workspace | None = None
) -> list[tuple[date, int]]:
    """Credits used per day from ``start`` to ``end`` (inclusive), with zero for quiet days."""
    used = {
        date.fromisoformat(row.key): row.credits
        for row in usage_by(group="day", start=start, end=end, workspace=workspace)
    }
    days = (end - start).days + 1
    return [
        (start + timedelta(days=i), used.get(start + timedelta(days=i), 0)) for i in range(days)
    ]


def usage_series(*, workspace: Workspace, start: date, end: date) -> list[Series]:
    """Credits used per day, net of refunds, by each member and each API key of ``workspace``.

    Work done with an API key counts for the key, other work for the member who did it (deleted
    or no user: "System"); a refund counts for whoever made the debit. A day's value is never
    below zero (a refund can land on a later day than its debit). One value per day from
    ``start`` to ``end`` (inclusive); the busiest series first, each with its chart colour.
    """
    rows = (
        _usage_entries(start, end, workspace)
        .annotate(
            day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()),
            who_user=_who("actor_user_id"),
            who_key=_who("actor_api_key_id"),
        )
        .values("day", "who_user", "who_key")
        .annotate(total=Sum("amount"))
    )
    days = (end - start).days + 1
    buckets: dict[tuple[str, int], list[int]] = {}
    for row in rows:
        who = ("key", row["who_key"]) if row["who_key"] else ("member", row["who_user"] or 0)
        values = buckets.setdefault(who, [0] * days)
        index = (row["day"] - start).days
        if 0 <= index < days:
            values[index] -= int(row["total"] or 0)
    users = dict(
        User.objects.filter(pk__in=[pk for kind, pk in buckets if kind == "member"]).values_list(
            "pk", "email"
        )
    )
    keys = {
        pk: f"{name} ({prefix}…)"
        for pk, name, prefix in ApiKey.objects.filter(
            workspace=workspace, pk__in=[pk for kind, pk in buckets if kind == "key"]
        ).values_list("pk", "name", "prefix")
    }
    ranked = sorted(buckets.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    out: list[Series] = []
    for i, ((kind, pk), values) in enumerate(ranked):
        label = users.get(pk, "System") if kind == "member" else keys.get(pk, f"Key #{pk}")
        colour = PALETTE[i % len(PALETTE)]
        out.append(Series(f"{kind}-{pk}", label, kind, [max(v, 0) for v in values], colour))
    return out


def usage_totals(*, start: date, end: date, workspace: Workspace | None = None) -> UsageTotals:
    qs = _entries(start, end, workspace)
    sums = qs.aggregate(
        used=Coalesce(Sum(-F("amount"), filter=Q(kind=LedgerEntry.Kind.DEBIT)), 0),
        cutouts=Count("id", filter=Q(kind=LedgerEntry.Kind.DEBIT)),
        refunded=Coalesce(
            Sum("amount", filter=Q(kind=LedgerEntry.Kind.REFUND, refund_of__isnull=False)), 0
        ),
        purchased=Coalesce(Sum("amount", filter=Q(kind=LedgerEntry.Kind.PURCHASE)), 0),
        granted=Coalesce(
            Sum("amount", filter=Q(kind__in=(LedgerEntry.Kind.GRANT, LedgerEntry.Kind.TRIAL))), 0
        ),
    )
    since, until = _day_bounds(start, end)
    payments = Payment.objects.filter(paid_at__gte=since, paid_at__lt=until)
    if workspace is not None:
        payments = payments.filter(workspace=workspace)
    revenue: dict[str, int] = {}
    for currency, paid, refunded in payments.values_list(
        "currency", "amount_paid", "amount_refunded"
    ):
        revenue[currency] = revenue.get(currency, 0) + paid - refunded
    return UsageTotals(
        credits=int(sums["used"]),
        cutouts=int(sums["cutouts"]),
        refunded=int(sums["refunded"]),
        purchased=int(sums["purchased"]),
        granted=int(sums["granted"]),
        revenue=revenue,
    )


def ledger_for(workspace: Workspace) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(workspace=workspace).select_related(
        "actor_user", "actor_api_key", "payment"
    )


def payments_for(workspace: Workspace) -> QuerySet[Payment]:
    return Payment.objects.filter(workspace=workspace).exclude(
        status=Payment.Status.PENDING, checkout_url=""
    )


# ---------------------------------------------------------------------------------------------
# Reservations


def reservations_held(
    *, cutout: Cutout | None = None, job_item: JobItem | None = None
) -> QuerySet[Reservation]:
    """Reservations still held for ``cutout`` and/or ``job_item`` (at least one is needed).

    For deciding what to release; :func:`billing.services.credits_release` re-checks each under
    its lock, so a reservation captured meanwhile is left alone.
    """
    if cutout is None and job_item is None:
        raise ValueError("reservations_held needs a cutout or a job item.")
    qs = Reservation.objects.filter(status=Reservation.Status.HELD)
    if cutout is not None:
        qs = qs.filter(cutout=cutout)
    if job_item is not None:
        qs = qs.filter(job_item=job_item)
    return qs.order_by("created_at", "pk")


def _month_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def api_key_month_usage(api_key: ApiKey, *, now: datetime | None = None) -> int:
    """Credits the key captured or holds this calendar month (what its monthly cap limits)."""
    start = _month_start(now or timezone.now())
    total = Reservation.objects.filter(
        api_key=api_key,
        status__in=(Reservation.Status.HELD, Reservation.Status.CAPTURED),
        created_at__gte=start,
    ).aggregate(total=Sum("amount"))["total"]
    return int(total or 0)
