"""A key's own provider rules, end to end in real Chromium: a person whose account allows
paid endpoints that train creates a key that uses zero-data-retention endpoints only, the
gateway routes that key's requests to those alone while the account's choices stay as
they are; on the key's page they swap the rule for "no training", see where the key may
go now, and the gateway's next decision and routes follow."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from catalog.models import Endpoint, LanguageModel, Provider
from logging_prefs.actions import do_set_logging_preferences
from logging_prefs.selectors import logging_preference_for_user
from tests.factories.accounts import UserFactory
from tests.helpers.browser import gateway_post, sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "mo@example.com"
MODEL = "acme/writer-3"
ZDR_LABEL = "Zero-data-retention endpoints only, for this key"
NO_TRAINING_LABEL = "No endpoints that may train on prompts, for this key"


def make_catalog() -> None:
    model = LanguageModel.objects.create(author="acme", slug="writer-3", name="Acme Writer 3")
    region = settings.PORTAL_DATA_REGION
    Endpoint.objects.create(
        model=model,
        provider=Provider.objects.create(slug="careful", name="Careful Cloud"),
        input_price=Decimal("3.00"),
        output_price=Decimal("15.00"),
        region=region,
    )
    Endpoint.objects.create(
        model=model,
        provider=Provider.objects.create(slug="keeper", name="Keeper Co"),
        input_price=Decimal("2.00"),
        output_price=Decimal("4.00"),
        retains_prompts=True,
        region=region,
    )
    Endpoint.objects.create(
        model=model,
        provider=Provider.objects.create(slug="trainer", name="Trainer Inc"),
        input_price=Decimal("1.00"),
        output_price=Decimal("2.00"),
        trains_on_prompts=True,
        region=region,
    )


def routed(live_server, raw_key: str) -> list[str]:
    status, answer = gateway_post(live_server, "routes", {"api_key": raw_key, "model": MODEL})
    assert status == 200, answer
    return [endpoint["provider"] for endpoint in answer["endpoints"]]


def policy(live_server, raw_key: str) -> dict:
    status, answer = gateway_post(live_server, "decisions", {"api_key": raw_key})
    assert status == 200, answer
    return answer["provider_policy"]


def test_a_key_narrows_its_accounts_providers_and_the_gateway_follows(
    page: Page, browser_guard, live_server
):
    make_catalog()
    user = UserFactory(email=EMAIL, verified=True)
    do_set_logging_preferences(user=user, acting_user=user, changes={"allow_training_paid": True})

    # --- Create a key that uses zero-data-retention endpoints only.
    sign_in(page, EMAIL)
    page.goto("/account/keys/")
    page.get_by_label("Name").fill("Careful app")
    page.get_by_role("checkbox", name=ZDR_LABEL).check()
    page.get_by_role("button", name="Create key").click()
    raw_key = page.get_by_role("textbox", name="Your API key").input_value()
    row = page.locator("tbody tr").filter(has_text="Careful app")
    expect(row).to_contain_text("Zero-data-retention only")
    browser_guard.assert_clean()

    assert routed(live_server, raw_key) == ["Careful Cloud"]
    assert policy(live_server, raw_key)["zdr_only"] is True
    # The account's choices are untouched: a key narrows them for itself alone.
    assert logging_preference_for_user(user=user).allow_training_paid is True

    # --- On the key's page: where it may go, and a different rule.
    row.get_by_role("link", name=re.compile("^Manage")).click()
    effective = page.get_by_role("region", name=re.compile("^Where this key's requests may go"))
    expect(
        effective.get_by_role("row", name=re.compile("^Zero-data-retention endpoints only "))
    ).to_contain_text("(narrowed by this key)")
    page.get_by_role("checkbox", name=ZDR_LABEL).uncheck()
    page.get_by_role("checkbox", name=NO_TRAINING_LABEL).check()
    page.get_by_role("button", name="Save provider rules").click()
    expect(page.get_by_text(f"“Careful app”: {NO_TRAINING_LABEL} is now on.")).to_be_visible()
    expect(page.get_by_role("checkbox", name=NO_TRAINING_LABEL)).to_be_checked()
    expect(page.get_by_role("checkbox", name=ZDR_LABEL)).not_to_be_checked()
    expect(
        effective.get_by_role("row", name=re.compile("^Allow paid endpoints that may train"))
    ).to_contain_text("Not allowed (narrowed by this key)")
    browser_guard.assert_clean()

    assert routed(live_server, raw_key) == ["Keeper Co", "Careful Cloud"]
    decided = policy(live_server, raw_key)
    assert (decided["zdr_only"], decided["allow_training_paid"]) == (False, False)
