from __future__ import annotations

import re
from datetime import date, timedelta
from xml.etree import ElementTree

from billing.charts import Series, bar_chart, stacked_chart


def points(values):
    start = date(2026, 1, 1)
    return [(start + timedelta(days=i), v) for i, v in enumerate(values)]


def test_chart_is_valid_svg_with_one_bar_per_day():
    svg = bar_chart(points([0, 3, 7, 0, 1]), title="Usage <&>")
    root = ElementTree.fromstring(str(svg))  # noqa: S314 - our own output
    ns = "{http://www.w3.org/2000/svg}"
    bars = root.findall(f".//{ns}rect")
    assert [b.get("data-value") for b in bars] == ["0", "3", "7", "0", "1"]
    heights = [float(b.get("height") or 0) for b in bars]
    assert heights[2] == max(heights) and heights[0] == 0
    assert abs(heights[1] / heights[2] - 3 / 7) < 0.01
    title = root.find(f"{ns}title")
    assert title is not None and title.text == "Usage <&>"  # escaped in the markup, intact here


def test_axis_labels_are_whole_numbers_and_cover_the_top():
    svg = str(bar_chart(points([0, 3, 7, 0, 1])))
    ticks = [int(t.replace(",", "")) for t in re.findall(r'text-anchor="end">([\d,]+)<', svg)]
    assert ticks == [0, 2, 4, 6, 8]
    assert str(bar_chart(points([0, 0]))).count('text-anchor="end"') == 5
    big = str(bar_chart(points([12_345])))
    assert ">20,000<" in big


def test_day_labels_do_not_crowd():
    svg = str(bar_chart(points([1] * 30)))
    labels = re.findall(r'text-anchor="middle">([A-Z][a-z]{2} \d\d)<', svg)
    assert 5 <= len(labels) <= 9
    assert labels[-1] == "Jan 30"  # the last day is always labelled


def stacked(*rows):
    return [
        Series(key=f"s{i}", label=f"Member <{i}>", kind="member", values=list(v), colour=c)
        for i, (v, c) in enumerate(zip(rows, ("#111111", "#222222", "#333333"), strict=False))
    ]


def test_stacked_chart_stacks_every_series_on_each_day():
    start = date(2026, 1, 1)
    svg = str(stacked_chart(stacked([1, 0, 4], [2, 0, 4]), start, 3))
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own output
    ns = "{http://www.w3.org/2000/svg}"
    bars = root.findall(f".//{ns}rect")
    cells = [(b.get("data-day"), b.get("data-series"), b.get("data-value")) for b in bars]
    assert cells == [
        ("2026-01-01", "s0", "1"),
        ("2026-01-01", "s1", "2"),
        ("2026-01-02", "s0", "0"),
        ("2026-01-02", "s1", "0"),
        ("2026-01-03", "s0", "4"),
        ("2026-01-03", "s1", "4"),
    ]
    first, second = bars[4], bars[5]  # Jan 3: the second series sits on top of the first
    y = float(first.get("y") or 0)
    assert float(second.get("y") or 0) + float(second.get("height") or 0) == y
    assert first.get("fill") == "#111111" and second.get("fill") == "#222222"
    ticks = [int(t) for t in re.findall(r'text-anchor="end">([\d,]+)<', svg)]
    assert ticks == [0, 2, 4, 6, 8]  # the busiest day is 8 in all
    tip = bars[1].find(f"{ns}title")
    assert tip is not None and tip.text == "2026-01-01 · Member <1>: 2 credits"
    desc = root.find(f"{ns}desc")
    assert desc is not None and desc.text == (
        "11 credits from 2026-01-01 to 2026-01-03; busiest day 8."
    )


def test_stacked_chart_without_series_is_an_empty_axis():
    svg = str(stacked_chart([], date(2026, 1, 1), 30))
    root = ElementTree.fromstring(svg)  # noqa: S314 - our own output
    assert root.findall(".//{http://www.w3.org/2000/svg}rect") == []
    assert svg.count('text-anchor="end"') == 5
    assert "Jan 30" in svg
