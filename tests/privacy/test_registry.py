from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.test.utils import isolate_apps

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
    # Generations point at keys (with no database constraint): they are archived before
    # keys go, so no row is left pointing at a deleted key.
    from accounts.models import ApiKey
    from logging_prefs.models import Generation

    assert position[Generation] < position[ApiKey]


def test_anonymised_models_say_why_they_are_kept_and_cut_the_link_to_the_person():
    anonymised = [entry for entry in registry.entries() if entry.how == "anonymise"]
    assert anonymised
    for entry in anonymised:
        assert entry.reason
        assert entry.anonymise[entry.user_field.split("__")[0]] is None


def test_archived_models_say_why_and_keep_totals_only_in_a_model_that_holds_no_person():
    archived = [entry for entry in registry.entries() if entry.how == "archive"]
    assert archived
    for entry in archived:
        assert entry.reason
        into = entry.archive.into
        assert into not in registry.registered_models()
        fields = into._meta.get_fields(include_hidden=True)
        assert not [f.name for f in fields if f.is_relation]
        sources = [entry.archive.day[1], *entry.archive.keys.values(), *entry.archive.sums.values()]
        for source in sources:
            assert not entry.model._meta.get_field(source).is_relation


def test_billing_ledger_has_no_field_that_could_identify_a_person():
    from logging_prefs.models import BillingDailyTotal, Generation

    fields = BillingDailyTotal._meta.get_fields(include_hidden=True)
    # Nothing links a ledger row to any other row: no account, key, or anything else.
    assert [f.name for f in fields if f.is_relation] == []
    # Totals per day, model and provider, and nothing else: no request id, no time of
    # day (either could be matched back to the gateway's request logs).
    assert {f.name for f in fields} == {
        "id",
        "day",
        "model",
        "provider",
        "generations",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
    }
    assert not [f.name for f in fields if f.get_internal_type() == "DateTimeField"]
    # None of the generation's fields about the person (or what they wrote) is there,
    # under any column name.
    personal = {"user", "api_key", "app_url", "app_title", "prompt", "completion", "gateway_id"}
    columns = {f.column for f in BillingDailyTotal._meta.concrete_fields}
    for name in personal:
        field = Generation._meta.get_field(name)
        assert name not in columns and field.column not in columns, name
    # Free text could hold anything: the only character fields are the model and
    # provider names, none of them long enough to carry a text.
    text = {
        f.name: f.max_length for f in fields if f.get_internal_type() in ("CharField", "TextField")
    }
    assert text == {"model": 200, "provider": 100}
    # One row per day, model and provider, summed over every deleted account.
    (unique,) = BillingDailyTotal._meta.constraints
    assert tuple(unique.fields) == ("day", "model", "provider")


def test_register_refuses_an_archive_that_could_keep_the_person_or_lose_a_column():
    from django.contrib.auth.models import Group

    from logging_prefs.models import BillingDailyTotal, CategoryDailyCount, Generation

    before = list(registry.entries())
    sums = {"prompt_tokens": "prompt_tokens"}
    keys = {"model": "model", "provider": "provider"}

    def totals(**kwargs) -> registry.Totals:
        options = {
            "into": BillingDailyTotal,
            "day": ("day", "created_at"),
            "keys": keys,
            "count": "generations",
            "sums": sums,
        }
        return registry.Totals(**{**options, **kwargs})

    def archive(**kwargs):
        options = {"how": "archive", "reason": "billing", "archive": totals()}
        registry.register(Generation, **{**options, **kwargs})

    with pytest.raises(ValueError, match="say why"):
        archive(reason="")
    with pytest.raises(ValueError, match="needs `archive`"):
        archive(archive=None)
    # An archive with a relation (here: a user's group memberships) could lead back.
    with pytest.raises(ValueError, match="must not relate"):
        archive(archive=totals(into=Group, keys={"name": "model"}))
    with pytest.raises(ValueError, match="not a plain field"):
        archive(archive=totals(keys={**keys, "provider": "user"}))
    with pytest.raises(ValueError, match="has no field"):
        archive(archive=totals(sums={**sums, "prompt": "prompt"}))
    with pytest.raises(ValueError, match="not a number to add up"):
        archive(archive=totals(sums={**sums, "cost_usd": "model"}))
    with pytest.raises(ValueError, match="per day of a DateTimeField"):
        archive(archive=totals(day=("day", "model")))
    with pytest.raises(ValueError, match="filled once"):
        archive(archive=totals(count="prompt_tokens"))
    # A ledger column neither totalled by nor filled by a default would fail the insert.
    with pytest.raises(ValueError, match=r"must fill BillingDailyTotal\.provider"):
        archive(archive=totals(keys={"model": "model"}))
    with pytest.raises(ValueError, match=r"CategoryDailyCount\.category is not a number"):
        archive(
            archive=totals(
                into=CategoryDailyCount,
                keys={"model": "model"},
                count="count",
                sums={"category": "prompt_tokens"},
            )
        )
    with pytest.raises(ValueError, match=r"BillingDailyTotal\.model is not a number"):
        archive(archive=totals(keys={"provider": "provider"}, count="model"))
    with pytest.raises(ValueError, match="only for how='archive'"):
        registry.register(Generation, how="delete", archive=totals())
    with pytest.raises(ValueError, match="cannot order chunks by '-made_up'"):
        archive(chunk_order=("-made_up",))
    assert list(registry.entries()) == before


