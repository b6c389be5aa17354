"""Second factors for tests: an authenticator app's codes computed from the secret the
portal gives (pyotp, the algorithm every authenticator app runs, not allauth's own
code), and signing in with them through the real pages.

A code is good for its 30-second step only, and once (allauth remembers it): a helper
that needs a fresh code waits for the next step, as a person at their phone would.
"""

from __future__ import annotations

import re
import time

import pyotp
from allauth.mfa.models import Authenticator
from allauth.mfa.utils import decrypt
from django.test import Client

from accounts.actions import do_set_up_authenticator_app
from accounts.models import User
from tests.factories.accounts import DEFAULT_PASSWORD

LOGIN_URL = "/accounts/login/"
MFA_AUTHENTICATE_URL = "/accounts/2fa/authenticate/"
MFA_REAUTHENTICATE_URL = "/accounts/2fa/reauthenticate/"
SECURITY_URL = "/accounts/2fa/"
TOTP_ACTIVATE_URL = "/accounts/2fa/totp/activate/"
STEP_SECONDS = 30
# A code typed with less of its step left may be stale when the server checks it.
MARGIN_SECONDS = 3

_last_step: dict[str, int] = {}


def code_for(secret: str) -> str:
    """The authenticator app's current code for `secret`, never one this process has
    already used, and with a few seconds of its step still to run."""
    while True:
        now = time.time()
        step = int(now // STEP_SECONDS)
        left = STEP_SECONDS - now % STEP_SECONDS
        if step > _last_step.get(secret, -1) and left > MARGIN_SECONDS:
            _last_step[secret] = step
            return pyotp.TOTP(secret).at(now)
        time.sleep(left + 0.05)


def give_authenticator_app(user: User) -> str:
    """Set up an authenticator app for `user`; its secret."""
    secret = pyotp.random_base32()
    do_set_up_authenticator_app(user=user, secret=secret)
    return secret


def authenticator_secret(user: User) -> str | None:
    row = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    return decrypt(row.data["secret"]) if row else None


def secret_on_page(html: str) -> str:
    """The secret the Security page's set-up form shows (beside its QR code)."""
    found = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', html) or re.search(
        r'value="([A-Z2-7]+)"[^>]*id="authenticator_secret"', html
    )
    assert found, "no authenticator secret on the page"
    return found.group(1)


def sign_in_with_code(
    client: Client, user: User, *, password: str = DEFAULT_PASSWORD, next_url: str = ""
):
    """Sign in as `user` the way a person with an authenticator app does: the password,
    then a code from the app. The answer to the code."""
    secret = authenticator_secret(user)
    assert secret, f"{user} has no authenticator app"
    data = {"login": user.email, "password": password}
    if next_url:
        data["next"] = next_url
    first = client.post(LOGIN_URL, data)
    assert first.status_code == 302 and first["Location"] == MFA_AUTHENTICATE_URL, first
    return client.post(MFA_AUTHENTICATE_URL, {"code": code_for(secret)})


def staff_client(user: User) -> Client:
    """A browser session of staff member `user`, signed in as staff must: password and
    authenticator app (one is set up first if they have none)."""
    if authenticator_secret(user) is None:
        give_authenticator_app(user)
    client = Client()
    response = sign_in_with_code(client, user)
    assert response.status_code == 302, response
    return client
