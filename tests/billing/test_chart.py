from __future__ import annotations

import re
from datetime import date, timedelta
from xml.etree import ElementTree

from billing.charts import bar_chart


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
