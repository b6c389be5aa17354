"""Privacy: deletion requests."""

from __future__ import annotations

import factory

from privacy.deletion.requests import (
    do_request_deletion,
    do_schedule_deletion_request,
    do_verify_deletion_request,
)
from privacy.models import DeletionRequest
from tests.factories.accounts import UserFactory


class DeletionRequestFactory(factory.Factory):
    """A request the account holder made on their pages (origin USER), through
    do_request_deletion; with `scheduled=True` also verified and scheduled, as the
    pages do once the person confirmed it."""

    class Meta:
        model = DeletionRequest

    user = factory.SubFactory(UserFactory)
    scope = DeletionRequest.Scope.PROMPTS
    origin = DeletionRequest.Origin.USER
    scheduled = False

    @classmethod
    def _create(cls, model_class, *, user, scope, origin, scheduled, **kwargs):
        request = do_request_deletion(
            user=user, acting_user=user, scope=scope, origin=origin, **kwargs
        )
        if scheduled:
            request = do_verify_deletion_request(deletion_request=request, acting_user=user)
            request = do_schedule_deletion_request(deletion_request=request, acting_user=user)
        return request
