"""The staff usage report: filters read from the query string, the report they select, its CSV.

Shown at ``/staff/usage`` (:func:`billing.views.usage`) and inside the admin
(:class:`billing.admin.UsageReportAdmin`); both render ``billing/_usage_report.html``.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.models import Workspace
from billing import selectors
from billing.charts import bar_chart
from billing.models import format_money
from cutout.spreadsheet import safe_row


def _parse_day(raw: str | None, default: date) -> date:
    try:
        return date.fromisoformat(raw) if raw else default
    except ValueError:
        return default


def context(request: HttpRequest) -> dict[str, Any]:
    """Filters from the query string and the report they select."""
    today = timezone.localdate()
    end = _parse_day(request.GET.get("end"), today)
    start = _parse_day(request.GET.get("start"), end - timedelta(days=29))
    if start > end:
        start, end = end, start
    if (end - start).days > 366:
        start = end - timedelta(days=366)
    group = request.GET.get("group", "workspace")
    if group not in selectors.GROUPS:
        group = "workspace"
    workspace = None
    ws_raw = request.GET.get("workspace", "")
    if ws_raw.isdigit():
        workspace = Workspace.objects.filter(pk=int(ws_raw)).first()
    rows = selectors.usage_by(group=group, start=start, end=end, workspace=workspace)
    totals = selectors.usage_totals(start=start, end=end, workspace=workspace)
    return {
        "start": start,
        "end": end,
        "group": group,
        "groups": selectors.GROUPS,
        "workspace": workspace,
        "workspaces": list(selectors.workspace_labels().items()),
        "rows": rows,
        "group_label": selectors.GROUPS[group],
        "totals": totals,
        "revenue": [format_money(m, c) for c, m in sorted(totals.revenue.items())],
        "chart": bar_chart(selectors.usage_daily(start=start, end=end, workspace=workspace)),
        "query": request.GET.urlencode(),
    }


def csv_response(context: dict[str, Any]) -> HttpResponse:
    group = context["group"]
    name = f"cutout-usage-{group}-{context['start']}-{context['end']}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow([selectors.GROUPS[group], "id", "credits used", "cutouts", "refunded", "net"])
    for row in context["rows"]:
        # Names are people's own text: spreadsheets must show them, never run them.
        writer.writerow(
            safe_row([row.label, row.key, row.credits, row.cutouts, row.refunded, row.net])
        )
    totals = context["totals"]
    writer.writerow(["Total", "", totals.credits, totals.cutouts, totals.refunded, totals.net])
    return response
