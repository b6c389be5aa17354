"""Downloading one's data, end to end in real Chromium: sign in, "Your data", re-enter
the password, "Download my data"; the browser saves one JSON file holding the account,
its key and the prompts the gateway posted, and nothing secret."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import ApiKey, User
from tests.factories.accounts import DEFAULT_PASSWORD, ApiKeyFactory, UserFactory
from tests.helpers.browser import gateway_post, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "katherine@example.com"


def test_a_user_downloads_their_data_as_one_json_file(page: Page, browser_guard, live_server):
    user = UserFactory(email=EMAIL, verified=True)
    api_key = ApiKeyFactory(user=user, name="Orbit app")
    status, answer = gateway_post(
        live_server,
        "generations",
        {
            "generations": [
                {
                    "id": "gen-download-1",
                    "key_id": api_key.pk,
                    "model": "openai/gpt-4o",
                    "provider": "OpenAI",
                    "app_url": "https://orbits.example.com/",
                    "app_title": "Orbits",
                    "prompt": "Compute the re-entry window for Friendship 7.",
                    "completion": "Between 14:20 and 14:43 UTC.",
                    "prompt_tokens": 12,
                    "completion_tokens": 9,
                    "cost_usd": "0.0004",
                    "created_at": "2026-11-27T10:00:00Z",
                }
            ]
        },
    )
    assert (status, answer["with_text"]) == (200, 1), answer

    # --- Sign in; the account menu leads to "Your data", behind the password again.
    sign_in(page, EMAIL)
    expect(page).to_have_url(re.compile(r"/account/$"))
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Your data").click()
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/\?next=%2Faccount%2Fdata%2F$"))
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/account/data/$"))
    section = page.get_by_role("region", name="Download your data")
    expect(section).to_contain_text("everything we hold about you")
    browser_guard.assert_clean()

    # --- The download: one file, saved by the browser; the page stays where it was.
    with page.expect_download() as download_info:
        section.get_by_role("link", name="Download my data").click()
    download = download_info.value
    assert re.fullmatch(r"portal-data-\d{4}-\d{2}-\d{2}\.json", download.suggested_filename)
    assert download.failure() is None
    text = download.path().read_text(encoding="utf-8")
    expect(page).to_have_url(re.compile(r"/account/data/$"))

    doc = json.loads(text)
    assert doc["complete"] is True
    assert doc["records"]["accounts.user"][0]["email"] == EMAIL
    assert [k["name"] for k in doc["records"]["accounts.apikey"]] == ["Orbit app"]
    (generation,) = doc["records"]["logging_prefs.generation"]
    assert generation["prompt"] == "Compute the re-entry window for Friendship 7."
    assert generation["app_url"] == "https://orbits.example.com/"
    assert User.objects.get(pk=user.pk).password not in text
    assert ApiKey.objects.get(pk=api_key.pk).hashed_key not in text
    # Chromium reports the navigation that turned into a download as aborted, which the
    # guard leaves out (tests/helpers/browser.py): nothing else went wrong.
    browser_guard.assert_clean()
