"""Deleting one request's text from its page under /account/activity/: a POST with a
CSRF token, the text erased at once (text_state "deleted", the metadata kept), audited,
the receipt on /account/data/; only one's own, idempotent."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from logging_prefs.models import Generation
from privacy.deletion.forget import forget_erased_account
from privacy.models import AuditEvent, DeletionRequest
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.logging_prefs import GenerationFactory
from tests.helpers.accounts import signed_in
from tests.helpers.markers import unique_marker
from tests.helpers.privacy import DATA_URL, signed_in_and_reauthenticated

pytestmark = pytest.mark.django_db


def detail_url(generation: Generation) -> str:
    return f"/account/activity/{generation.pk}/"


def delete_url(generation: Generation) -> str:
    return f"/account/activity/{generation.pk}/delete-text/"


def text_of(response) -> str:
    html = re.sub(r"</?(?:strong|a|em|code|time|span)\b[^>]*>", "", response.content.decode())
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


@pytest.fixture
def generation(user) -> Generation:
    return GenerationFactory(
        api_key=ApiKeyFactory(user=user),
        prompt=unique_marker("prompt"),
        completion=unique_marker("completion"),
    )


def test_the_url_is_the_detail_pages_own(generation):
    assert reverse("account_activity_delete_text", args=[generation.pk]) == delete_url(generation)


def test_the_detail_page_offers_a_csrf_protected_form_while_text_is_stored(user_client, generation):
    html = user_client.get(detail_url(generation)).content.decode()
    form = re.search(
        rf'<form method="post" action="({re.escape(delete_url(generation))})"[^>]*>(.*?)</form>',
        html,
        re.S,
    )
    assert form
    assert 'name="csrfmiddlewaretoken"' in form.group(2)
    assert "Delete this prompt and completion" in form.group(2)


def test_deleting_erases_the_text_keeps_the_metadata_and_leaves_a_receipt(user, generation):
    prompt = generation.prompt
    client = signed_in(Client(), user)
    response = client.post(delete_url(generation), follow=True)

    assert response.redirect_chain == [(detail_url(generation), 302)]
    page = text_of(response)
    assert "The prompt and completion of this request are deleted." in page
    assert "Deleted at your request." in page
    assert prompt not in response.content.decode()
    assert "Delete this prompt and completion" not in page

    before = {f: getattr(generation, f) for f in ("model", "provider", "cost_usd", "created_at")}
    generation.refresh_from_db()
    assert generation.text_state == Generation.TextState.DELETED
    assert generation.prompt is None and generation.completion is None
    assert {f: getattr(generation, f) for f in before} == before
    assert generation.app_url and generation.api_key_id

    # The record: one completed request of the prompts scope, the receipt naming the
    # one generation and counting one text; its audit trail.
    request = DeletionRequest.objects.get(user_id=user.pk)
    assert request.status == DeletionRequest.Status.COMPLETED
    assert request.scope == DeletionRequest.Scope.PROMPTS
    assert request.origin == DeletionRequest.Origin.USER
    assert request.verified_by_id == request.scheduled_by_id == user.pk
    assert request.receipt["generation"] == generation.pk
    assert request.receipt["erased"]["text_erased"] == {"logging_prefs.generation": 1}
    assert request.notice_email == ""
    actions = list(
        AuditEvent.objects.filter(deletion_request=request).values_list("action", "actor_id")
    )
    assert actions == [("requested", user.pk), ("completed", user.pk)]
    assert prompt not in str(list(AuditEvent.objects.values_list("detail", flat=True)))

    # The receipt on /account/data/ (behind its reauthentication, as always).
    data = signed_in_and_reauthenticated(user)
    page = text_of(data.get(DATA_URL))
    assert "The prompt and completion of one request" in page
    assert "Prompt and completion text of 1 requests (generations)" in page
    assert "Completed: everything this request covered is erased." in page
    assert f'href="{detail_url(generation)}"' in data.get(DATA_URL).content.decode()


def test_deleting_twice_changes_nothing_the_second_time(user_client, user, generation):
    user_client.post(delete_url(generation))
    response = user_client.post(delete_url(generation), follow=True)
    assert "Nothing to delete" in text_of(response)
    assert DeletionRequest.objects.filter(user_id=user.pk).count() == 1
    assert AuditEvent.objects.count() == 2


def test_a_request_without_text_is_not_changed(user_client, user):
    api_key = ApiKeyFactory(user=user, logging="never")
    not_logged = GenerationFactory(api_key=api_key)
    assert not_logged.text_state == Generation.TextState.NOT_LOGGED
    user_client.post(delete_url(not_logged))
    not_logged.refresh_from_db()
    assert not_logged.text_state == Generation.TextState.NOT_LOGGED
    assert not DeletionRequest.objects.exists()


def test_another_persons_request_or_an_unknown_id_is_a_404_and_untouched(user_client, user):
    other = UserFactory()
    theirs = GenerationFactory(api_key=ApiKeyFactory(user=other), prompt="their secret")
    assert user_client.post(delete_url(theirs)).status_code == 404
    assert user_client.post("/account/activity/999999999/delete-text/").status_code == 404
    theirs.refresh_from_db()
    assert (theirs.text_state, theirs.prompt) == (Generation.TextState.STORED, "their secret")
    assert not DeletionRequest.objects.exists()
    assert not AuditEvent.objects.exists()


def test_it_needs_sign_in_a_post_and_a_csrf_token(user, generation):
    anonymous = Client().post(delete_url(generation))
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    browser = signed_in(Client(enforce_csrf_checks=True), user)
    assert browser.post(delete_url(generation)).status_code == 403
    assert browser.get(delete_url(generation)).status_code == 405
    generation.refresh_from_db()
    assert generation.text_state == Generation.TextState.STORED
    assert not DeletionRequest.objects.exists()


def test_the_receipt_forgets_the_account_once_it_is_erased(user, generation):
    client = signed_in(Client(), user)
    client.post(delete_url(generation))
    request = DeletionRequest.objects.get(user_id=user.pk)
    user_id = user.pk
    Generation.objects.filter(user_id=user_id).delete()
    user.delete()
    forget_erased_account(user_id)
    request.refresh_from_db()
    assert request.user_id is None
    assert request.received_by_id is None and request.verified_by_id is None
