"""A key's own provider rules (zero-data-retention only, no training, in-region only):
each narrows its account's provider choices for that key, never widens them.

The effective rules are computed once (eligibility.effective_provider_policy) and the
gateway's decision answers with them: the truth table below sets every combination of
the account's six choices and the key's three rules in the database and checks the
decision against the rule as stated here, and that no combination widens the account.
The key's page sets the rules (create and edit), each change audited."""

from __future__ import annotations

import itertools

import pytest
from django.test import Client

from accounts.models import ApiKey
from logging_prefs.actions import do_set_logging_preferences
from logging_prefs.eligibility import KEY_NARROWS, effective_provider_policy
from logging_prefs.models import LoggingPreference, PreferenceChange
from logging_prefs.selectors import decision_for_key
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.helpers.accounts import signed_in

pytestmark = pytest.mark.django_db

ACCOUNT = LoggingPreference.PROVIDER_POLICY_FIELDS
RULES = ApiKey.PROVIDER_RULE_FIELDS


def expected(account: dict[str, bool], key: dict[str, bool]) -> dict[str, bool]:
    """The rule as the key's page states it, written out by hand."""
    return {
        "allow_training_paid": account["allow_training_paid"] and not key["no_training"],
        "allow_training_free": account["allow_training_free"] and not key["no_training"],
        "allow_retention": account["allow_retention"],
        "allow_publication": account["allow_publication"],
        "zdr_only": account["zdr_only"] or key["zdr_only"],
        "in_region_only": account["in_region_only"] or key["in_region_only"],
    }


def _combinations():
    for account_values in itertools.product((False, True), repeat=len(ACCOUNT)):
        for key_values in itertools.product((False, True), repeat=len(RULES)):
            yield (
                dict(zip(ACCOUNT, account_values, strict=True)),
                dict(zip(RULES, key_values, strict=True)),
            )


def test_every_key_rule_narrows_some_account_choice():
    assert set(KEY_NARROWS.values()) == set(RULES)
    assert set(KEY_NARROWS) <= set(ACCOUNT)


def test_the_decision_answers_the_effective_rules_for_every_combination():
    api_key = ApiKeyFactory()
    seen = 0
    for account, key in _combinations():
        LoggingPreference.objects.filter(user=api_key.user).update(**account)
        ApiKey.objects.filter(pk=api_key.pk).update(**key)
        policy = decision_for_key(api_key.raw_key).provider_policy
        assert policy == expected(account, key), (account, key)
        assert policy == effective_provider_policy(account, key)
        # Never wider than the account: an "allow" only turns off, an "only" only on.
        for name in ACCOUNT:
            if name.startswith("allow_"):
                assert policy[name] <= account[name]
            else:
                assert policy[name] >= account[name]
        seen += 1
    assert seen == 2 ** (len(ACCOUNT) + len(RULES))


def test_a_key_with_no_rules_is_exactly_its_account():
    for account, _ in _combinations():
        assert effective_provider_policy(account, dict.fromkeys(RULES, False)) == account


# --- The key's page --------------------------------------------------------------------


def rules_url(api_key: ApiKey) -> str:
    return f"/account/keys/{api_key.pk}/rules/"


def page_of(api_key: ApiKey) -> str:
    return f"/account/keys/{api_key.pk}/"


ALL_ON = {"zdr_only": "on", "no_training": "on", "in_region_only": "on"}


def test_the_key_page_offers_each_rule_with_its_label_and_explanation(user_client, user):
    api_key = ApiKeyFactory(user=user)
    page = user_client.get(page_of(api_key)).content.decode()
    assert f'action="{rules_url(api_key)}"' in page
    assert "Zero-data-retention endpoints only, for this key" in page
    assert "No endpoints that may train on prompts, for this key" in page
    for name in RULES:
        assert f'name="{name}"' in page
        assert f'aria-describedby="id_{name}-help"' in page
    assert "never widen them" in page


def test_the_key_page_shows_where_the_key_may_go_narrowed_by_its_rules(user_client, user):
    do_set_logging_preferences(
        user=user, acting_user=user, changes={"allow_training_paid": True, "zdr_only": False}
    )
    api_key = ApiKeyFactory(user=user, no_training=True)
    response = user_client.get(page_of(api_key))
    rows = {row["label"]: row for row in response.context["effective_rules"]}
    paid = rows["Allow paid endpoints that may train on prompts"]
    assert (paid["account"], paid["key"], paid["narrowed"]) == ("Allowed", "Not allowed", True)
    zdr = rows["Zero-data-retention endpoints only"]
    assert (zdr["account"], zdr["key"], zdr["narrowed"]) == ("Off", "Off", False)
    assert "(narrowed by this key)" in response.content.decode()


