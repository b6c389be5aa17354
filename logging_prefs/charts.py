"""The activity page's charts: SVG drawn on the server with pygal, inline in the page.

pygal draws the bars, axes and labels; what it adds for its own standalone files is
taken out (see _fit_for_the_page), because the page's Content Security Policy allows
no inline script and no inline style (style-src 'self'): its <script> of configuration,
its <style> element, its style attributes and the tooltip they serve. The colours,
fonts and sizes come from the page's stylesheet (static/css/portal.css, `.usage-chart`),
which also gives them the dark scheme. Nothing here needs JavaScript; the figures are
in a table beside each chart for screen readers and for anyone who prefers numbers.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from xml.etree import ElementTree as ET

import pygal
from django.conf import settings
from django.core.cache import cache
from redis.exceptions import RedisError

from logging_prefs.selectors import UsageFigures

# Past this many days a bar per day is too thin to read: the chart shows months.
MAX_DAILY_BARS = 92
# Past this many days (ten years), the range is cut to the days with requests.
MAX_RANGE_DAYS = 3660
# Changed whenever what the charts draw changes, so a cached drawing is never an old one.
CHARTS_VERSION = 1

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bucket:
    """One bar of the chart: a day, or a month for long periods."""

    start: dt.date
    label: str
    figures: UsageFigures


def buckets(
    by_day: dict[dt.date, UsageFigures], first: dt.date | None, last: dt.date
) -> tuple[str, list[Bucket]]:
    """The bars from `first` to `last` (both included; `first` None: the first day with
    requests), every day or month present, zero when nothing was used. Returns the unit
    ("day" or "month") and the bars."""
    if first is None:
        first = min(by_day, default=last)
    if by_day and (last - first).days > MAX_RANGE_DAYS:
        # A long range (the form allows 2000 to 9998) is charted from its first
        # request to its last, or today: a bar per month of data, not of the range.
        first = max(first, min(by_day))
        last = min(last, max(max(by_day), first))
    first = min(first, last)
    if (last - first).days + 1 <= MAX_DAILY_BARS:
        days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
        return "day", [
            Bucket(day, day.strftime("%-d %b"), by_day.get(day, UsageFigures())) for day in days
        ]
    months: dict[dt.date, UsageFigures] = {}
    month = first.replace(day=1)
    while month <= last:
        months[month] = UsageFigures()
        month = (month + dt.timedelta(days=32)).replace(day=1)
    for day, figures in by_day.items():
        start = day.replace(day=1)
        if start in months:
            months[start] += figures
    return "month", [
        Bucket(start, start.strftime("%b %Y"), figures) for start, figures in months.items()
    ]


def _fit_for_the_page(chart_id: str, title_id: str) -> Callable[[ET.Element], ET.Element]:
    """A pygal xml filter: what the page's CSP would block goes, and the SVG becomes one
    image with a name for assistive technology (its children are presentation)."""

    def fit(root: ET.Element) -> ET.Element:
        for parent in list(root.iter()):
            for child in list(parent):
                if not isinstance(child.tag, str):  # pygal's credit comments
                    parent.remove(child)
                    continue
                # pygal writes the tags without a namespace (xmlns is an attribute).
                name = child.tag.rsplit("}", 1)[-1]
                if name in ("script", "style") or "tooltip-overlay" in (child.get("class") or ""):
                    parent.remove(child)
        for element in root.iter():
            element.attrib.pop("style", None)
        root.set("id", chart_id)
        root.set("role", "img")
        root.set("aria-labelledby", title_id)
        root.set("focusable", "false")
        title = next((c for c in root if str(c.tag).endswith("title")), None)
        if title is not None:
            title.set("id", title_id)
        return root

    return fit


def bar_chart(
    *,
    chart_id: str,
    title: str,
    bars: list[Bucket],
    value: Callable[[UsageFigures], float],
    formatter: Callable[[float], str],
) -> str:
    """An inline SVG bar chart of `value` for each bar, titled `title`."""
    chart = pygal.Bar(
        width=800,
        height=320,
        show_legend=False,
        js=[],
        css=[],
        # The stylesheet's rules apply to the class names as pygal writes them.
        no_prefix=True,
        disable_xml_declaration=True,
        classes=["pygal-chart", "usage-chart"],
        x_label_rotation=0,
        show_minor_x_labels=False,
        x_labels_major_count=min(len(bars), 8),
        y_labels_major_every=None,
        truncate_label=-1,
        margin=12,
        # Room for the last day's label, centred on the last bar.
        margin_right=28,
        spacing=6,
        value_formatter=formatter,
        print_values=False,
        include_x_axis=True,
    )
    chart.title = title
    chart.x_labels = [bar.label for bar in bars]
    chart.add(title, [value(bar.figures) for bar in bars])
    chart.add_xml_filter(_fit_for_the_page(chart_id, f"{chart_id}-title"))
    return chart.render(is_unicode=True)


def cost_label(value: float) -> str:
    """Dollars and cents; below a cent, two significant digits."""
    if value == 0 or abs(value) >= 0.01:
        return f"${value:,.2f}"
    return f"${value:.2g}"


def tokens_label(value: float) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:,.1f}{suffix}"
    return f"{value:,.0f}"


def _cache_key(bars: list[Bucket], unit: str) -> str:
    """The cache key of the charts of exactly these figures: the drawing is a function
    of the unit, the bars' labels and their two values, and of nothing else."""
    drawn = repr(
        (CHARTS_VERSION, pygal.__version__, unit)
        + tuple((bar.label, str(bar.figures.cost_usd), bar.figures.tokens) for bar in bars)
    )
    return "usage-charts:" + hashlib.sha256(drawn.encode()).hexdigest()


def usage_charts(bars: list[Bucket], unit: str) -> dict[str, str]:
    """The page's two charts: cost and tokens per day (or month).

    pygal takes about 15 ms for the two (half the page's CPU time, bench/README.md,
    "activity"), so a drawing is kept in the cache under a digest of the figures it
    draws: the next page with the same figures (the next page of the list, a reload, a
    filter that leaves the period's usage as it is) reuses it, and new figures (a new
    request today) are a new key, so a cached chart is never out of date. No account id
    in the key or the drawing: only the figures themselves. PORTAL_CHART_CACHE_SECONDS
    0 turns it off; a cache that cannot be reached is skipped.
    """
    timeout = settings.PORTAL_CHART_CACHE_SECONDS
    if timeout <= 0:
        return _draw_usage_charts(bars, unit)
    key = _cache_key(bars, unit)
    try:
        cached = cache.get(key)
    except RedisError:
        logger.warning("the chart cache could not be read; drawing the charts", exc_info=True)
        return _draw_usage_charts(bars, unit)
    if cached is not None:
        return cached
    charts = _draw_usage_charts(bars, unit)
    try:
        cache.set(key, charts, timeout)
    except RedisError:
        logger.warning("the chart cache could not be written", exc_info=True)
    return charts


def _draw_usage_charts(bars: list[Bucket], unit: str) -> dict[str, str]:
    return {
        "cost": bar_chart(
            chart_id="chart-cost",
            title=f"Cost per {unit} (USD)",
            bars=bars,
            value=lambda figures: float(figures.cost_usd or Decimal(0)),
            formatter=cost_label,
        ),
        "tokens": bar_chart(
            chart_id="chart-tokens",
            title=f"Tokens per {unit}",
            bars=bars,
            value=lambda figures: figures.tokens,
            formatter=tokens_label,
        ),
    }
