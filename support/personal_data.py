"""Support's personal data, for the purge engine and the download (privacy/registry.py).

A person's tickets are those their account filed signed in and those sent with any
address the account verified: both are downloaded with the account and erased with it.
They are found through the addresses, so they go before the EmailAddress rows.
"""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.db.models import Q

from privacy.registry import register
from support.models import Ticket


def _tickets_of(user_id: int):
    addresses = EmailAddress.objects.filter(user_id=user_id, verified=True).values("email")
    return Ticket.objects.filter(Q(user_id=user_id) | Q(email__in=addresses))


register(
    Ticket,
    rows=_tickets_of,
    user_field=None,
    before=(EmailAddress,),
    people=("answered_by_id", "converted_by_id"),
)
