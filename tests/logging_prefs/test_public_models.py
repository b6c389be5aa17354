"""The public model pages: anonymous category aggregates per model, no JS, no inline style."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from logging_prefs import tasks
from logging_prefs.models import CategoryDailyCount
from tests.logging_prefs.factories import ingest, make_key, make_user

pytestmark = pytest.mark.django_db


def today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def count(model: str, category: str, n: int, *, days_ago: int = 0) -> None:
    CategoryDailyCount.objects.create(
        model=model, category=category, day=today() - dt.timedelta(days=days_ago), count=n
    )


def detail_url(model: str) -> str:
    author, slug = model.split("/")
    return reverse("model_detail", kwargs={"author": author, "slug": slug})


def test_models_index_lists_models_with_totals_linking_to_each(client):
    count("openai/gpt-4o", "programming", 1200)
    count("openai/gpt-4o", "writing", 34, days_ago=90)
    count("anthropic/claude-3.5-sonnet", "roleplay", 7)

    response = client.get("/models/")

    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("models_index") == "/models/"
    assert '<a href="/models/openai/gpt-4o/">openai/gpt-4o</a>' in html
    assert '<a href="/models/anthropic/claude-3.5-sonnet/">anthropic/claude-3.5-sonnet</a>' in html
    assert "1,234" in html  # every day counts towards the total
    # Alphabetical: anthropic before openai.
    assert html.index("anthropic/claude-3.5-sonnet") < html.index("openai/gpt-4o")


def test_models_index_without_data_says_so(client):
    response = client.get("/models/")
    assert response.status_code == 200
    assert b"No models are listed yet." in response.content


def test_model_detail_shows_last_30_days_breakdown_with_percentages(client):
    model = "openai/gpt-4o"
    count(model, "programming", 2)
    count(model, "programming", 1, days_ago=29)  # the oldest day in the window
    count(model, "writing", 1, days_ago=3)
    count(model, "roleplay", 50, days_ago=30)  # just outside the window
    count("openai/gpt-4o-mini", "marketing", 9)  # another model

    response = client.get(detail_url(model))

    assert response.status_code == 200
    html = response.content.decode()
    assert [(s.category, s.count, s.percent) for s in response.context["shares"]] == [
        ("programming", 3, 75.0),
        ("writing", 1, 25.0),
    ]
    assert '<th scope="row">Programming</th>' in html
    assert "75.0%" in html and "25.0%" in html
    assert '<meter class="share-bar" min="0" max="100" value="75.0">' in html
    assert "Roleplay" not in html and "Marketing" not in html
    assert "anonymous aggregates" in html
    assert "users who allow" in html


def test_model_detail_accepts_slugs_with_dots_and_colons(client):
    model = "meta-llama/llama-3.1-8b-instruct:free"
    count(model, "math", 4)

    response = client.get(detail_url(model))

    assert response.status_code == 200
    assert b"100.0%" in response.content


def test_model_detail_of_a_model_with_only_old_counts_says_nothing_recent(client):
    count("openai/gpt-3.5-turbo", "writing", 5, days_ago=200)

    response = client.get(detail_url("openai/gpt-3.5-turbo"))

    assert response.status_code == 200
    assert b"were categorised in the last 30 days" in response.content
    assert b"<table" not in response.content


def test_unknown_model_page_is_404(client):
    count("openai/gpt-4o", "writing", 1)

    response = client.get("/models/nobody/no-such-model/")

    assert response.status_code == 404
    assert b"Page not found" in response.content


@pytest.mark.parametrize(
    "path",
    ["/models/a/b%00/", "/models/a%00/b/", "/models/a/b%0A/", "/models/" + "a" * 5000 + "/b/"],
    ids=["NUL in the slug", "NUL in the author", "a newline", "a very long author"],
)
def test_a_model_address_that_cannot_name_a_model_is_404_not_an_error(client, path):
    assert client.get(path).status_code == 404


def test_public_model_pages_have_no_inline_style_or_script(client):
    count("openai/gpt-4o", "programming", 3)
    count("openai/gpt-4o", "science", 1)

    for url in ("/models/", detail_url("openai/gpt-4o")):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode().lower()
        assert "style=" not in html
        assert "<style" not in html
        assert "<script" not in html
        assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


def test_public_page_shows_counts_from_categorised_prompts_and_no_text(client):
    user = make_user(email="private.person@example.com")
    api_key = make_key(user, name="Secret project")
    ingest(api_key, 3, prompt="Fix this bug in my python script: SECRET-TOKEN-123")
    ingest(api_key, prompt="Write a poem about my neighbour Alice")

    assert tasks.categorise_stored_prompts.run() == 4

    html = client.get(detail_url("openai/gpt-4o")).content.decode()
    assert "Programming" in html and "75.0%" in html
    assert "Writing" in html and "25.0%" in html
    for private in ("SECRET-TOKEN-123", "Alice", user.email, "Secret project", api_key.prefix):
        assert private not in html
