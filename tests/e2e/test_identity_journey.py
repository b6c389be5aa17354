"""A new user's first visit, end to end in real Chromium: sign up, verify, sign in,
edit the profile, sign out."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.helpers.browser import sign_out

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "ada@example.com"
PASSWORD = "correct-Horse-battery-staple-42"
# Django labels end with a colon: "Password:" but not "Password (again):".
PASSWORD_LABEL = re.compile(r"^Password:?$")
SIGNUP_SCREENSHOT = "/tmp/e2e-signup.png"
PROFILE_SCREENSHOT = "/tmp/e2e-profile.png"


def assert_sidebar_beside_content(page: Page) -> None:
    """The account menu sits left of the page content, both at the top, under the flash
    messages (a message once pushed the menu into the content column, the content under
    it)."""
    menu = page.get_by_role("navigation", name="Account").bounding_box()
    content = page.locator(".account-content").bounding_box()
    assert menu and content
    assert menu["x"] + menu["width"] <= content["x"], (menu, content)
    assert abs(menu["y"] - content["y"]) < 2, (menu, content)
    assert content["width"] > 2 * menu["width"], (menu, content)
    messages = page.locator("main > .messages")
    if messages.count():  # right above them, not pushed down by a stretched grid row
        above = messages.bounding_box()
        assert above and 0 <= menu["y"] - (above["y"] + above["height"]) <= 48, (above, menu)


def assert_checkbox_left_of_its_label(page: Page, checkbox) -> None:
    box = checkbox.bounding_box()
    label = page.locator(f"label[for='{checkbox.get_attribute('id')}']").bounding_box()
    assert box and label
    assert box["x"] + box["width"] <= label["x"], (box, label)
    box_middle, label_middle = box["y"] + box["height"] / 2, label["y"] + label["height"] / 2
    assert abs(box_middle - label_middle) < 4, (box, label)


def test_a_new_user_signs_up_verifies_signs_in_edits_profile_and_signs_out(
    page: Page, browser_guard, live_server, mailoutbox
):
    main_nav = page.get_by_role("navigation", name="Main")

    # --- Home, then "Sign up" in the header.
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("One API key, many model providers")
    browser_guard.assert_clean()
    main_nav.get_by_role("link", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign Up")
    browser_guard.assert_clean()

    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label(PASSWORD_LABEL).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    age_box = page.get_by_role("checkbox", name="I am 13 years of age or older")
    expect(age_box).not_to_be_checked()
    sign_up = page.get_by_role("button", name="Sign Up")

    # --- Without the 13+ box: the browser's own validation stops the form first...
    sign_up.click()
    expect(page).to_have_url(re.compile(r"/accounts/signup/$"))
    assert age_box.evaluate("box => !box.checkValidity() && box.validationMessage !== ''")
    assert mailoutbox == []
    # ...and with that check out of the way (an old browser, a crafted request) the
    # server refuses with a clear message, keeping what was typed.
    page.locator("form").filter(has=sign_up).evaluate("form => { form.noValidate = true; }")
    sign_up.click()
    page.wait_for_load_state()
    expect(page.get_by_text("You must be 13 or older to use this service.")).to_be_visible()
    expect(page.get_by_text("Please confirm your age to continue.")).to_be_visible()
    expect(page.get_by_label("Email")).to_have_value(EMAIL)
    assert not User.objects.filter(email=EMAIL).exists()
    assert mailoutbox == []
    browser_guard.assert_clean()
    assert_checkbox_left_of_its_label(page, age_box)
    page.screenshot(path=SIGNUP_SCREENSHOT, full_page=True)

    # --- Tick the box (passwords are not sent back, so type them again) and submit.
    page.get_by_label(PASSWORD_LABEL).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    age_box.check()
    sign_up.click()
    expect(page).to_have_url(re.compile(r"/accounts/confirm-email/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify Your Email Address")
    browser_guard.assert_clean()
    user = User.objects.get(email=EMAIL)
    assert user.age_confirmed_at is not None

    # --- The verification link from the mail, opened in the browser, then confirmed.
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [EMAIL]
    links = re.findall(r"https?://\S+/accounts/confirm-email/\S+/", message.body)
    assert len(links) == 1, message.body
    assert links[0].startswith(live_server.url), links[0]
    page.goto(links[0])
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirm email address")
    expect(page.get_by_role("main")).to_contain_text(EMAIL)
    browser_guard.assert_clean()
    assert not user.emailaddress_set.get(email=EMAIL).verified  # a GET confirms nothing
    page.get_by_role("button", name="Confirm").click()
    expect(page).to_have_url(re.compile(r"/accounts/login/$"))
    expect(page.get_by_role("status")).to_contain_text(f"You have confirmed {EMAIL}.")
    browser_guard.assert_clean()
    assert user.emailaddress_set.get(email=EMAIL).verified

    # --- Sign in: lands on the account hub.
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    expect(page).to_have_url(re.compile(r"/account/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Your account")
    expect(page.get_by_role("main")).to_contain_text(f"Signed in as {EMAIL}")
    expect(main_nav.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(f"Successfully signed in as {EMAIL}.")
    browser_guard.assert_clean()
    assert_sidebar_beside_content(page)

    # --- Profile: set a display name.
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Profile").click()
    expect(page).to_have_url(re.compile(r"/account/profile/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Profile")
    browser_guard.assert_clean()
    display_name = page.get_by_label("Display name")
    display_name.fill("Ada Lovelace")
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_role("status")).to_have_text("Your profile has been saved.")
    expect(display_name).to_have_value("Ada Lovelace")
    browser_guard.assert_clean()
    assert_sidebar_beside_content(page)
    user.refresh_from_db()
    assert user.display_name == "Ada Lovelace"
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Overview").click()
    expect(page.get_by_role("main")).to_contain_text(f"Signed in as {EMAIL} (Ada Lovelace)")
    browser_guard.assert_clean()
    page.go_back()
    expect(page.get_by_role("heading", level=1)).to_have_text("Profile")

    # --- Too long: the input stops typing at 80, so the test lifts that limit to send
    # 81 characters and see what the server says.
    expect(display_name).to_have_attribute("maxlength", "80")
    display_name.evaluate("input => input.removeAttribute('maxlength')")
    display_name.fill("x" * 81)
    page.get_by_role("button", name="Save profile").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Ensure this value has at most 80 characters (it has 81)."
    )
    expect(display_name).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("status")).to_have_count(0)
    browser_guard.assert_clean()
    user.refresh_from_db()
    assert user.display_name == "Ada Lovelace"
    page.get_by_role("navigation", name="Account").get_by_role("link", name="Profile").click()
    expect(display_name).to_have_value("Ada Lovelace")
    browser_guard.assert_clean()
    page.screenshot(path=PROFILE_SCREENSHOT, full_page=True)

    # --- Sign out from the header; the account hub then asks to sign in again.
    sign_out(page)
    browser_guard.assert_clean()
    page.goto("/account/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/account/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign In")
    browser_guard.assert_clean()
