"""Accounts: people (email and wallet accounts), their wallets and their API keys."""

from __future__ import annotations

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.actions import do_create_api_key, do_sign_up_with_wallet
from accounts.models import ApiKey, User, Wallet
from privacy.models import PolicyAcknowledgement, TermsAcknowledgement
from privacy.policy import CURRENT as CURRENT_POLICY
from privacy.policy import do_acknowledge_policy
from privacy.terms import CURRENT as CURRENT_TERMS
from privacy.terms import do_acknowledge_terms
from tests.helpers.markers import unique_marker
from tests.wallets import TestWallet

DEFAULT_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    """An email account, its address verified unless `verified=False`.

    Writes the rows itself: an email account is created by allauth's sign-up form
    (a mail, a link, a confirmation), which tests/accounts/test_signup.py drives over
    HTTP; this leaves what that journey leaves behind, without its mails.
    """

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
            do_acknowledge_terms(
                user=self, version=CURRENT_TERMS.version, how=TermsAcknowledgement.How.SIGNUP
            )


class TraceableUserFactory(UserFactory):
    """An email account whose address and display name are unique markers, so a test
    can look for them in every table, mail and export (the erasure tests)."""

    email = factory.LazyFunction(lambda: f"{unique_marker('person')}@example.com")
    display_name = factory.LazyFunction(lambda: unique_marker("Ada Lovelace"))


class WalletUserFactory(factory.django.DjangoModelFactory):
    """A wallet account (no email, no usable password) signed up through the actions
    the wallet sign-up page calls: do_sign_up_with_wallet, then do_acknowledge_policy
    and do_acknowledge_terms.
    `wallet` is the tests.wallets.TestWallet that signs for it; other fields given
    (is_active=False ...) are saved after the sign-up."""

    class Meta:
        model = User

    wallet = factory.LazyFunction(TestWallet.create)
    display_name = factory.Faker("name")

    @classmethod
    def _create(cls, model_class, *, wallet: TestWallet, display_name: str, **fields) -> User:
        user = do_sign_up_with_wallet(address=wallet.address, display_name=display_name)
        do_acknowledge_policy(
            user=user, version=CURRENT_POLICY.version, how=PolicyAcknowledgement.How.SIGNUP
        )
        do_acknowledge_terms(
            user=user, version=CURRENT_TERMS.version, how=TermsAcknowledgement.How.SIGNUP
        )
        if fields:
            for name, value in fields.items():
                setattr(user, name, value)
            user.save(update_fields=list(fields))
        return user


class WalletFactory(factory.django.DjangoModelFactory):
    """A wallet linked to an account some time ago.

    Writes the row itself: do_add_wallet also raises a "wallet added" security notice
    and mails it, which belong to the moment of linking (tests/accounts/test_wallets.py
    and test_security_notices.py link wallets through the pages); a wallet linked
    earlier has neither pending.
    """

    class Meta:
        model = Wallet

    user = factory.SubFactory(UserFactory)
    address = factory.LazyFunction(lambda: TestWallet.create().address)


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """An API key made by do_create_api_key. The raw key exists only in the action's
    return value: it is kept on the instance as `raw_key` (not a field)."""

    class Meta:
        model = ApiKey

    user = factory.SubFactory(UserFactory)
    name = "My app"
    logging = ApiKey.Logging.AS_ACCOUNT
    in_region_only = False
    zdr_only = False
    no_training = False

    @classmethod
    def _create(
        cls,
        model_class,
        *,
        user: User,
        name: str,
        logging: str,
        in_region_only: bool,
        zdr_only: bool,
        no_training: bool,
    ) -> ApiKey:
        # The key's rules are a starting state, set as creation sets them (tests of a
        # change use the action).
        api_key, raw_key = do_create_api_key(
            user=user,
            acting_user=user,
            name=name,
            logging=logging,
            provider_rules={
                "in_region_only": in_region_only,
                "zdr_only": zdr_only,
                "no_training": no_training,
            },
        )
        api_key.raw_key = raw_key
        return api_key
