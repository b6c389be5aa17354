"""The identity pages as a person uses them: the real allauth views over HTTP, and
what their mails and forms say."""

from __future__ import annotations

import re

from django.test import Client

from accounts.models import User
from portal.compat import AUTHENTICATION_METHODS_SESSION_KEY
from tests.factories.accounts import DEFAULT_PASSWORD

STRONG_PASSWORD = "violet-otter-quietly-7-lanterns"
OTHER_STRONG_PASSWORD = "amber-heron-slowly-9-bridges"

SIGNUP_URL = "/accounts/signup/"
LOGIN_URL = "/accounts/login/"
LOGOUT_URL = "/accounts/logout/"
VERIFICATION_SENT_URL = "/accounts/confirm-email/"
EMAIL_URL = "/accounts/email/"
PASSWORD_CHANGE_URL = "/accounts/password/change/"
PASSWORD_RESET_URL = "/accounts/password/reset/"
PASSWORD_RESET_DONE_URL = "/accounts/password/reset/done/"
REAUTHENTICATE_URL = "/accounts/reauthenticate/"
SESSIONS_URL = "/accounts/sessions/"
HUB_URL = "/account/"
PROFILE_URL = "/account/profile/"

_LINK = re.compile(r"https?://testserver(/\S+)")


def signup_data(email: str, *, password: str = STRONG_PASSWORD, age: bool = True) -> dict:
    data = {"email": email, "password1": password, "password2": password}
    if age:
        data["age_confirmation"] = "on"
    return data


def signup(client: Client, email: str, **kwargs):
    return client.post(SIGNUP_URL, signup_data(email, **kwargs))


def login(client: Client, email: str, password: str = DEFAULT_PASSWORD):
    return client.post(LOGIN_URL, {"login": email, "password": password})


def is_signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def signed_in_user_id(client: Client) -> str | None:
    return client.session.get("_auth_user_id")


def link_in(message) -> str:
    """The path of the single site link in a mail body."""
    links = _LINK.findall(message.body)
    assert len(links) == 1, message.body
    return links[0]


def mails_to(mailoutbox, address: str) -> list:
    return [m for m in mailoutbox if address in m.to]


_CSRF_VALUE = re.compile(rb'(name="csrfmiddlewaretoken" value=")[^"]*(")')


def page_without_tokens(response) -> bytes:
    """The page body with per-session CSRF tokens blanked, for comparing two answers."""
    return _CSRF_VALUE.sub(rb"\1\2", response.content)


def form_errors(response) -> list[str]:
    """Every error message of the form in the response context, field and non-field."""
    form = response.context["form"]
    return [str(e) for errors in form.errors.values() for e in errors]


def signed_in(client: Client, user: User) -> Client:
    """`client` signed in as `user` without the login form (force_login)."""
    client.force_login(user)
    return client


def age_reauthentication(client: Client, seconds: int) -> None:
    """Make the session's last re-authentication `seconds` older."""
    session = client.session
    records = session[AUTHENTICATION_METHODS_SESSION_KEY]
    for record in records:
        record["at"] -= seconds
    session[AUTHENTICATION_METHODS_SESSION_KEY] = records
    session.save()
