"""The two notices, end to end in real Chromium: a visitor reads the cookie notice once;
a person who has not read the privacy policy in force sees its notice above their
account pages, reads the policy and says so, and the notice is gone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from privacy.policy import CURRENT
from tests.factories.accounts import UserFactory
from tests.helpers.browser import sign_in

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

COOKIES = "Cookies"
SCREENSHOT = "/tmp/e2e-policy-notice.png"


def test_a_visitor_reads_the_cookie_notice_once(page: Page):
    page.goto("/models/")
    notice = page.get_by_role("complementary", name=COOKIES)
    expect(notice).to_contain_text("no analytics or advertising cookies")
    notice.get_by_role("link", name="Which cookies").click()
    expect(page).to_have_url(re.compile(r"/legal/cookies/$"))
    table = page.get_by_role("table", name="Cookies set by Portal")
    expect(table.locator("tbody tr")).to_have_count(4)
    page.get_by_role("complementary", name=COOKIES).get_by_role("button", name="OK").click()
    expect(page).to_have_url(re.compile(r"/legal/cookies/$"))
    expect(page.get_by_role("complementary", name=COOKIES)).to_have_count(0)
    page.goto("/")
    expect(page.get_by_role("complementary", name=COOKIES)).to_have_count(0)


def test_a_person_reads_the_policy_from_its_notice(page: Page):
    user = UserFactory(email="ana@example.com", policy_acknowledged="")
    sign_in(page, user.email)
    page.goto("/account/privacy/")
    notice = page.get_by_role("complementary", name="Our privacy policy")
    expect(notice).to_contain_text("Please read our privacy policy")
    # Above the account pages' sidebar and content, not squeezed into the sidebar.
    nav = page.get_by_role("navigation", name="Account").bounding_box()
    box = notice.bounding_box()
    assert box["width"] > nav["width"] * 2 and box["y"] + box["height"] <= nav["y"]
    page.screenshot(path=SCREENSHOT)

    notice.get_by_role("link", name="Read the privacy policy").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Privacy Policy")
    expect(page.get_by_text("You have not acknowledged this version yet.")).to_be_visible()
    page.get_by_role("complementary", name="Our privacy policy").get_by_role(
        "button", name="I have read it"
    ).click()
    expect(page.get_by_role("complementary", name="Our privacy policy")).to_have_count(0)
    expect(page.get_by_text("You acknowledged this version on")).to_be_visible()
    user = User.objects.get(pk=user.pk)
    assert user.policy_acknowledged == CURRENT.version
    assert user.policy_acknowledgements.get().how == "notice"
    page.goto("/account/")
    expect(page.get_by_role("complementary", name="Our privacy policy")).to_have_count(0)