@isolate_apps("logging_prefs")
def test_register_refuses_totals_without_a_unique_constraint_to_add_into():
    # Adding into an existing row (INSERT ... ON CONFLICT) needs a unique constraint on
    # exactly what the rows are totalled by; without one every chunk would add new rows.
    from logging_prefs.models import Generation

    class UnconstrainedLedger(models.Model):
        day = models.DateField()
        model = models.CharField(max_length=200)
        provider = models.CharField(max_length=100)
        generations = models.PositiveBigIntegerField(default=0)

        class Meta:
            app_label = "logging_prefs"

        def __str__(self) -> str:
            return f"{self.day} {self.model}"

    before = list(registry.entries())
    totals = registry.Totals(
        into=UnconstrainedLedger,
        day=("day", "created_at"),
        keys={"model": "model", "provider": "provider"},
        count="generations",
        sums={},
    )
    with pytest.raises(ValueError, match="needs a unique constraint on day, model, provider$"):
        registry.register(Generation, how="archive", reason="billing", archive=totals)
    assert list(registry.entries()) == before


def _plain_ids(model: type[models.Model]) -> list[str]:
    """Integer fields named like an id that are not a relation: by the house rule, ids of
    people on rows that outlive them ("user_id", "verified_by_id", "actor_id")."""
    return [
        f.attname
        for f in model._meta.concrete_fields
        if isinstance(f, models.IntegerField)
        and not f.is_relation
        and not f.primary_key
        and f.attname.endswith("_id")
    ]


def _free_text(model: type[models.Model]) -> list[str]:
    """Fields that can hold anything a person typed: text without fixed choices, and JSON."""
    return [
        f.attname
        for f in model._meta.concrete_fields
        if (isinstance(f, models.CharField | models.TextField) and not f.choices)
        or isinstance(f, models.JSONField)
    ]


def test_every_plain_account_id_is_forgotten_when_that_account_is_erased():
    forgotten: dict[type, set[str]] = {}
    for entry in registry.entries():
        names = forgotten.setdefault(entry.model, set())
        names.update(entry.people)
        if entry.how == "anonymise" and entry.anonymise.get(entry.user_field, 0) is None:
            names.add(entry.user_field)
    for record in registry.records():
        names = forgotten.setdefault(record.model, set())
        names.update(record.people)
        names.update(name for name, value in record.clear.items() if value is None)
    plain = {
        model: _plain_ids(model)
        for model in apps.get_models(include_auto_created=True)
        if _plain_ids(model)
    }
    # The walk finds the lifecycle's records, whose people are plain integers.
    assert {"privacy.deletionrequest", "privacy.termination", "privacy.auditevent"} <= {
        model._meta.label_lower for model in plain
    }
    missing = sorted(
        f"{model._meta.label}.{name}"
        for model, names in plain.items()
        for name in names
        if name not in forgotten.get(model, set())
    )
    assert missing == [], (
        f"{missing} hold an account's id and outlive it: declare them in the registry "
        "(register(..., people=...) or register_record) so the purge forgets them"
    )


def test_every_free_text_of_a_kept_row_is_cleared_when_its_account_is_erased_or_says_why():
    kept_rows = [entry for entry in registry.entries() if entry.how == "anonymise"]
    assert kept_rows and registry.records()
    missing = []
    for entry in kept_rows:
        missing += [
            f"{entry.model._meta.label}.{name}"
            for name in _free_text(entry.model)
            if entry.anonymise.get(name, 0) not in ("", None)
        ]
    for record in registry.records():
        missing += [
            f"{record.model._meta.label}.{name}"
            for name in _free_text(record.model)
            if record.clear.get(name, 0) is None
            or (name not in record.clear and name not in record.kept)
        ]
    assert missing == [], (
        f"{missing} can hold free text about a person on a row kept after the account is "
        "erased: clear it (anonymise / register_record(clear=...)) or say why it stays (kept)"
    )
    # Support's own words about the person are among what goes.
    from privacy.models import DeletionRequest

    (requests,) = [r for r in registry.records() if r.model is DeletionRequest]
    assert {"verification_note", "rejection_reason"} <= set(requests.clear)
