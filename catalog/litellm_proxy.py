"""The LiteLLM proxy's configuration for the catalog: one deployment per endpoint, each
carrying the provider it calls (model_info.portal_provider), so the portal plugin
(integrations/litellm) can keep only the endpoints a key's routes allow.

JSON is YAML: the file is written with json.dumps, which quotes every string safely.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable

from catalog.models import Endpoint

MASTER_KEY_ENV = "LITELLM_MASTER_KEY"


def endpoint_id(model: str, provider: str) -> str:
    return f"{model}@{provider}"


def deployment(
    model: str, provider: str, *, api_base: str | None = None, api_key: str = "unused"
) -> dict:
    """One deployment of `model` ("author/slug") at `provider` (the catalog's name).

    With no api_base it answers with a mock reply and calls nothing (the demo)."""
    params: dict = {"model": f"openai/{model}", "api_key": api_key}
    if api_base is None:
        params["mock_response"] = f"A mock reply from {provider} for {model}."
    else:
        params["api_base"] = api_base
    return {
        "model_name": model,
        "litellm_params": params,
        "model_info": {
            "id": endpoint_id(model, provider),
            "portal_provider": provider,
            "portal_endpoint": endpoint_id(model, provider),
        },
    }


def proxy_config(deployments: Iterable[dict], *, num_retries: int = 2) -> dict:
    return {
        "model_list": list(deployments),
        # A failed deployment is retried on another of the same model; the plugin's
        # filter runs on each attempt, so a retry stays among the allowed providers.
        # A failing deployment cools down at once, so the retry goes to another.
        "router_settings": {
            "num_retries": num_retries,
            "retry_after": 0,
            "allowed_fails": 0,
            "cooldown_time": 5,
        },
        "litellm_settings": {
            "callbacks": ["portal_litellm.handler.portal_handler"],
            # No text in LiteLLM's own logs, callbacks or error messages unless the
            # plugin lifts it for a request whose key allows logging.
            "turn_off_message_logging": True,
            "redact_messages_in_exceptions": True,
            "drop_params": True,
        },
        "general_settings": {
            "master_key": f"os.environ/{MASTER_KEY_ENV}",
            "custom_auth": "portal_litellm.auth.user_api_key_auth",
        },
    }


def catalog_deployments(api_base_for: Callable[[str], str | None] | None = None) -> list[dict]:
    """A deployment per catalog endpoint; api_base_for(provider) gives each provider's
    OpenAI-compatible base URL, or None for a mock."""
    endpoints = Endpoint.objects.select_related("model", "provider").order_by(
        "model__author", "model__slug", "provider__name"
    )
    return [
        deployment(
            f"{e.model.author}/{e.model.slug}",
            e.provider.name,
            api_base=api_base_for(e.provider.name) if api_base_for else None,
        )
        for e in endpoints
    ]


def dumps(config: dict) -> str:
    return "# Written by `manage.py litellm_config`; JSON is YAML.\n" + json.dumps(config, indent=2)
