"""The public model pages: anonymous category aggregates per model, no JS, no inline style."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from logging_prefs import tasks
from logging_prefs.models import CategoryDailyCount
from tests.factories.accounts import ApiKeyFactory, UserFactory
from tests.factories.catalog import LanguageModelFactory
from tests.factories.logging_prefs import ingest

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


def listed(model: str):
    """Put `model` ("author/slug") in the catalog: only its models have public pages."""
    author, slug = model.split("/")
    return LanguageModelFactory(author=author, slug=slug)


def test_models_index_lists_catalog_models_with_30_day_totals_linking_to_each(client):
    listed("openai/gpt-4o")
    listed("anthropic/claude-3.5-sonnet")
    count("openai/gpt-4o", "programming", 1200)
    count("openai/gpt-4o", "writing", 34, days_ago=29)
    count("openai/gpt-4o", "writing", 5000, days_ago=30)  # before the 30 days
    count("anthropic/claude-3.5-sonnet", "roleplay", 17)

    response = client.get("/models/")

    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("models_index") == "/models/"
    assert '<a href="/models/openai/gpt-4o/">openai/gpt-4o</a>' in html
    assert '<a href="/models/anthropic/claude-3.5-sonnet/">anthropic/claude-3.5-sonnet</a>' in html
    assert '<td class="num">1,234</td>' in html and '<td class="num">17</td>' in html
    # Alphabetical: anthropic before openai.
    assert html.index("anthropic/claude-3.5-sonnet") < html.index("openai/gpt-4o")


def test_models_index_without_data_says_so(client):
    response = client.get("/models/")
    assert response.status_code == 200
    assert b"No models are listed yet." in response.content


def test_model_detail_shows_last_30_days_breakdown_with_percentages(client):
    model = "openai/gpt-4o"
    listed(model)
    count(model, "programming", 20)
    count(model, "programming", 10, days_ago=29)  # the oldest day in the window
    count(model, "writing", 10, days_ago=3)
    count(model, "roleplay", 500, days_ago=30)  # just outside the window
    listed("openai/gpt-4o-mini")
    count("openai/gpt-4o-mini", "marketing", 90)  # another model

    response = client.get(detail_url(model))

    assert response.status_code == 200
    html = response.content.decode()
    assert [(s.category, s.count, s.percent) for s in response.context["shares"]] == [
        ("programming", 30, 75.0),
        ("writing", 10, 25.0),
    ]
    assert '<th scope="row">Programming</th>' in html
    assert "75.0%" in html and "25.0%" in html
    assert '<meter class="share-bar" min="0" max="100" value="75.0">' in html
    assert "Roleplay" not in html and "Marketing" not in html
    assert "anonymous aggregates" in html
    assert "users who allow" in html


def test_model_detail_accepts_slugs_with_dots_and_colons(client):
    model = "meta-llama/llama-3.1-8b-instruct:free"
    listed(model)
    count(model, "math", 40)

    response = client.get(detail_url(model))

    assert response.status_code == 200
    assert b"100.0%" in response.content


def test_model_detail_of_a_model_with_only_old_counts_says_nothing_recent(client):
    listed("openai/gpt-3.5-turbo")
    count("openai/gpt-3.5-turbo", "writing", 500, days_ago=200)

    response = client.get(detail_url("openai/gpt-3.5-turbo"))

    assert response.status_code == 200
    assert b"reached 10 in the last 30 days, so none is shown" in response.content
    assert b'<table class="category-table"' not in response.content


def test_a_model_outside_the_catalog_is_never_published(client):
    # A customer's own fine-tuned model: not its name, not its use, not its page.
    count("acme-corp/private-finetune", "writing", 5000)
    listed("openai/gpt-4o")
    count("openai/gpt-4o", "writing", 50)

    index = client.get("/models/").content.decode()
    assert "private-finetune" not in index and "5,000" not in index
    assert client.get(detail_url("acme-corp/private-finetune")).status_code == 404


def test_a_category_below_the_minimum_is_left_out_of_counts_shares_and_totals(client):
    assert settings.PORTAL_CATEGORY_MIN_COUNT == 10  # the default
    model = "openai/gpt-4o"
    listed(model)
    count(model, "programming", 40)
    count(model, "roleplay", 9)  # one customer's nine requests
    for days_ago in range(5):  # small days add up to a cell of 10
        count(model, "math", 2, days_ago=days_ago)
    quiet = "mistral/tiny"
    listed(quiet)
    count(quiet, "writing", 9)
    count(quiet, "science", 1)

    detail = client.get(detail_url(model))
    assert [(s.category, s.count, s.percent) for s in detail.context["shares"]] == [
        ("programming", 40, 80.0),
        ("math", 10, 20.0),
    ]
    assert detail.context["total"] == 50
    assert "Roleplay" not in detail.text and "(50 in the categories shown)" in detail.text
    index = client.get("/models/").text
    row = index[index.index(">openai/gpt-4o<") :].split("</tr>")[0]
    assert '<td class="num">50</td>' in row
    row = index[index.index(">mistral/tiny<") :].split("</tr>")[0]
    assert "fewer than 10" in row and ">10<" not in row and ">9<" not in row
    assert not client.get(detail_url(quiet)).context["shares"]


@pytest.mark.parametrize("minimum, shown", [(1, ["programming", "roleplay"]), (41, [])])
def test_the_minimum_is_portal_category_min_count(client, settings, minimum, shown):
    settings.PORTAL_CATEGORY_MIN_COUNT = minimum
    listed("openai/gpt-4o")
    count("openai/gpt-4o", "programming", 40)
    count("openai/gpt-4o", "roleplay", 9)
    response = client.get(detail_url("openai/gpt-4o"))
    assert [share.category for share in response.context["shares"]] == shown


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
    listed("openai/gpt-4o")
    count("openai/gpt-4o", "programming", 30)
    count("openai/gpt-4o", "science", 10)

    for url in ("/models/", detail_url("openai/gpt-4o")):
        response = client.get(url)
        assert response.status_code == 200
        html = response.content.decode().lower()
        assert "style=" not in html
        assert "<style" not in html
        assert "<script" not in html
        assert "'unsafe-inline'" not in response.headers["Content-Security-Policy"]


def test_public_page_shows_counts_from_categorised_prompts_and_no_text(client):
    listed("openai/gpt-4o")
    user = UserFactory(email="private.person@example.com")
    api_key = ApiKeyFactory(user=user, name="Secret project")
    ingest(api_key, 30, prompt="Fix this bug in my python script: SECRET-TOKEN-123")
    ingest(api_key, 10, prompt="Write a poem about my neighbour Alice")

    assert tasks.categorise_stored_prompts.run() == 40

    html = client.get(detail_url("openai/gpt-4o")).content.decode()
    assert "Programming" in html and "75.0%" in html
    assert "Writing" in html and "25.0%" in html
    for private in ("SECRET-TOKEN-123", "Alice", user.email, "Secret project", api_key.prefix):
        assert private not in html
