from __future__ import annotations

import pytest
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


def test_archived_models_say_why_and_copy_only_into_a_model_that_holds_no_person():
    archived = [entry for entry in registry.entries() if entry.how == "archive"]
    assert archived
    for entry in archived:
        assert entry.reason
        assert entry.archive_into not in registry.registered_models()
        fields = entry.archive_into._meta.get_fields(include_hidden=True)
        assert not [f.name for f in fields if f.is_relation]
        for source in entry.archive_fields.values():
            assert not entry.model._meta.get_field(source).is_relation


def test_billing_ledger_has_no_field_that_could_identify_a_person():
    from logging_prefs.models import BillingRecord, Generation

    fields = BillingRecord._meta.get_fields(include_hidden=True)
    # Nothing links a ledger row to any other row: no account, key, or anything else.
    assert [f.name for f in fields if f.is_relation] == []
    # Exactly what billing needs, and nothing else.
    assert {f.name for f in fields} == {
        "id",
        "gateway_id",
        "model",
        "provider",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
        "created_at",
        "archived_at",
    }
    # None of the generation's fields about the person (or what they wrote) is there,
    # under any column name.
    personal = {"user", "api_key", "app_url", "app_title", "prompt", "completion"}
    columns = {f.column for f in BillingRecord._meta.concrete_fields}
    for name in personal:
        field = Generation._meta.get_field(name)
        assert name not in columns and field.column not in columns, name
    # Free text could hold anything: the only character fields are the gateway's id
    # and the model and provider names, none of them long enough to carry a text.
    text = {
        f.name: f.max_length for f in fields if f.get_internal_type() in ("CharField", "TextField")
    }
    assert text == {"gateway_id": 64, "model": 200, "provider": 100}
    # Written in bulk and read rarely: the primary key is its only index.
    assert BillingRecord._meta.indexes == [] and BillingRecord._meta.constraints == []
    assert not [
        f.name
        for f in fields
        if getattr(f, "db_index", False) or getattr(f, "unique", False) and not f.primary_key
    ]


def test_register_refuses_an_archive_that_could_keep_the_person_or_lose_a_column():
    from django.contrib.auth.models import Group

    from logging_prefs.models import BillingRecord, Generation

    before = list(registry.entries())
    fields = {"model": "model", "provider": "provider"}

    def archive(**kwargs):
        options = {
            "how": "archive",
            "reason": "billing",
            "archive_into": BillingRecord,
            "archive_fields": fields,
        }
        registry.register(Generation, **{**options, **kwargs})

    with pytest.raises(ValueError, match="say why"):
        archive(reason="")
    with pytest.raises(ValueError, match="needs `archive_into`"):
        archive(archive_into=None)
    # An archive with a relation (here: a user's group memberships) could lead back.
    with pytest.raises(ValueError, match="must not relate"):
        archive(archive_into=Group, archive_fields={"name": "model"})
    with pytest.raises(ValueError, match="not a plain field"):
        archive(archive_fields={**fields, "gateway_id": "user"})
    with pytest.raises(ValueError, match="has no field"):
        archive(archive_fields={**fields, "prompt": "prompt"})
    # A ledger column neither copied nor filled by the database would fail the insert.
    with pytest.raises(ValueError, match=r"must fill BillingRecord\.gateway_id"):
        archive()
    with pytest.raises(ValueError, match="only for how='archive'"):
        registry.register(Generation, how="delete", archive_into=BillingRecord)
    with pytest.raises(ValueError, match="cannot order chunks by '-made_up'"):
        archive(chunk_order=("-made_up",))
    assert list(registry.entries()) == before
