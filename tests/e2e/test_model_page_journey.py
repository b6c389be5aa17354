"""Provider data policies on the model page, end to end in real Chromium: a visitor
opens a model from the main navigation and reads each provider's data policy and what a
privacy choice would cost or save; signed in, the same page says which endpoints the
user's privacy choices allow, the privacy page says what each choice opens or closes,
and a choice changed there shows on the model page at once."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.conf import settings
from playwright.sync_api import Page, expect

from catalog.models import Endpoint, LanguageModel, Provider
from tests.factories.accounts import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "ana@example.com"
MODEL = "acme/writer-2"
TRAINING_LABEL = "Allow paid endpoints that may train on prompts"
SAVED = "Your privacy choices have been saved."
SCREENSHOT = "/tmp/e2e-model-page.png"
PAID_TRAINING_SAVES = (
    "Allowing paid endpoints that may train on prompts would make this model 67 % cheaper "
    "(Trainer Inc at $1.00 instead of Careful Cloud at $3.00 per million prompt tokens)."
)
PAID_TRAINING_COSTS = (
    "Refusing paid endpoints that may train on prompts would make this model 200 % dearer "
    "(Careful Cloud at $3.00 instead of Trainer Inc at $1.00 per million prompt tokens)."
)


def make_catalog() -> None:
    model = LanguageModel.objects.create(author="acme", slug="writer-2", name="Acme Writer 2")
    Endpoint.objects.create(
        model=model,
        provider=Provider.objects.create(slug="careful", name="Careful Cloud"),
        input_price=Decimal("3.00"),
        output_price=Decimal("15.00"),
        region=settings.PORTAL_DATA_REGION,
    )
    Endpoint.objects.create(
        model=model,
        provider=Provider.objects.create(slug="trainer", name="Trainer Inc"),
        input_price=Decimal("1.00"),
        output_price=Decimal("2.00"),
        trains_on_prompts=True,
        retains_prompts=True,
        retention_days=30,
        region=settings.PORTAL_DATA_REGION,
    )


def provider_row(page: Page, provider: str):
    row = (
        page.get_by_role("region", name="Providers and their data policies")
        .locator("tbody tr")
        .filter(has_text=provider)
    )
    expect(row).to_have_count(1)
    return row


def open_model_from_the_index(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Models").click()
    expect(page).to_have_url(re.compile(r"/models/$"))
    page.get_by_role("link", name=MODEL).click()
    expect(page).to_have_url(re.compile(rf"/models/{MODEL}/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(MODEL)


def test_a_visitor_reads_provider_data_policies_and_a_user_sees_their_choices_apply(
    page: Page, browser_guard, live_server
):
    make_catalog()
    UserFactory(email=EMAIL, verified=True)

    # --- A visitor: the data policies, cheapest first, and no choices to compare.
    page.goto("/")
    open_model_from_the_index(page)
    browser_guard.assert_clean()
    rows = page.get_by_role("region", name="Providers and their data policies").locator("tbody tr")
    expect(rows.nth(0)).to_contain_text("Trainer Inc")
    expect(rows.nth(1)).to_contain_text("Careful Cloud")
    expect(provider_row(page, "Trainer Inc")).to_contain_text("May train on prompts.")
    expect(provider_row(page, "Trainer Inc")).to_contain_text("Keeps prompts for 30 days.")
    expect(provider_row(page, "Careful Cloud")).to_contain_text("Zero data retention")
    expect(page.get_by_role("columnheader", name="Your choices")).to_have_count(0)
    # What a choice would cost or save, from a new account's choices.
    expect(page.get_by_role("heading", name="The price of privacy")).to_be_visible()
    expect(page.get_by_role("listitem").filter(has_text=PAID_TRAINING_SAVES)).to_have_count(1)
    page.get_by_role("link", name="Sign in").last.click()

    # --- Sign in from there: back on the model page, now with the user's choices.
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(re.compile(rf"/models/{MODEL}/$"))
    expect(provider_row(page, "Careful Cloud")).to_contain_text("Allowed")
    trainer = provider_row(page, "Trainer Inc")
    expect(trainer).to_contain_text("Not used")
    expect(trainer).to_contain_text("You do not allow paid endpoints that may train on prompts.")
    browser_guard.assert_clean()
    page.screenshot(path=SCREENSHOT, full_page=True)

    # --- Allow paid endpoints that may train, on the privacy page.
    page.goto("/account/privacy/")
    choices = page.get_by_role("region", name="What each choice opens or closes")
    expect(choices.get_by_role("row", name=TRAINING_LABEL)).to_contain_text(
        "would open 1 endpoint, and make 1 model cheaper."
    )
    page.get_by_role("checkbox", name=TRAINING_LABEL).check()
    page.get_by_role("button", name="Save privacy choices").click()
    expect(page.get_by_role("status")).to_have_text(SAVED)
    page.get_by_role("link", name="model's page").click()
    expect(page).to_have_url(re.compile(r"/models/$"))
    page.get_by_role("link", name=MODEL).click()
    expect(provider_row(page, "Trainer Inc")).to_contain_text("Allowed")
    expect(provider_row(page, "Trainer Inc")).not_to_contain_text("Not used")
    # The price of privacy now starts from the saved choice: refusing it would cost more.
    expect(page.get_by_role("listitem").filter(has_text=PAID_TRAINING_COSTS)).to_have_count(1)
    browser_guard.assert_clean()
