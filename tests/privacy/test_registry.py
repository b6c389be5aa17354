from __future__ import annotations

from django.apps import apps
from django.contrib.auth import get_user_model

from privacy import registry


def _models_holding_data_about_people() -> set[type]:
    """User, and every model that points at it or at such a model, transitively:
    foreign keys, one-to-ones and many-to-many tables, the framework's and allauth's
    included (an EmailConfirmation points at an EmailAddress, which points at a User)."""
    everything = apps.get_models(include_auto_created=True)
    found = {get_user_model()}
    grew = True
    while grew:
        grew = False
        for model in everything:
            if model in found:
                continue
            for field in model._meta.get_fields(include_hidden=True):
                if field.is_relation and field.concrete and field.related_model in found:
                    found.add(model)
                    grew = True
                    break
    return found


def test_every_model_related_to_user_is_in_the_personal_data_registry():
    related = _models_holding_data_about_people()
    # The walk reaches the framework's tables, not only the portal's own.
    labels = {model._meta.label_lower for model in related}
    assert {
        "admin.logentry",
        "account.emailaddress",
        "account.emailconfirmation",
        "usersessions.usersession",
        "accounts.apikey",
        "logging_prefs.generation",
        "accounts.user_groups",
    } <= labels

    missing = sorted(m._meta.label for m in related - registry.registered_models())
    assert missing == [], (
        f"{missing} hold data about a person but are not in the personal-data registry: "
        "register them in their app's personal_data.py (privacy/registry.py)"
    )


def test_registry_erases_every_row_before_the_rows_it_points_at_and_the_account_last():
    order = [entry.model for entry in registry.entries()]
    position = {model: index for index, model in enumerate(order)}
    assert order[-1] is get_user_model()
    for model in order:
        for field in model._meta.get_fields():
            target = getattr(field, "related_model", None)
            if field.concrete and field.is_relation and target in position and target is not model:
                assert position[model] < position[target], (model, target)
    # Generation.api_key is PROTECT: billing rows lose their key link before keys go.
    from accounts.models import ApiKey
    from logging_prefs.models import Generation

    assert position[Generation] < position[ApiKey]


def test_anonymised_models_say_why_they_are_kept_and_cut_the_link_to_the_person():
    anonymised = [entry for entry in registry.entries() if entry.how == "anonymise"]
    assert anonymised
    for entry in anonymised:
        assert entry.reason
        assert entry.anonymise[entry.user_field.split("__")[0]] is None
