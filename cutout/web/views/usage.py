"""The workspace's usage page: credits per day, per member and per API key (billing's usage
selector and chart, as on the billing pages)."""

from __future__ import annotations

from datetime import timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from billing.charts import stacked_chart
from billing.selectors import usage_series
from cutout.web.common import current_workspace, workspace_page


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
