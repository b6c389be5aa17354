"""The activity page's charts are drawn once per set of figures: the cache key is a
digest of what they draw, so new figures are a new drawing and never an old one."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from logging_prefs import charts
from logging_prefs.selectors import UsageFigures

DAY = dt.date(2026, 12, 7)


def bars_of(cost: str, tokens: int = 100) -> tuple[str, list[charts.Bucket]]:
    figures = {DAY: UsageFigures(1, tokens, 0, Decimal(cost))}
    return charts.buckets(figures, DAY - dt.timedelta(days=2), DAY)


@pytest.fixture
def draws(monkeypatch):
    """How many times the charts were drawn (pygal ran)."""
    calls = []
    draw = charts._draw_usage_charts

    def counted(bars, unit):
        calls.append(unit)
        return draw(bars, unit)

    monkeypatch.setattr(charts, "_draw_usage_charts", counted)
    return calls


def test_the_same_figures_are_drawn_once_and_new_figures_anew(draws, settings):
    settings.PORTAL_CHART_CACHE_SECONDS = 60
    unit, bars = bars_of("0.12345601")
    first = charts.usage_charts(bars, unit)
    unit2, bars2 = bars_of("0.12345601")
    again = charts.usage_charts(bars2, unit2)
    assert again == first and len(draws) == 1
    # A new request today: the same days, one value changed by a hundred-millionth.
    unit3, bars3 = bars_of("0.12345602")
    charts.usage_charts(bars3, unit3)
    assert len(draws) == 2
    # The tokens alone changed: a new drawing too.
    unit4, bars4 = bars_of("0.12345601", tokens=101)
    charts.usage_charts(bars4, unit4)
    assert len(draws) == 3


def test_the_cached_drawing_is_the_drawing(settings):
    settings.PORTAL_CHART_CACHE_SECONDS = 60
    unit, bars = bars_of("3.5", tokens=1234)
    charts.usage_charts(bars, unit)
    assert charts.usage_charts(bars, unit) == charts._draw_usage_charts(bars, unit)


def test_zero_seconds_draws_every_time(draws, settings):
    settings.PORTAL_CHART_CACHE_SECONDS = 0
    unit, bars = bars_of("1.25")
    charts.usage_charts(bars, unit)
    charts.usage_charts(bars, unit)
    assert len(draws) == 2


def test_a_cache_that_cannot_be_reached_is_skipped(draws, settings, monkeypatch):
    settings.PORTAL_CHART_CACHE_SECONDS = 60

    def down(*args, **kwargs):
        raise RedisConnectionError("the cache is down")

    monkeypatch.setattr(charts.cache, "get", down)
    monkeypatch.setattr(charts.cache, "set", down)
    unit, bars = bars_of("2.5")
    drawn = charts.usage_charts(bars, unit)
    assert drawn["cost"].startswith("<svg") and len(draws) == 1


def test_the_key_names_no_account_only_the_figures():
    unit, bars = bars_of("0.5")
    key = charts._cache_key(bars, unit)
    assert key.startswith("usage-charts:") and len(key) == len("usage-charts:") + 64
    same_unit, same_bars = bars_of("0.5")
    assert charts._cache_key(same_bars, same_unit) == key
