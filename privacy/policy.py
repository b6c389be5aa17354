"""The privacy policy's published versions.

The policy says: "We may modify this Privacy Policy at any time without notice. Your
continued use of our services after posting changes indicates your acceptance of these
changes." So every version stays readable at /legal/privacy/<version>/, the current one
at /legal/privacy/, and the portal records which version each person acknowledged and
when (PolicyAcknowledgement): at sign-up, and on the notice every signed-in page shows
until they have read a newer version.

A version is its "Last Updated" date, published as privacy/versions.py says.
"""

from __future__ import annotations

from functools import partial

from django.db import transaction

from accounts.models import User
from privacy.models import PolicyAcknowledgement
from privacy.versions import PublishedVersion, find

# A version of this document: PublishedVersion with its text in templates/privacy/policies/.
PolicyVersion = partial(PublishedVersion, folder="policies")


# Oldest first; the last is in force.
VERSIONS: tuple[PublishedVersion, ...] = (
    PolicyVersion("2024-10-10", "The first published version."),
)
CURRENT = VERSIONS[-1]


def policy_version(version: str) -> PublishedVersion | None:
    return find(VERSIONS, version)


def needs_acknowledgement(user) -> bool:
    """Whether a signed-in person has yet to read the version in force."""
    return user.is_authenticated and (user.policy_acknowledged or "") < CURRENT.version


class UnknownPolicyVersion(Exception):
    """No such version of the privacy policy was ever published."""


def do_acknowledge_policy(*, user: User, version: str, how: str) -> PolicyAcknowledgement:
    """Record that `user` acknowledged the privacy policy `version`, `how` being
    PolicyAcknowledgement.How. Acknowledging a version again changes nothing;
    acknowledging an older one never lowers the newest acknowledged.

    Raises UnknownPolicyVersion for a version never published (nothing is written).
    Side effects: inserts one PolicyAcknowledgement; sets user.policy_acknowledged.
    """
    if policy_version(version) is None:
        raise UnknownPolicyVersion(version)
    with transaction.atomic():
        acknowledgement, _ = PolicyAcknowledgement.objects.get_or_create(
            user=user, version=version, defaults={"how": how}
        )
        User.objects.filter(pk=user.pk, policy_acknowledged__lt=version).update(
            policy_acknowledged=version
        )
    if (user.policy_acknowledged or "") < version:
        user.policy_acknowledged = version
    return acknowledgement
