"""Anonymous categorisation: a transparent keyword classifier, fed only text that may be
used now, counted into aggregates with no user, key or text."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.db import models
from django.utils import timezone

from accounts.models import ApiKey
from logging_prefs import categories, tasks
from logging_prefs.actions import do_set_api_key_logging, do_set_logging_preferences
from logging_prefs.categories import (
    CATEGORIES,
    CATEGORY_LABELS,
    RULES,
    classify_prompt,
    do_categorise_stored_prompts,
    score_prompt,
)
from logging_prefs.models import CategoryDailyCount, Generation
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.logging_prefs import GenerationFactory, ingest, set_text_state

# --- The classifier ---------------------------------------------------------------

EXAMPLES = {
    "programming": [
        "Why does this throw TypeError: 'NoneType' object is not subscriptable?\n\n"
        "```python\ndef get_name(user):\n    return user['name']\n```",
        "Write a SQL query that returns the top 5 customers by total order value",
        "How do I center a div with CSS flexbox?",
        "Refactor this React component to use hooks instead of a class component.",
        'Traceback (most recent call last):\n  File "app.py", line 3, in <module>\n'
        "    import requests\nModuleNotFoundError: No module named 'requests'",
    ],
    "writing": [
        "Write a short story about a lighthouse keeper who finds a message in a bottle.",
        "Proofread my cover letter and make the tone more confident:\n\n"
        "Dear Hiring Manager, I am writing to apply for the position of...",
        "Write me a poem about autumn rain in the style of Mary Oliver.",
        "Can you rephrase this paragraph so it flows better? The meeting was long.",
    ],
    "translation": [
        "Translate the following into Spanish: 'The meeting has moved to Thursday.'",
        "How do you say 'nice to meet you' in Japanese?",
        "Please translate this German email to English: Sehr geehrte Damen und Herren, "
        "vielen Dank für Ihre Nachricht.",
        "Translate this Python docstring into French.",
    ],
    "roleplay": [
        "Let's roleplay. You are Captain Mara, a smuggler in a cyberpunk city. "
        "Stay in character no matter what.",
        "{{char}} is a shy librarian. {{user}} walks into the library late at night.\n\n"
        "*smiles nervously and waves*",
        "Pretend to be my grumpy dwarf companion on a quest through the mountains. "
        "*looks at you suspiciously*",
        "You are the dungeon master. My character is an elf ranger entering the tavern.",
    ],
    "marketing": [
        "Write 5 catchy slogans for our new eco-friendly water bottle brand.",
        "Create an Instagram caption with hashtags to promote our summer sale.",
        "Draft a landing page headline and call to action for a B2B analytics tool.",
        "Improve the SEO of this product description for running shoes.",
    ],
    "science": [
        "Explain how photosynthesis converts light energy into chemical energy in plants.",
        "What happens to an electron in quantum tunneling?",
        "Why do black holes emit Hawking radiation? Explain the physics simply.",
        "How do enzymes lower the activation energy of a reaction?",
    ],
    "math": [
        "Solve for x: 3x + 7 = 22",
        "What is the derivative of sin(x) * x^2?",
        "Prove that the square root of 2 is irrational.",
        "If I roll two dice, what is the probability that the sum is 7?",
        "What is 15% of 240? Please calculate it.",
    ],
    "other": [
        "What should I cook for dinner tonight? I have eggs, spinach and rice.",
        "You are a helpful assistant.\n\nWhat is the capital of Australia?",
        "hi",
        "",
    ],
}


@pytest.mark.parametrize(
    ("expected", "prompt"),
    [(category, prompt) for category, prompts in EXAMPLES.items() for prompt in prompts],
)
def test_classifier_puts_realistic_prompts_in_their_category(expected, prompt):
    assert classify_prompt(prompt) == expected, score_prompt(prompt)


def test_classifier_says_other_when_nothing_scores():
    prompt = "Meeting notes from 2024-10-10, room 3.1-8b, see page 10/11."
    assert score_prompt(prompt) == {}
    assert classify_prompt(prompt) == "other"


def test_classifier_ties_go_to_the_category_listed_first():
    # "python" is worth 2 to programming, "protein" 2 to science.
    prompt = "python protein"
    assert score_prompt(prompt) == {"programming": 2, "science": 2}
    assert CATEGORIES.index("programming") < CATEGORIES.index("science")
    assert classify_prompt(prompt) == "programming"
    assert classify_prompt("protein python") == "programming"


def test_classifier_caps_repeats_of_one_signal():
    # A log pasted with the same word a hundred times counts it MAX_HITS_PER_RULE times.
    assert score_prompt("bug " * 100) == {"programming": 2 * categories.MAX_HITS_PER_RULE}


def test_classifier_reads_both_ends_of_a_long_prompt():
    filler = "lorem ipsum dolor sit amet " * 20_000
    assert classify_prompt(filler + "Translate the above into German.") == "translation"
    assert classify_prompt("Proofread this essay:\n" + filler) == "writing"


def test_every_category_is_documented_and_has_signals():
    assert set(CATEGORY_LABELS) == set(CATEGORIES)
    with_rules = {rule.category for rule in RULES}
    assert with_rules == set(CATEGORIES) - {"other"}
    assert all(rule.signal and rule.weight in (1, 2, 3) for rule in RULES)


# --- The task ----------------------------------------------------------------------


@pytest.fixture
def seen(monkeypatch):
    """Every text the classifier is given, in order."""
    texts: list[str] = []
    real = categories.classify_prompt

    def spy(text: str) -> str:
        texts.append(text)
        return real(text)

    monkeypatch.setattr(categories, "classify_prompt", spy)
    return texts


@pytest.fixture
def requeues(monkeypatch):
    spy = mock.Mock()
    monkeypatch.setattr(tasks, "categorise_stored_prompts", spy)
    return spy


# The real task, kept before `requeues` replaces the module global.
categorise_stored_prompts = tasks.categorise_stored_prompts


def total_counted() -> int:
    return CategoryDailyCount.objects.aggregate(total=models.Sum("count"))["total"] or 0


@pytest.mark.django_db
def test_categorisation_never_sees_opted_out_text(seen, requeues):
    allowed_key = ApiKeyFactory(user=UserFactory())
    allowed = GenerationFactory(
        api_key=allowed_key, prompt="ALLOWED: write a python function to sort a list"
    )

    # Stored while logging was on; the owner opted out afterwards.
    opted_out_user = UserFactory()
    opted_out = GenerationFactory(
        api_key=ApiKeyFactory(user=opted_out_user), prompt="OPTED OUT: my diary entry"
    )
    do_set_logging_preferences(
        user=opted_out_user, acting_user=opted_out_user, changes={"log_prompts": False}
    )

    # Stored through a key that was switched to never-log afterwards.
    never_user = UserFactory()
    never_key = ApiKeyFactory(user=never_user)
    never_later = GenerationFactory(
        api_key=never_key, prompt="NEVER-LOG KEY: confidential contract"
    )
    do_set_api_key_logging(api_key=never_key, acting_user=never_user, logging="never")

    # A key that was never-log from the start: its text is not even stored.
    never_from_start = GenerationFactory(
        api_key=ApiKeyFactory(user=UserFactory(), logging=ApiKey.Logging.NEVER),
        prompt="NEVER FROM START",
    )

    # A deactivated account.
    inactive_user = UserFactory()
    inactive = GenerationFactory(
        api_key=ApiKeyFactory(user=inactive_user), prompt="INACTIVE: old notes"
    )
    inactive_user.is_active = False
    inactive_user.save(update_fields=["is_active"])

    # Past retention: no text left to read.
    expired = GenerationFactory(api_key=ApiKeyFactory(user=UserFactory()), prompt="EXPIRED")
    set_text_state(expired, Generation.TextState.EXPIRED)

    # The opted-out and never-log text really is stored: only the task's filter keeps
    # it from the classifier.
    for generation in (opted_out, never_later, inactive):
        generation.refresh_from_db()
        assert generation.text_state == Generation.TextState.STORED and generation.prompt
    assert never_from_start.text_state == Generation.TextState.NOT_LOGGED

    assert categorise_stored_prompts.run() == 1

    assert seen == ["ALLOWED: write a python function to sort a list"]
    categorised = set(Generation.objects.filter(categorised=True).values_list("id", flat=True))
    assert categorised == {allowed.id}
    assert total_counted() == 1
    requeues.delay.assert_not_called()


@pytest.mark.django_db
def test_category_counts_store_no_user_link(seen, requeues):
    user = UserFactory(email="someone.private@example.com")
    prompt = "Translate 'my bank password is hunter2' into French"
    ingest(ApiKeyFactory(user=user), prompt=prompt, model="mistralai/mistral-large")

    categorise_stored_prompts.run()

    fields = {field.name for field in CategoryDailyCount._meta.get_fields()}
    assert fields == {"id", "model", "category", "day", "count"}
    assert not any(field.is_relation for field in CategoryDailyCount._meta.get_fields())
    [row] = CategoryDailyCount.objects.values("model", "category", "day", "count")
    assert row == {
        "model": "mistralai/mistral-large",
        "category": "translation",
        "day": timezone.now().astimezone(dt.UTC).date(),
        "count": 1,
    }
    assert "hunter2" not in str(row) and user.email not in str(row)


@pytest.mark.django_db
def test_categorising_twice_counts_nothing_twice(seen, requeues):
    api_key = ApiKeyFactory(user=UserFactory())
    ingest(api_key, 3, prompt="Solve for x: 2x + 3 = 11")

    assert categorise_stored_prompts.run() == 3
    assert categorise_stored_prompts.run() == 0
    assert total_counted() == 3
    assert len(seen) == 3

    # New traffic is counted on top, once.
    ingest(api_key, prompt="Write a poem about the sea")
    assert categorise_stored_prompts.run() == 1
    assert categorise_stored_prompts.run() == 0
    assert total_counted() == 4
    assert len(seen) == 4


@pytest.mark.django_db
def test_category_counts_add_up_per_model_category_and_day(seen, requeues):
    api_key = ApiKeyFactory(user=UserFactory())
    today = timezone.now()
    five_days_ago = today - dt.timedelta(days=5)
    # An earlier run's count for the same (model, category, day): the upsert adds to it.
    CategoryDailyCount.objects.create(
        model="openai/gpt-4o",
        category="programming",
        day=today.astimezone(dt.UTC).date(),
        count=10,
    )
    ingest(api_key, 2, prompt="Fix this bug in my python script", model="openai/gpt-4o")
    ingest(api_key, prompt="Write a story about a dragon", model="openai/gpt-4o")
    ingest(
        api_key,
        newest=five_days_ago,
        prompt="Debug my javascript function",
        model="openai/gpt-4o",
    )
    ingest(api_key, prompt="Fix this bug in my python script", model="google/gemini-2.5-pro")

    assert do_categorise_stored_prompts(batch_size=100) == 5

    counts = {
        (row.model, row.category, row.day): row.count for row in CategoryDailyCount.objects.all()
    }
    day = today.astimezone(dt.UTC).date()
    earlier = five_days_ago.astimezone(dt.UTC).date()
    assert counts == {
        ("openai/gpt-4o", "programming", day): 12,
        ("openai/gpt-4o", "writing", day): 1,
        ("openai/gpt-4o", "programming", earlier): 1,
        ("google/gemini-2.5-pro", "programming", day): 1,
    }


@pytest.mark.django_db
def test_categorisation_processes_in_chunks_and_requeues_while_eligible_rows_remain(
    seen, requeues, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(tasks, "CATEGORISATION_CHUNK_SIZE", 2)
    ingest(ApiKeyFactory(user=UserFactory()), 3, prompt="What is the derivative of x^3?")
    # Ineligible rows never keep the chain going.
    opted_out = UserFactory()
    ingest(ApiKeyFactory(user=opted_out), 3, prompt="private")
    do_set_logging_preferences(
        user=opted_out, acting_user=opted_out, changes={"log_prompts": False}
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert categorise_stored_prompts.run() == 2
    assert len(callbacks) == 1
    requeues.delay.assert_called_once_with()

    requeues.reset_mock()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert categorise_stored_prompts.run() == 1
    assert callbacks == []
    requeues.delay.assert_not_called()

    assert total_counted() == 3
    assert "private" not in seen
