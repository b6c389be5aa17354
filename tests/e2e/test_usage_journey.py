"""Usage at a glance, end to end in real Chromium: a person opens the activity page and
sees the period's totals and the charts (inline SVG, no CSP violation), narrows the
period, downloads the activity as CSV and opens it: exactly the requests of that
period, and none of their text."""

from __future__ import annotations

import csv
import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.actions import do_create_api_key
from logging_prefs.actions import do_ingest_generations
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory
from tests.helpers.browser import assert_accessible, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "ines@example.com"
SCREENSHOT = "/tmp/e2e-usage.png"
SECRET = "The itinerary for the Lisbon trip, booking ref LIS-4471-TRAM"


def generations(key_id: int, count: int, *, days_ago: int, model: str, cost: str) -> list[dict]:
    newest = timezone.now() - dt.timedelta(days=days_ago)
    return [
        {
            "id": f"gen-usage-{model}-{days_ago}-{index}",
            "key_id": key_id,
            "model": model,
            "provider": "OpenAI" if model.startswith("openai") else "Mistral",
            "app_url": "https://travel.example.org/",
            "app_title": "Trip Planner",
            "prompt": SECRET,
            "completion": "Take tram 28.",
            "prompt_tokens": 100,
            "completion_tokens": 50,
            "cost_usd": cost,
            "created_at": (newest - dt.timedelta(minutes=index)).isoformat(),
        }
        for index in range(count)
    ]


def totals(page: Page) -> dict[str, str]:
    terms = page.locator(".usage-totals dt").all_inner_texts()
    values = page.locator(".usage-totals dd").all_inner_texts()
    return dict(zip(terms, values, strict=True))


def test_a_person_sees_their_usage_narrows_the_period_and_downloads_it_as_csv(
    page: Page, browser_guard, tmp_path
):
    person = UserFactory(email=EMAIL)
    api_key, _ = do_create_api_key(user=person, acting_user=person, name="Travel app")
    records = [
        *generations(api_key.pk, 3, days_ago=1, model="openai/gpt-4o", cost="0.01000000"),
        *generations(api_key.pk, 2, days_ago=20, model="mistral/large", cost="0.50000000"),
    ]
    assert do_ingest_generations(records=records).stored == 5

    sign_in(page, EMAIL, DEFAULT_PASSWORD)
    page.goto("/account/activity/")
    expect(page.get_by_role("heading", level=2, name="Usage: Last 30 days")).to_be_visible()
    assert totals(page) == {"Requests": "5", "Tokens": "750", "Cost (USD)": "1.03"}
    cost_chart = page.get_by_role("img", name="Cost per day (USD)")
    expect(cost_chart).to_be_visible()
    expect(page.get_by_role("img", name="Tokens per day")).to_be_visible()
    # pygal drew 30 bars, styled by the stylesheet (a style pygal wrote inline would be
    # blocked and reported by the guard): the bars are filled, not black.
    expect(cost_chart.locator(".bar rect")).to_have_count(30)
    fill = cost_chart.locator(".bar rect").last.evaluate("(rect) => getComputedStyle(rect).fill")
    assert fill not in ("rgb(0, 0, 0)", "none"), fill
    breakdown = page.get_by_role("region", name="By model")
    expect(breakdown.locator("tbody tr")).to_have_count(2)
    expect(breakdown.locator("tbody tr").first).to_contain_text("mistral/large")
    browser_guard.assert_clean()
    assert_accessible(page)
    page.screenshot(path=SCREENSHOT, full_page=True)

    # Narrow the period to the last 7 days: the older requests leave totals and list.
    page.get_by_label("Period").select_option(label="Last 7 days")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"period=7"))
    expect(page.get_by_role("heading", level=2, name="Usage: Last 7 days")).to_be_visible()
    assert totals(page) == {"Requests": "3", "Tokens": "450", "Cost (USD)": "0.03"}
    expect(page.get_by_label("Period")).to_have_value("7")
    expect(page.get_by_role("img", name="Cost per day (USD)").locator(".bar rect")).to_have_count(7)
    browser_guard.assert_clean()

    # Download the CSV of what is shown, and open it.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download as CSV").click()
    download = download_info.value
    assert re.fullmatch(r"activity-\d{4}-\d{2}-\d{2}\.csv", download.suggested_filename)
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    with saved.open(newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert sorted(row["request_id"] for row in rows) == sorted(
        record["id"] for record in records[:3]
    )
    assert {row["model"] for row in rows} == {"openai/gpt-4o"}
    assert {row["key_name"] for row in rows} == {"Travel app"}
    assert {row["app_title"] for row in rows} == {"Trip Planner"}
    content = saved.read_text(encoding="utf-8")
    assert SECRET not in content and "tram 28" not in content
    browser_guard.assert_clean()
