"""Where data lives: /legal/data-location/ says where the account data, the stored
prompts, the backups and the mail are kept, from the settings (PORTAL_DATA_REGION,
PORTAL_BACKUP_REGION, PORTAL_MAIL_REGION), linked from every page's footer and from the
privacy page; an unknown region fails `manage.py check` at start-up."""

from __future__ import annotations

import html

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from portal.regions import REGIONS, check_region_settings
from tests.factories.accounts import UserFactory
from tests.helpers.accounts import signed_in

pytestmark = pytest.mark.django_db

URL = "/legal/data-location/"


def page_text() -> str:
    response = Client().get(URL)
    assert response.status_code == 200
    return " ".join(html.unescape(response.text).split())


def row(text: str, what: str) -> str:
    """The table row that starts with `what`, up to the next row."""
    start = text.index(what)
    return text[start : text.index("</tr>", start)]


def test_the_page_names_the_region_of_each_kind_of_data(settings):
    settings.PORTAL_DATA_REGION = "eu"
    settings.PORTAL_BACKUP_REGION = "eu"
    settings.PORTAL_MAIL_REGION = "eu"
    text = page_text()
    assert "We do not transfer your personal data internationally." in text
    assert "Portal runs in the European Union" in text
    for what in ("Your account", "Your stored prompts", "Backups", "The mail we send you"):
        assert "The European Union" in row(text, what), what
    assert "outside" not in text.split("Your requests to models")[0]
    assert "Keep my requests in the European Union" in text


def test_backups_and_mail_elsewhere_are_said_to_be_outside(settings):
    settings.PORTAL_DATA_REGION = "eu"
    settings.PORTAL_BACKUP_REGION = "ch"
    settings.PORTAL_MAIL_REGION = "us"
    text = page_text()
    assert "Switzerland (outside the European Union)" in row(text, "Backups")
    assert "The United States (outside the European Union)" in row(text, "The mail we send you")
    assert "outside" not in row(text, "Your stored prompts")


def test_a_portal_in_the_united_states_says_so(settings):
    settings.PORTAL_DATA_REGION = "us"
    settings.PORTAL_BACKUP_REGION = "us"
    settings.PORTAL_MAIL_REGION = "us"
    text = page_text()
    assert "Portal runs in the United States" in text
    assert "The United States" in row(text, "Your account")


def test_the_footer_and_the_privacy_page_link_to_it():
    assert f'href="{URL}"' in Client().get("/legal/privacy/").text
    account = signed_in(Client(), UserFactory())
    assert f'href="{URL}"' in account.get("/account/privacy/").text


def test_a_post_is_refused_not_an_error():
    assert Client().post(URL, {"x": "\x00" * 10}).status_code == 405


def test_the_default_regions_pass_the_check(settings):
    assert settings.PORTAL_DATA_REGION in REGIONS
    assert check_region_settings(None) == []
    call_command("check")


@pytest.mark.parametrize(
    "name", ["PORTAL_DATA_REGION", "PORTAL_BACKUP_REGION", "PORTAL_MAIL_REGION"]
)
@pytest.mark.parametrize("value", ["mars", "", "EU", "eu "])
def test_an_unknown_region_fails_the_check_at_start_up(settings, name, value):
    setattr(settings, name, value)
    (error,) = check_region_settings(None)
    assert error.id == "portal.E001"
    assert name in error.msg and "eu" in error.msg
    with pytest.raises(SystemCheckError, match="portal.E001"):
        call_command("check")
