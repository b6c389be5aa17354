"""No cache keeps a person's pages: every answer under /account/ and /accounts/ is sent
with `Cache-Control: no-store`. The pages are found by walking the URLconf, so a page
added later is covered without touching this test."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from portal.middleware import PERSONAL_PATHS
from privacy.deletion.requests import do_delete_stored_prompts
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.logging_prefs import ingest
from tests.wallets import TestWallet

pytestmark = pytest.mark.django_db


def url_patterns(patterns=None, route: str = "", namespace: str | None = None, needs=()):
    """(route, URL name, names of its arguments) of every named pattern of the project.
    An argument may be in an including pattern's route (allauth.mfa's passkey pages)."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        here = route + str(pattern.pattern)
        here_needs = (*needs, *pattern.pattern.regex.groupindex)
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from url_patterns(pattern.url_patterns, here, inner, here_needs)
        elif isinstance(pattern, URLPattern) and pattern.name:
            name = f"{namespace}:{pattern.name}" if namespace else pattern.name
            yield here, name, sorted(set(here_needs))


def personal_pages(arguments: dict[str, object]) -> list[str]:
    """Every page under PERSONAL_PATHS, its arguments filled from `arguments`."""
    prefixes = tuple(path.removeprefix("/") for path in PERSONAL_PATHS)
    pages = []
    for route, name, needs in url_patterns():
        if not route.startswith(prefixes):
            continue
        missing = [argument for argument in needs if argument not in arguments]
        assert not missing, f"{route}: give the test a value for {missing}"
        pages.append(reverse(name, kwargs={argument: arguments[argument] for argument in needs}))
    return sorted(set(pages))


@pytest.fixture
def owner_and_pages():
    user = UserFactory()
    key = ApiKeyFactory(user=user)
    (generation,) = ingest(key, prompt="My secret business plan", completion="Noted.")
    wallet = user.wallets.create(address=TestWallet.create().address)
    deletion, _created = do_delete_stored_prompts(user=user, acting_user=user, older_than=None)
    arguments = {
        "key_id": key.pk,
        "generation_id": generation.pk,
        "pk": wallet.pk,
        "request_id": deletion.pk,
        # allauth's links from mails: a made-up key still answers with a page.
        "key": "made-up-key",
        "uidb36": "1",
    }
    return user, generation, personal_pages(arguments)


def test_the_walk_finds_the_personal_pages(owner_and_pages):
    _user, generation, pages = owner_and_pages
    for path in (
        "/account/",
        f"/account/activity/{generation.pk}/",
        "/account/keys/",
        "/account/data/",
        "/accounts/email/",
        "/accounts/sessions/",
        "/accounts/login/",
    ):
        assert path in pages
    assert len(pages) > 30


def test_every_personal_page_is_no_store_for_its_owner_and_for_a_visitor(owner_and_pages):
    user, _generation, pages = owner_and_pages
    owner = Client()
    owner.force_login(user)
    for client in (owner, Client()):
        for path in pages:
            response = client.get(path)
            assert "no-store" in response.get("Cache-Control", ""), (path, response.status_code)


def test_the_activity_detail_with_prompt_text_is_no_store(owner_and_pages):
    user, generation, _pages = owner_and_pages
    client = Client()
    client.force_login(user)
    response = client.get(f"/account/activity/{generation.pk}/")
    assert response.status_code == 200
    assert "My secret business plan" in response.text
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "private"} <= cache_control


def test_a_form_post_and_a_csrf_failure_under_account_are_no_store(owner_and_pages):
    user, _generation, _pages = owner_and_pages
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    refused = client.post("/account/profile/", {"display_name": "New"})
    assert refused.status_code == 403
    assert "no-store" in refused["Cache-Control"]


def test_public_pages_stay_cacheable():
    for path in ("/", "/models/", "/legal/privacy/"):
        assert "no-store" not in Client().get(path).get("Cache-Control", "")
