from __future__ import annotations

import re

import pytest
from django.test import Client

from accounts.models import User
from tests.factories.accounts import DEFAULT_PASSWORD, ApiKeyFactory, UserFactory
from tests.helpers.accounts import HUB_URL, LOGIN_URL, PROFILE_URL

pytestmark = pytest.mark.django_db

_HREF = re.compile(r'<a [^>]*href="([^"]+)"')


@pytest.fixture
def member(client):
    user = UserFactory(email="member@example.com", display_name="Member Name")
    client.force_login(user)
    return user


# --- Hub ----------------------------------------------------------------------


def test_hub_greets_the_signed_in_user_and_lists_the_identity_sections(client, member):
    response = client.get(HUB_URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert "member@example.com" in content
    assert "Member Name" in content
    for href in (
        "/account/profile/",
        "/accounts/email/",
        "/accounts/password/change/",
        "/accounts/sessions/",
    ):
        assert f'href="{href}"' in content


def test_every_link_on_the_hub_opens_an_existing_page(client, member):
    content = client.get(HUB_URL).content.decode()
    links = sorted({href for href in _HREF.findall(content) if href.startswith("/")})
    assert len(links) >= 6, links

    for href in links:
        response = client.get(href, follow=True)
        assert response.status_code == 200, (href, response.status_code)


def test_every_link_on_the_profile_page_opens_an_existing_page(client, member):
    content = client.get(PROFILE_URL).content.decode()
    links = sorted({href for href in _HREF.findall(content) if href.startswith("/")})

    for href in links:
        assert client.get(href, follow=True).status_code == 200, href


@pytest.mark.parametrize("path", [HUB_URL, PROFILE_URL])
def test_anonymous_access_to_account_pages_redirects_to_sign_in(client, path):
    for method in (client.get, client.post):
        response = method(path)
        assert response.status_code == 302
        assert response.url == f"{LOGIN_URL}?next={path}"


def test_after_signing_in_from_the_redirect_the_user_lands_on_the_page_they_wanted(client):
    user = UserFactory()
    redirect = client.get(PROFILE_URL)

    response = client.post(redirect.url, {"login": user.email, "password": DEFAULT_PASSWORD})

    assert response.status_code == 302
    assert response.url == PROFILE_URL


# --- Profile ------------------------------------------------------------------


def test_profile_page_shows_the_current_display_name_in_an_editable_field(client, member):
    response = client.get(PROFILE_URL)

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="display_name"' in content
    assert 'value="Member Name"' in content
    assert 'maxlength="80"' in content
    assert "member@example.com" in content


def test_profile_saves_a_new_display_name_and_says_so(client, member):
    response = client.post(PROFILE_URL, {"display_name": "  Ada   Lovelace "})

    assert response.status_code == 302
    assert response.url == PROFILE_URL
    member.refresh_from_db()
    assert member.display_name == "Ada Lovelace"
    page = client.get(PROFILE_URL).content.decode()
    assert "Your profile has been saved." in page
    assert 'value="Ada Lovelace"' in page


def test_profile_accepts_a_display_name_of_exactly_80_characters(client, member):
    response = client.post(PROFILE_URL, {"display_name": "é" * 80})

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.display_name == "é" * 80


def test_profile_accepts_an_empty_display_name(client, member):
    response = client.post(PROFILE_URL, {"display_name": "   "})

    assert response.status_code == 302
    member.refresh_from_db()
    assert member.display_name == ""


def test_display_name_longer_than_80_characters_is_refused(client, member):
    response = client.post(PROFILE_URL, {"display_name": "x" * 81})

    assert response.status_code == 200
    content = response.content.decode()
    assert "Ensure this value has at most 80 characters (it has 81)." in content
    assert 'aria-invalid="true"' in content
    member.refresh_from_db()
    assert member.display_name == "Member Name"


def test_very_long_display_name_is_refused_without_error(client, member):
    response = client.post(PROFILE_URL, {"display_name": "x" * 100_000})

    assert response.status_code == 200
    assert "at most 80 characters" in response.content.decode()
    member.refresh_from_db()
    assert member.display_name == "Member Name"


@pytest.mark.parametrize("name", ["Bad\x01Name", "Bell\x07", "Del\x7fete"])
def test_display_name_with_control_characters_is_refused(client, member, name):
    response = client.post(PROFILE_URL, {"display_name": name})

    assert response.status_code == 200
    assert "The display name cannot contain control characters." in response.content.decode()
    member.refresh_from_db()
    assert member.display_name == "Member Name"


def test_display_name_with_a_nul_byte_is_refused(client, member):
    response = client.post(PROFILE_URL, {"display_name": "Nul\x00Name"})

    assert response.status_code == 200
    assert "Null characters are not allowed." in response.content.decode()
    member.refresh_from_db()
    assert member.display_name == "Member Name"


def test_display_name_is_shown_escaped(client, member):
    client.post(PROFILE_URL, {"display_name": '<script>alert("x")</script>'})

    content = client.get(HUB_URL).content.decode()

    assert '<script>alert("x")</script>' not in content
    assert "&lt;script&gt;" in content


def test_profile_form_changes_only_the_display_name(client, member):
    before = User.objects.get(pk=member.pk)

    client.post(
        PROFILE_URL,
        {
            "display_name": "New Name",
            "email": "hijack@example.com",
            "is_staff": "on",
            "is_superuser": "on",
            "age_confirmed_at": "2000-01-01T00:00:00Z",
        },
    )

    after = User.objects.get(pk=member.pk)
    assert after.display_name == "New Name"
    assert after.email == before.email == "member@example.com"
    assert not after.is_staff
    assert not after.is_superuser
    assert after.age_confirmed_at == before.age_confirmed_at
    assert after.password == before.password


def test_profile_rejects_other_http_methods(client, member):
    assert client.put(PROFILE_URL, "display_name=x").status_code == 405
    assert client.delete(PROFILE_URL).status_code == 405
    member.refresh_from_db()
    assert member.display_name == "Member Name"


# --- One user's data is not another's -----------------------------------------


def test_a_user_sees_only_their_own_account_data(member):
    other = UserFactory(email="other@example.com", display_name="Other Person")
    other_client = Client()
    other_client.force_login(other)

    for path in (HUB_URL, PROFILE_URL, "/accounts/email/"):
        content = other_client.get(path).content.decode()
        assert "other@example.com" in content
        assert "member@example.com" not in content
        assert "Member Name" not in content


def test_saving_a_profile_changes_only_the_signed_in_users_row(client, member):
    other = UserFactory(display_name="Other Person")

    client.post(PROFILE_URL, {"display_name": "Changed", "id": other.pk, "pk": other.pk})

    other.refresh_from_db()
    member.refresh_from_db()
    assert other.display_name == "Other Person"
    assert member.display_name == "Changed"


@pytest.mark.parametrize("path", [LOGIN_URL, "/accounts/signup/", "/accounts/password/reset/", "/"])
def test_every_link_on_the_entrance_pages_opens_an_existing_page(client, path):
    content = client.get(path).content.decode()
    links = sorted({href for href in _HREF.findall(content) if href.startswith("/")})
    assert links

    for href in links:
        assert client.get(href, follow=True).status_code == 200, href


def test_profile_post_without_the_display_name_field_changes_nothing(client, member):
    response = client.post(PROFILE_URL, {"something_else": "x"})

    assert response.status_code == 200
    assert "The display name is missing from the form." in response.content.decode()
    member.refresh_from_db()
    assert member.display_name == "Member Name"


def test_account_navigation_marks_the_section_of_a_page_under_it(signed_in_client, user):
    api_key = ApiKeyFactory(user=user, name="laptop")
    page = signed_in_client.get(f"/account/keys/{api_key.pk}/").content.decode()
    nav = page[
        page.index('aria-label="Account"') : page.index(
            "</nav>", page.index('aria-label="Account"')
        )
    ]
    assert 'href="/account/keys/" aria-current="page"' in nav
    assert nav.count('aria-current="page"') == 1
