"""Prompt logging under the user's control, end to end in real Chromium: the user turns
logging off on the privacy page, the gateway's next decision says so and the next
generation is listed as "not stored" with its text kept nowhere; the user turns it on
again and the next generation's text is shown. Then keeping less, for less long: the
user chooses to keep text a week, deletes one request's text from its page and finds
the receipt under "Your data"."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db.models import Q
from django.utils import timezone
from playwright.sync_api import Page, expect

from logging_prefs.models import Generation, LoggingPreference, PreferenceChange
from privacy.models import DeletionRequest
from tests.factories.accounts import DEFAULT_PASSWORD, ApiKeyFactory, UserFactory
from tests.helpers.browser import assert_accessible, gateway_post, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "lin@example.com"
LOG_PROMPTS_LABEL = "Store my prompts and completions"
SAVED = "Your privacy choices have been saved."
DETAIL_SCREENSHOT = "/tmp/e2e-activity-detail.png"
STORED_DETAIL_SCREENSHOT = "/tmp/e2e-activity-detail-stored.png"

# What the gateway serves while logging is off, then on again: texts found nowhere else.
OFF = {
    "id": "gen-e2e-logging-off",
    "model": "anthropic/claude-sonnet-4",
    "provider": "Anthropic",
    "app_url": "https://recipes.example.org/",
    "app_title": "Recipe Helper",
    "prompt": "My grandmother's secret quince-and-juniper marmalade, ref QX-7731-ZEBRA",
    "completion": "Simmer the quince with juniper for ZEBRA-7731-QX minutes.",
}
ON = {
    "id": "gen-e2e-logging-on",
    "model": "openai/gpt-4o",
    "provider": "OpenAI",
    "app_url": "https://notes.example.net/",
    "app_title": "Field Notes",
    "prompt": "Summarise the heron survey of lake Vättern, batch HERON-5512-LAKE",
    "completion": "Forty-two grey herons were counted, batch LAKE-5512-HERON.",
}


def gateway_decision(live_server, raw_key: str) -> dict:
    status, decision = gateway_post(live_server, "decisions", {"api_key": raw_key})
    assert status == 200, decision
    return decision


def gateway_posts_generation(live_server, key_id: int, generation: dict) -> dict:
    record = {
        **generation,
        "key_id": key_id,
        "prompt_tokens": 21,
        "completion_tokens": 13,
        "cost_usd": "0.00042000",
        "created_at": (timezone.now() - dt.timedelta(seconds=1)).isoformat(),
    }
    status, result = gateway_post(live_server, "generations", {"generations": [record]})
    assert status == 200, result
    return result


def assert_text_nowhere(page: Page, generation: dict) -> None:
    for text in (generation["prompt"], generation["completion"]):
        assert text not in page.content()
        expect(page.locator("body")).not_to_contain_text(text)


def request_rows(page: Page):
    """The rows of the requests' table, not of the usage breakdowns above it (which
    name the models too)."""
    return page.get_by_role("region", name="Your requests, newest first").locator("tbody tr")


def activity_row(page: Page, generation: dict):
    row = request_rows(page).filter(has_text=generation["model"])
    expect(row).to_have_count(1)
    return row


def expect_listed(page: Page, generation: dict, text: str) -> None:
    cells = activity_row(page, generation).get_by_role("cell")
    expect(cells.nth(1)).to_have_text(generation["model"])
    expect(cells.nth(2)).to_have_text(generation["provider"])
    expect(cells.nth(3)).to_have_text(generation["app_title"])
    expect(cells.nth(4)).to_have_text("My app")
    expect(cells.nth(5)).to_have_text("34")
    expect(cells.nth(7)).to_have_text(text)


def expect_facts(page: Page, generation: dict) -> None:
    facts = page.locator("dl.facts")
    expect(facts.locator("dt:text-is('Model') + dd")).to_have_text(generation["model"])
    expect(facts.locator("dt:text-is('Provider') + dd")).to_have_text(generation["provider"])
    expect(facts.locator("dt:text-is('App') + dd")).to_have_text(
        f"{generation['app_title']} ({generation['app_url']})"
    )
    expect(facts.locator("dt:text-is('Request id') + dd")).to_have_text(generation["id"])


def set_logging_on_privacy_page(page: Page, browser_guard, *, on: bool) -> None:
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Privacy").click()
    expect(page).to_have_url(re.compile(r"/account/privacy/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Privacy")
    browser_guard.assert_clean()
    if not on:  # the first visit: the account's starting settings
        expect(page.get_by_role("main")).to_contain_text("No changes yet")
    box = page.get_by_role("checkbox", name=LOG_PROMPTS_LABEL)
    if on:
        expect(box).not_to_be_checked()
        box.check()
    else:
        expect(box).to_be_checked()
        box.uncheck()
    page.get_by_role("button", name="Save privacy choices").click()
    expect(page).to_have_url(re.compile(r"/account/privacy/$"))
    expect(page.get_by_role("status")).to_have_text(SAVED)
    if on:
        expect(box).to_be_checked()
        expect(page.locator(".status", has_text="prompts and completions")).to_have_text(
            "Now: On, your prompts and completions are stored."
        )
    else:
        expect(box).not_to_be_checked()
        expect(page.locator(".status", has_text="prompts and completions")).to_have_text(
            "Now: Off, your prompts and completions are not stored."
        )
    browser_guard.assert_clean()


def history_rows(page: Page) -> list[list[str]]:
    rows = page.get_by_role("region", name="History of changes").locator("tbody tr")
    return [
        [cell.strip() for cell in row.locator("td").all_inner_texts()[1:]] for row in rows.all()
    ]


def test_a_user_turns_logging_off_and_the_next_generation_is_listed_as_not_stored_then_on_again(
    page: Page, browser_guard, live_server, settings
):
    settings.PORTAL_PROMPT_LOGGING_DEFAULT = True  # the account starts with logging on
    user = UserFactory(email=EMAIL, verified=True)
    api_key = ApiKeyFactory(user=user, name="My app")
    raw_key = api_key.raw_key
    decision = gateway_decision(live_server, raw_key)
    assert decision["key_id"] == api_key.pk
    assert decision["log_prompts"] is True

    # --- Sign in.
    sign_in(page, EMAIL)
    expect(page).to_have_url(re.compile(r"/account/$"))
    browser_guard.assert_clean()

    # --- Untick "Store my prompts and completions" and save.
    set_logging_on_privacy_page(page, browser_guard, on=False)
    assert history_rows(page) == [[LOG_PROMPTS_LABEL, "On → Off", "You"]]
    assert not LoggingPreference.objects.get(user=user).log_prompts
    assert PreferenceChange.objects.filter(user=user).count() == 1

    # --- The gateway's next decision says "do not log"; the generation it then posts
    # is stored without its text (the portal checks again, it does not trust the
    # gateway to have left the text out).
    decision = gateway_decision(live_server, raw_key)
    assert decision["log_prompts"] is False
    result = gateway_posts_generation(live_server, decision["key_id"], OFF)
    assert result == {"stored": 1, "with_text": 0, "duplicates": 0, "rejected": []}
    stored_off = Generation.objects.get(gateway_id=OFF["id"])
    assert stored_off.user_id == user.pk
    assert stored_off.text_state == Generation.TextState.NOT_LOGGED
    assert stored_off.prompt is None
    assert stored_off.completion is None
    for text in (OFF["prompt"], OFF["completion"]):
        assert not Generation.objects.filter(
            Q(prompt__contains=text) | Q(completion__contains=text)
        ).exists()

    # --- Activity lists it (model, app) as "not stored"; its detail says why.
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Activity").click()
    expect(page).to_have_url(re.compile(r"/account/activity/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Activity")
    expect(request_rows(page)).to_have_count(1)
    expect_listed(page, OFF, "Not stored")
    assert_text_nowhere(page, OFF)
    browser_guard.assert_clean()

    activity_row(page, OFF).get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/account/activity/{stored_off.pk}/$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Request of")
    expect_facts(page, OFF)
    main = page.get_by_role("main")
    expect(main).to_contain_text("Not stored: logging was off.")
    expect(main).to_contain_text("its text was never stored")
    expect(page.locator("pre")).to_have_count(0)
    assert_text_nowhere(page, OFF)
    browser_guard.assert_clean()
    page.screenshot(path=DETAIL_SCREENSHOT, full_page=True)

    # --- Logging on again: the next decision allows it, the next generation's text is
    # stored and shown; the earlier one stays "not stored".
    set_logging_on_privacy_page(page, browser_guard, on=True)
    assert history_rows(page) == [
        [LOG_PROMPTS_LABEL, "Off → On", "You"],
        [LOG_PROMPTS_LABEL, "On → Off", "You"],
    ]
    assert LoggingPreference.objects.get(user=user).log_prompts

    decision = gateway_decision(live_server, raw_key)
    assert decision["log_prompts"] is True
    result = gateway_posts_generation(live_server, decision["key_id"], ON)
    assert result == {"stored": 1, "with_text": 1, "duplicates": 0, "rejected": []}
    stored_on = Generation.objects.get(gateway_id=ON["id"])
    assert stored_on.text_state == Generation.TextState.STORED
    assert (stored_on.prompt, stored_on.completion) == (ON["prompt"], ON["completion"])

    page.get_by_role("navigation", name="Account").get_by_role("link", name="Activity").click()
    expect(page).to_have_url(re.compile(r"/account/activity/$"))
    rows = request_rows(page)
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(ON["model"])  # newest first
    expect_listed(page, ON, "Stored")
    expect_listed(page, OFF, "Not stored")
    assert_text_nowhere(page, OFF)
    assert_text_nowhere(page, ON)  # the list shows no text, only whether it is kept
    browser_guard.assert_clean()

    activity_row(page, ON).get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/account/activity/{stored_on.pk}/$"))
    expect_facts(page, ON)
    main = page.get_by_role("main")
    expect(main).to_contain_text("Stored because prompt logging was on for this request.")
    expect(main).not_to_contain_text("Not stored")
    blocks = page.locator("pre.text-block")
    expect(blocks).to_have_count(2)
    expect(blocks.nth(0)).to_have_text(ON["prompt"])
    expect(blocks.nth(1)).to_have_text(ON["completion"])
    assert_text_nowhere(page, OFF)
    browser_guard.assert_clean()
    page.screenshot(path=STORED_DETAIL_SCREENSHOT, full_page=True)

    # The generation posted while logging was off did not gain its text afterwards.
    stored_off.refresh_from_db()
    assert stored_off.text_state == Generation.TextState.NOT_LOGGED
    assert (stored_off.prompt, stored_off.completion) == (None, None)


KEPT = {
    "id": "gen-e2e-keep-less",
    "model": "mistralai/mistral-large",
    "provider": "Mistral",
    "app_url": "https://letters.example.org/",
    "app_title": "Letter Writer",
    "prompt": "Draft a letter to my landlord about flat 4B, ref OTTER-2291-MOSS",
    "completion": "Dear landlord, regarding flat 4B (MOSS-2291-OTTER) ...",
}
RETENTION_LABEL = "Keep my stored prompts and completions for"


def test_a_user_keeps_text_a_week_and_deletes_one_requests_text_with_a_receipt(
    page: Page, browser_guard, live_server, settings
):
    settings.PORTAL_PROMPT_LOGGING_DEFAULT = True
    settings.PORTAL_PROMPT_RETENTION_DAYS = 30
    user = UserFactory(email=EMAIL, verified=True)
    api_key = ApiKeyFactory(user=user, name="My app")
    result = gateway_posts_generation(live_server, api_key.pk, KEPT)
    assert result["with_text"] == 1
    stored = Generation.objects.get(gateway_id=KEPT["id"])

    sign_in(page, EMAIL)
    expect(page).to_have_url(re.compile(r"/account/$"))

    # --- Privacy: keep stored text 7 days instead of the portal's 30.
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Privacy").click()
    section = page.get_by_role("region", name="How long your prompts and completions are kept")
    expect(section).to_contain_text("Now: 30 days, the longest we keep them.")
    expect(section).to_contain_text("takes effect at its next run")
    section.get_by_label(RETENTION_LABEL).select_option("7")
    section.get_by_role("button", name="Save how long they are kept").click()
    expect(page).to_have_url(re.compile(r"/account/privacy/#retention-title$"))
    expect(page.get_by_role("status")).to_contain_text("now kept 7 days")
    expect(page.get_by_role("status")).to_contain_text("at the next nightly clean-up")
    expect(section).to_contain_text("Now: 7 days.")
    expect(section.get_by_label(RETENTION_LABEL)).to_have_value("7")
    assert history_rows(page) == [[RETENTION_LABEL, "30 days → 7 days", "You"]]
    assert LoggingPreference.objects.get(user=user).text_retention_days == 7
    assert_accessible(page)
    browser_guard.assert_clean()

    # --- The request's page says the new period, and deletes its text on request.
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Activity").click()
    activity_row(page, KEPT).get_by_role("link").first.click()
    expect(page).to_have_url(re.compile(rf"/account/activity/{stored.pk}/$"))
    main = page.get_by_role("main")
    expect(main).to_contain_text("It is deleted 7 days after the request")
    expect(page.locator("pre.text-block").nth(0)).to_have_text(KEPT["prompt"])
    assert_accessible(page)
    page.get_by_role("button", name="Delete this prompt and completion").click()
    expect(page).to_have_url(re.compile(rf"/account/activity/{stored.pk}/$"))
    expect(page.get_by_role("status")).to_have_text(
        "The prompt and completion of this request are deleted. The receipt is under Your data."
    )
    expect(main).to_contain_text("Deleted at your request.")
    expect(page.locator("pre")).to_have_count(0)
    assert_text_nowhere(page, KEPT)
    expect_facts(page, KEPT)  # the metadata stays
    assert_accessible(page)
    browser_guard.assert_clean()
    stored.refresh_from_db()
    assert stored.text_state == Generation.TextState.DELETED and stored.prompt is None

    # --- The receipt, under "Your data" (behind the password, as always).
    main.locator("p", has_text="The receipt is under").get_by_role("link", name="Your data").click()
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/"))
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/account/data/$"))
    receipts = page.get_by_role("region", name="Past requests and receipts")
    receipt = receipts.get_by_role("article", name="The prompt and completion of one request")
    expect(receipt).to_contain_text("Completed: everything this request covered is erased.")
    expect(receipt).to_contain_text("Prompt and completion text of 1 requests (generations)")
    assert_text_nowhere(page, KEPT)
    assert_accessible(page)
    browser_guard.assert_clean()
    assert DeletionRequest.objects.get(user_id=user.pk).receipt["generation"] == stored.pk
