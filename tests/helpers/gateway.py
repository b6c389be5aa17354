"""The gateway's side of the internal API: its client, its view of a key (the row and
the raw key it sends), and generation records as it posts them."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import ApiKey, User
from tests.factories.accounts import ApiKeyFactory
from tests.factories.logging_prefs import GenerationRecordFactory

AUTHORIZE_URL = "/internal/v1/authorize"
DECISIONS_URL = "/internal/v1/decisions"
ROUTES_URL = "/internal/v1/routes"
GENERATIONS_URL = "/internal/v1/generations"
OPENAPI_URL = "/internal/v1/openapi.json"


class GatewayClient:
    """The gateway's side of the API: JSON bodies, the bearer token, and a client that
    enforces CSRF like a browser would (the API must not need a CSRF token)."""

    def __init__(self, token: str | None = None) -> None:
        self.client = Client(enforce_csrf_checks=True)
        self.token = settings.PORTAL_GATEWAY_TOKEN if token is None else token

    def _auth(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def post(self, url: str, data, **extra):
        extra = {**self._auth(), **extra}
        content_type = extra.pop("content_type", "application/json")
        return self.client.post(url, data, content_type=content_type, **extra)

    def decide(self, raw_key: str):
        return self.post(DECISIONS_URL, {"api_key": raw_key})

    def routes(self, raw_key: str, model: str):
        return self.post(ROUTES_URL, {"api_key": raw_key, "model": model})

    def authorize(self, raw_key: str, model: str):
        return self.post(AUTHORIZE_URL, {"api_key": raw_key, "model": model})

    def ingest(self, records: list):
        return self.post(GENERATIONS_URL, {"generations": records})


def decision_status(raw_key: str) -> int:
    """The status of the gateway's decision for `raw_key`."""
    response = Client().post(
        DECISIONS_URL,
        {"api_key": raw_key},
        content_type="application/json",
        headers={"authorization": f"Bearer {settings.PORTAL_GATEWAY_TOKEN}"},
    )
    return response.status_code


@dataclass
class Key:
    api_key: ApiKey
    raw: str

    @property
    def user(self) -> User:
        return self.api_key.user


def create_key(user: User, *, logging: str = ApiKey.Logging.AS_ACCOUNT, name="Test app") -> Key:
    api_key = ApiKeyFactory(user=user, name=name, logging=logging)
    return Key(api_key=api_key, raw=api_key.raw_key)


def record(key_id: int, **overrides) -> dict:
    """One generation record as the gateway posts it; a fresh uuid id each time."""
    fields = {
        "id": f"gen-{uuid.uuid4().hex}",
        "key_id": key_id,
        "model": "anthropic/claude-sonnet-4",
        "provider": "Anthropic",
        "app_url": "https://notes.example.com/",
        "app_title": "Example Notes",
        "prompt": "Summarise the meeting notes in three bullet points.",
        "completion": "- Budget approved\n- Launch moved to May\n- Hiring paused",
        "prompt_tokens": 412,
        "completion_tokens": 38,
        "cost_usd": "0.00180000",
        "created_at": (timezone.now() - dt.timedelta(minutes=3)).isoformat(),
    }
    return GenerationRecordFactory(**{**fields, **overrides})