def test_setting_the_rules_narrows_the_key_and_audits_each_change(user_client, user):
    api_key = ApiKeyFactory(user=user, name="Strict")
    response = user_client.post(
        rules_url(api_key), {"zdr_only": "on", "no_training": "on"}, follow=True
    )
    assert response.redirect_chain[-1][0] == page_of(api_key)
    page = response.content.decode()
    assert "“Strict”: Zero-data-retention endpoints only, for this key is now on." in page
    assert "“Strict”: No endpoints that may train on prompts, for this key is now on." in page
    api_key.refresh_from_db()
    assert api_key.provider_rules() == {
        "zdr_only": True,
        "no_training": True,
        "in_region_only": False,
    }
    changes = PreferenceChange.objects.filter(user=user).order_by("setting")
    assert [
        (c.api_key_id, c.setting, c.old_value, c.new_value, c.actor_is_user) for c in changes
    ] == [
        (api_key.pk, "key_no_training", "off", "on", True),
        (api_key.pk, "key_zdr_only", "off", "on", True),
    ]
    assert decision_for_key(api_key.raw_key).provider_policy["zdr_only"] is True
    # The same values again record nothing more.
    user_client.post(rules_url(api_key), {"zdr_only": "on", "no_training": "on"})
    assert PreferenceChange.objects.filter(user=user).count() == 2
    history = user_client.get("/account/privacy/").content.decode()
    assert "No endpoints that may train on prompts, for this key" in history
    assert f"Strict ({api_key.prefix}…)" in history
    # Unticked, each rule returns to the account.
    user_client.post(rules_url(api_key), {})
    api_key.refresh_from_db()
    assert not any(api_key.provider_rules().values())
    assert PreferenceChange.objects.filter(user=user, new_value="off").count() == 2


@pytest.mark.parametrize("value", ["maybe", "2", "x" * 500])
@pytest.mark.parametrize("rule", RULES)
def test_a_forged_value_is_a_form_error_and_changes_nothing(user_client, user, rule, value):
    api_key = ApiKeyFactory(user=user)
    response = user_client.post(rules_url(api_key), {**ALL_ON, rule: value})
    assert response.status_code == 200
    assert response.context["rules_form"].errors[rule]
    api_key.refresh_from_db()
    assert not any(api_key.provider_rules().values())
    assert not PreferenceChange.objects.exists()


def test_a_revoked_key_cannot_be_changed(user_client, user):
    api_key = ApiKeyFactory(user=user)
    user_client.post(f"/account/keys/{api_key.pk}/revoke/", {"confirm": "on"})
    response = user_client.post(rules_url(api_key), ALL_ON)
    assert response.status_code == 200
    assert "This key is revoked; it can no longer be changed." in response.content.decode()
    api_key.refresh_from_db()
    assert not any(api_key.provider_rules().values())


def test_another_users_key_is_not_found(user_client):
    theirs = ApiKeyFactory(user=UserFactory())
    assert user_client.post(rules_url(theirs), ALL_ON).status_code == 404
    theirs.refresh_from_db()
    assert not any(theirs.provider_rules().values())


def test_only_by_post_signed_in_and_csrf_protected(client, user):
    api_key = ApiKeyFactory(user=user)
    assert client.post(rules_url(api_key), ALL_ON)["Location"].startswith("/accounts/login/")
    signed = signed_in(Client(), user)
    assert signed.get(rules_url(api_key)).status_code == 405
    strict = signed_in(Client(enforce_csrf_checks=True), user)
    assert strict.post(rules_url(api_key), ALL_ON).status_code == 403
    api_key.refresh_from_db()
    assert not any(api_key.provider_rules().values())


def test_a_key_is_created_with_its_rules(user_client, user):
    response = user_client.post(
        "/account/keys/",
        {"name": "Careful app", "logging": "account", "zdr_only": "on", "no_training": "on"},
        follow=True,
    )
    api_key = ApiKey.objects.get(user=user, name="Careful app")
    assert api_key.provider_rules() == {
        "zdr_only": True,
        "no_training": True,
        "in_region_only": False,
    }
    page = response.content.decode()
    assert "Zero-data-retention only, no training" in page


def test_a_forged_rule_at_creation_creates_no_key(user_client, user):
    response = user_client.post(
        "/account/keys/", {"name": "Careful app", "logging": "account", "zdr_only": "perhaps"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["zdr_only"]
    assert not ApiKey.objects.filter(user=user).exists()


def test_the_create_form_offers_the_rules(user_client):
    page = user_client.get("/account/keys/").content.decode()
    assert "Provider rules for this key" in page
    for name in RULES:
        assert f'name="{name}"' in page
