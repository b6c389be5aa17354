"""The Terms of Service's published versions, kept like the privacy policy's
(privacy/policy.py).

The policy says "We may terminate your use of the services at any time for any reason,
including breach of Terms of Service, with notice to you": these are those terms, and a
termination notice cites the version in force (privacy/termination/terminate.py). Every
version stays readable at /legal/terms/<version>/, the current one at /legal/terms/, and
the portal records which version each person acknowledged and when
(TermsAcknowledgement): at sign-up, and on the notice a signed-in person's pages show
until they have read a newer version.

A version is its date, published as privacy/versions.py says.

Unlike the policy's, the newest version a person acknowledged is not a column of the
account (accounts' tables are not privacy's to change): the notice's check keeps it in
the session once it is known, so a person who has read the terms costs one query per
session, not per page.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction

from accounts.models import User
from privacy.models import TermsAcknowledgement
from privacy.versions import PublishedVersion, find

# The session remembers the newest version this person is known to have acknowledged.
SESSION_KEY = "privacy.terms_acknowledged"


# A version of this document: PublishedVersion with its text in templates/privacy/terms/.
TermsVersion = partial(PublishedVersion, folder="terms")


# Oldest first; the last is in force.
VERSIONS: tuple[PublishedVersion, ...] = (
    TermsVersion("2026-12-07", "The first published version."),
)
CURRENT = VERSIONS[-1]


def terms_version(version: str) -> PublishedVersion | None:
    return find(VERSIONS, version)


def newest_acknowledged(user) -> str:
    """The newest version `user` acknowledged ("" for none). One query."""
    return (
        TermsAcknowledgement.objects.filter(user=user)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
        or ""
    )


def needs_acknowledgement(request) -> bool:
    """Whether the signed-in person of `request` has yet to read the version in force.
    Once they have, the session remembers it and later pages cost no query."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return False
    session = getattr(request, "session", None)
    if session is not None and session.get(SESSION_KEY, "") >= CURRENT.version:
        return False
    known = newest_acknowledged(user)
    if known >= CURRENT.version:
        if session is not None:
            session[SESSION_KEY] = known
        return False
    return True


class UnknownTermsVersion(Exception):
    """No such version of the Terms of Service was ever published."""


def do_acknowledge_terms(*, user: User, version: str, how: str) -> TermsAcknowledgement:
    """Record that `user` acknowledged the Terms of Service `version`, `how` being
    TermsAcknowledgement.How. Acknowledging a version again changes nothing.

    Raises UnknownTermsVersion for a version never published (nothing is written).
    Side effects: inserts one TermsAcknowledgement.
    """
    if terms_version(version) is None:
        raise UnknownTermsVersion(version)
    with transaction.atomic():
        acknowledgement, _ = TermsAcknowledgement.objects.get_or_create(
            user=user, version=version, defaults={"how": how}
        )
    return acknowledgement
