"""Django's own "delete user" bypasses the purge engine (issue 13, item 5).

No admin path deletes an account, or a row of a person's data, except through the
deletion workflow (a request, its purge and audit trail): the delete button, the list's
"delete selected" action and a typed delete URL lead there instead, and nothing an
administrator may delete takes personal data with it by cascade. Otherwise the purge is
skipped (no receipt, no audit event, no billing totals) and Django's admin history keeps
the address of the deleted object, where no later purge can find it.
"""

from __future__ import annotations

import pytest
from allauth.account.models import EmailAddress
from allauth.usersessions.models import UserSession
from django.contrib import admin
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.models import Permission
from django.db import models
from django.test import RequestFactory

from accounts.models import User
from privacy import registry
from privacy.models import AuditEvent, DeletionRequest
from tests.factories.accounts import TraceableUserFactory
from tests.helpers.admin import admin_client, make_superuser, make_support_member, messages_of
from tests.helpers.privacy import every_table_as_text, sign_in_as_browser

pytestmark = pytest.mark.django_db

REQUESTS = "/admin/privacy/deletionrequest/"
OPEN = f"{REQUESTS}open/"


def user_url(user: User, step: str = "change") -> str:
    return f"/admin/accounts/user/{user.pk}/{step}/"


def cascades_into(model: type[models.Model]) -> set[type[models.Model]]:
    """Every model whose rows deleting a row of `model` deletes or changes (CASCADE,
    SET_NULL, SET_DEFAULT), transitively, m2m link tables included."""
    found: set[type[models.Model]] = set()
    pending = [model]
    while pending:
        current = pending.pop()
        for relation in current._meta.related_objects:
            if relation.many_to_many:
                # Only the link rows go; the rows on the other side stay.
                found.add(relation.through)
                continue
            if relation.on_delete not in (models.CASCADE, models.SET_NULL, models.SET_DEFAULT):
                continue
            if relation.related_model not in found:
                found.add(relation.related_model)
                pending.append(relation.related_model)
        for field in current._meta.many_to_many:
            found.add(field.remote_field.through)
    return found


def test_nothing_the_admin_may_delete_is_or_takes_a_persons_data_with_it():
    request = RequestFactory().get("/admin/")
    request.user = make_superuser()
    # Link tables (an account's groups) are not a person's data on their own.
    personal = {model for model in registry.registered_models() if not model._meta.auto_created}
    deletable = [
        model
        for model, model_admin in admin.site._registry.items()
        if model_admin.has_delete_permission(request)
    ]
    assert deletable, "the check must see the admin's models"
    for model in deletable:
        reached = ({model} | cascades_into(model)) & personal
        assert not reached, f"deleting a {model.__name__} in the admin erases {reached}"
    for model in (User, EmailAddress, UserSession):
        model_admin = admin.site._registry[model]
        assert not model_admin.has_delete_permission(request), model
        assert "delete_selected" not in model_admin.get_actions(request), model


def test_no_admin_path_deletes_a_user_outside_the_deletion_workflow(
    task_queue, run_purge, django_capture_on_commit_callbacks
):
    person = TraceableUserFactory()
    sign_in_as_browser(person)
    email = person.email
    boss = make_superuser()
    client = admin_client(boss)

    # No delete button, no bulk delete.
    page = client.get(user_url(person))
    assert page.status_code == 200
    assert user_url(person, "delete") not in page.text
    assert f"{OPEN}?account={person.pk}" in page.text  # the workflow is offered instead
    assert "delete_selected" not in client.get("/admin/accounts/user/").text
    response = client.post(
        "/admin/accounts/user/",
        {"action": "delete_selected", "_selected_action": [person.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    # The delete URL, typed or bookmarked, GET or the confirmation's POST: to the workflow.
    for response in (
        client.get(user_url(person, "delete"), follow=True),
        client.post(user_url(person, "delete"), {"post": "yes"}, follow=True),
    ):
        assert response.status_code == 200
        assert response.redirect_chain[-1][0] == f"{OPEN}?account={person.pk}"
        assert "Accounts are not deleted here" in " ".join(messages_of(response))
        assert f'value="{email}"' in response.text  # the form starts with the account
    # The person's email address and sign-in sessions cannot be deleted either.
    address = EmailAddress.objects.get(user=person)
    session = UserSession.objects.filter(user=person).first()
    for path in (
        f"/admin/account/emailaddress/{address.pk}/delete/",
        f"/admin/usersessions/usersession/{session.pk}/delete/",
    ):
        assert client.post(path, {"post": "yes"}).status_code == 403
    # A support member is sent the same way; a staff member without the permission
    # to open requests is told to ask.
    support = admin_client(make_support_member())
    response = support.get(user_url(person, "delete"), follow=True)
    assert response.redirect_chain[-1][0] == f"{OPEN}?account={person.pk}"
    viewer = TraceableUserFactory()
    viewer.is_staff = True
    viewer.save(update_fields=["is_staff"])
    viewer.user_permissions.add(
        Permission.objects.get(content_type__app_label="accounts", codename="view_user")
    )
    response = admin_client(viewer).post(user_url(person, "delete"), {"post": "yes"}, follow=True)
    assert response.redirect_chain[-1][0] == user_url(person)
    assert "Ask support to open one" in " ".join(messages_of(response))

    assert User.objects.filter(pk=person.pk).exists()
    assert EmailAddress.objects.filter(pk=address.pk).exists()
    assert UserSession.objects.filter(pk=session.pk).exists()
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()
    assert not AuditEvent.objects.exists() and not DeletionRequest.objects.exists()

    # The workflow: opened from that form, verified and scheduled, then purged; the
    # trail records each step and no admin history names the address.
    with django_capture_on_commit_callbacks(execute=True):
        client.post(OPEN, {"address": email, "scope": "account"})
        request = DeletionRequest.objects.get()
        client.post(f"{REQUESTS}{request.pk}/verify/", {"verification_method": "email_reply"})
        client.post(f"{REQUESTS}{request.pk}/schedule/")
    run_purge()
    request.refresh_from_db()
    assert request.status == DeletionRequest.Status.COMPLETED
    assert not User.objects.filter(pk=person.pk).exists()
    actions = list(AuditEvent.objects.filter(deletion_request=request).values_list("action"))
    assert [a for (a,) in actions][:4] == ["requested", "verified", "account_closed", "scheduled"]
    assert email not in every_table_as_text()
