"""Identity's personal data, for the purge engine (privacy/registry.py).

Also declares the framework and allauth models that hold data about a signed-in person,
since this app is where the portal configures them.
"""

from __future__ import annotations

from allauth.account.models import EmailAddress, EmailConfirmation
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib.admin.models import LogEntry
from django.contrib.sessions.models import Session

from accounts.models import ApiKey, SecurityNotice, User, Wallet
from privacy.registry import register


def _sessions_of(user_id: int):
    # Django's session rows carry no user column; allauth's UserSession is the index of
    # every session the portal saw the person sign in with.
    keys = UserSession.objects.filter(user_id=user_id).values("session_key")
    return Session.objects.filter(session_key__in=keys)


# Account deletion ends every session at once (privacy/deletion/closing.py); these catch any row
# that store-side deletion missed.
_SIGNS_IN = "a secret: whoever holds it is signed in as the person"
register(
    Session,
    rows=_sessions_of,
    user_field=None,
    before=(UserSession,),
    not_exported={"session_key": _SIGNS_IN, "session_data": "holds the session's secrets"},
)
register(UserSession, not_exported={"session_key": _SIGNS_IN})
register(
    EmailConfirmation,
    user_field="email_address__user",
    not_exported={"key": "a secret: it confirms the address"},
)
register(EmailAddress)
register(User.groups.through)
register(User.user_permissions.through)
# The person's own admin actions (staff only). The admin history *about* an erased
# object is handled by the engine: it keeps who on staff did what and when, and loses
# the object's name (which for a user or an address is the email).
register(
    LogEntry,
    not_exported={"object_repr": "names the object acted on: often another person's email"},
)
# Keys go after the generations that point at them: the registry orders each model
# before the models it references, so Generation is archived first.
register(
    ApiKey,
    not_exported={"hashed_key": "a digest of the secret key, useless to the person"},
)
register(Wallet)
register(SecurityNotice)
# Second factors (allauth.mfa): deleted with the account; the download lists each one's
# type and dates, not what proves it.
register(
    Authenticator,
    not_exported={
        "data": "the authenticator app's secret, the recovery codes' seed or the passkey's "
        "credential: a second factor for whoever holds it",
    },
)
# The account row itself: the registry always erases it last.
register(
    User,
    user_field="pk",
    not_exported={"password": "a digest of the password: useless to the person, and a secret"},
)
