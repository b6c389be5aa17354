from __future__ import annotations

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import User
from privacy.models import TermsAcknowledgement
from privacy.policy import CURRENT as CURRENT_POLICY
from privacy.terms import CURRENT as CURRENT_TERMS

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    display_name = factory.Faker("name")
    age_confirmed_at = factory.LazyFunction(timezone.now)
    # As if signed up under the policy in force (tests/privacy/test_policy_versions.py
    # covers the notice an account that has not acknowledged it sees).
    policy_acknowledged = CURRENT_POLICY.version
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PASSWORD)

    @factory.post_generation
    def verified(self, create, extracted, **kwargs):
        if not create:
            return
        self.save()
        if self.email is None:  # a wallet account
            return
        EmailAddress.objects.create(
            user=self, email=self.email, primary=True, verified=extracted is not False
        )

    @factory.post_generation
    def terms_acknowledged(self, create, extracted, **kwargs):
        # As if signed up under the terms in force (tests/privacy/test_terms_versions.py
        # covers the notice); terms_acknowledged=False for an account from before them.
        if create and extracted is not False:
            TermsAcknowledgement.objects.create(
                user=self, version=CURRENT_TERMS.version, how=TermsAcknowledgement.How.SIGNUP
            )
