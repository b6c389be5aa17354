"""How to reach us (issue 15, item 3): PORTAL_SUPPORT_EMAIL and PORTAL_DISCORD_URL on
/contact/, in every page's footer and in the policy where it names them; no Discord link
while none is configured; a bad value stops the portal from starting."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.helpers.production import manage, production_env

pytestmark = pytest.mark.django_db

DISCORD = "https://discord.gg/portal-example"
PAGES = ["/", "/contact/", "/legal/privacy/", "/legal/cookies/", "/models/"]


def footer(html: str) -> str:
    return html.split('<footer class="site-footer">', 1)[1].split("</footer>", 1)[0]


def test_the_defaults_are_a_development_address_and_no_discord(settings):
    from portal import settings as portal_settings

    assert portal_settings.PORTAL_SUPPORT_EMAIL == "support@portal.localhost"
    assert portal_settings.PORTAL_DISCORD_URL == ""


@pytest.mark.parametrize("path", PAGES)
def test_every_page_footer_names_the_support_address_and_the_contact_page(settings, path):
    settings.PORTAL_SUPPORT_EMAIL = "help@portal.example"
    settings.PORTAL_DISCORD_URL = ""
    html = Client().get(path).content.decode()
    found = footer(html)
    assert '<a href="mailto:help@portal.example">help@portal.example</a>' in found
    assert '<a href="/contact/">Contact</a>' in found
    assert "Discord" not in found and "discord" not in html.lower()

    settings.PORTAL_DISCORD_URL = DISCORD
    found = footer(Client().get(path).content.decode())
    assert f'<a href="{DISCORD}">Discord</a>' in found


def test_the_contact_page_lists_each_way_to_reach_us(settings):
    settings.PORTAL_SUPPORT_EMAIL = "help@portal.example"
    settings.PORTAL_DISCORD_URL = ""
    html = Client().get("/contact/").content.decode()
    main = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    assert 'href="mailto:help@portal.example"' in main
    assert "Discord" not in main
    assert '<form method="post"' in main
    settings.PORTAL_DISCORD_URL = DISCORD
    main = Client().get("/contact/").content.decode().split('<main id="main"', 1)[1]
    assert f'href="{DISCORD}"' in main


def test_the_policy_names_the_configured_address_and_discord_server(settings):
    settings.PORTAL_SUPPORT_EMAIL = "help@portal.example"
    settings.PORTAL_DISCORD_URL = DISCORD
    html = Client().get("/legal/privacy/").content.decode()
    assert "support@email" not in html
    assert (
        "request deletion of prompts and completions by contacting our "
        '<a href="mailto:help@portal.example">help@portal.example</a>.'
    ) in html
    assert f'please contact us on <a href="{DISCORD}">our Discord server</a>.' in html


def test_without_a_discord_server_the_policy_points_to_the_contact_page(settings):
    settings.PORTAL_DISCORD_URL = ""
    html = Client().get("/legal/privacy/").content.decode()
    assert "Discord" not in html
    assert 'please contact us through our <a href="/contact/">contact page</a>.' in html
    assert "support@email" not in html
    assert 'href="mailto:support@portal.localhost"' in html


@pytest.mark.parametrize(
    "overrides",
    [
        {"PORTAL_SUPPORT_EMAIL": "not an address"},
        {"PORTAL_DISCORD_URL": "javascript:alert(1)"},
        {"PORTAL_DISCORD_URL": "http://discord.gg/plain-http"},
        {"PORTAL_DISCORD_URL": "discord.gg/no-scheme"},
    ],
)
def test_a_bad_contact_setting_stops_the_portal_from_starting(overrides):
    result = manage("check", env=production_env(**overrides))
    assert result.returncode != 0
    assert "PORTAL_SUPPORT_EMAIL must be an email address" in result.stderr


def test_good_contact_settings_start(settings):
    env = production_env(PORTAL_SUPPORT_EMAIL="help@portal.example", PORTAL_DISCORD_URL=DISCORD)
    result = manage("check", env=env)
    assert result.returncode == 0, result.stderr
