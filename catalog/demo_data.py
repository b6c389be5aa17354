"""The demo catalog that `make run` loads (accounts' load_demo_data) and that
simulate_gateway sends traffic to. The prices are list prices of the day; the data
policies and regions are illustrative demo values, not statements about these providers."""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from catalog.models import Endpoint, LanguageModel, Provider

# model -> (provider, input $/M tokens, output $/M tokens) for each endpoint serving it.
DEMO_ENDPOINTS: dict[str, list[tuple[str, str, str]]] = {
    "openai/gpt-4o": [("OpenAI", "2.50", "10.00"), ("Azure", "2.50", "10.00")],
    "anthropic/claude-sonnet-4": [
        ("Anthropic", "3.00", "15.00"),
        ("Amazon Bedrock", "3.00", "15.00"),
        ("Google Vertex", "3.00", "15.00"),
    ],
    "meta-llama/llama-3.1-70b-instruct": [
        ("Together", "0.88", "0.88"),
        ("Fireworks", "0.90", "0.90"),
        ("DeepInfra", "0.23", "0.40"),
        ("Lambda", "0.12", "0.30"),
    ],
    "mistralai/mistral-large": [("Mistral", "2.00", "6.00"), ("Azure", "2.00", "6.00")],
    "google/gemini-2.5-flash": [
        ("Google AI Studio", "0.30", "2.50"),
        ("Google Vertex", "0.30", "2.50"),
    ],
    "deepseek/deepseek-chat": [("DeepSeek", "0.27", "1.10"), ("Novita", "0.28", "1.14")],
    "meta-llama/llama-3.1-8b-instruct:free": [("Free Inference Co", "0", "0")],
}

# provider -> (trains on prompts, retains prompts, retention days, publishes prompts).
# Demo values, chosen so that every privacy choice rules some endpoint out.
DEMO_POLICIES: dict[str, tuple[bool, bool, int | None, bool]] = {
    "OpenAI": (False, True, 30, False),
    "Azure": (False, True, 30, False),
    "Anthropic": (False, True, 30, False),
    "Amazon Bedrock": (False, False, None, False),
    "Google Vertex": (False, False, None, False),
    "Together": (False, False, None, False),
    "Fireworks": (False, False, None, False),
    "DeepInfra": (False, False, None, False),
    "Lambda": (False, False, None, False),
    "Mistral": (False, True, 30, False),
    "Google AI Studio": (True, True, 55, False),
    "DeepSeek": (True, True, None, False),
    "Novita": (False, False, None, False),
    "Free Inference Co": (True, True, None, True),
}

# provider -> the region its endpoints run in (portal/regions.py). Demo values, a mix
# chosen so that "Keep my requests in <region>" matters with the default region (eu):
# some models keep an endpoint there, some (Llama 3.1 70B, DeepSeek, the free Llama)
# have none and are refused while the choice is on.
DEMO_REGIONS: dict[str, str] = {
    "OpenAI": "us",
    "Azure": "eu",
    "Anthropic": "us",
    "Amazon Bedrock": "eu",
    "Google Vertex": "eu",
    "Together": "us",
    "Fireworks": "us",
    "DeepInfra": "us",
    "Lambda": "us",
    "Mistral": "eu",
    "Google AI Studio": "us",
    "DeepSeek": "cn",
    "Novita": "sg",
    "Free Inference Co": "us",
}


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


@transaction.atomic
def load_demo_catalog() -> int:
    """Create or update the demo models, providers and endpoints (safe to repeat);
    returns how many endpoints the demo catalog has."""
    count = 0
    for model_id, endpoints in DEMO_ENDPOINTS.items():
        author, slug = model_id.split("/", 1)
        model, _ = LanguageModel.objects.get_or_create(
            author=author, slug=slug, defaults={"name": model_id}
        )
        for provider_name, input_price, output_price in endpoints:
            provider, _ = Provider.objects.get_or_create(
                slug=_slug(provider_name), defaults={"name": provider_name}
            )
            trains, retains, days, publishes = DEMO_POLICIES[provider_name]
            Endpoint.objects.update_or_create(
                model=model,
                provider=provider,
                defaults={
                    "input_price": Decimal(input_price),
                    "output_price": Decimal(output_price),
                    "trains_on_prompts": trains,
                    "retains_prompts": retains,
                    "retention_days": days,
                    "publishes_prompts": publishes,
                    "region": DEMO_REGIONS[provider_name],
                },
            )
            count += 1
    return count
