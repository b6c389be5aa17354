"""The plugin's CustomLogger: it enforces the portal's routes in the router and turns
each served request into a generation record for the portal.

Configured as `litellm_settings.callbacks: portal_litellm.handler.portal_handler`.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal

from litellm.integrations.custom_logger import CustomLogger

from portal_litellm.auth import METADATA_KEY
from portal_litellm.shipping import Shipper

logger = logging.getLogger(__name__)

# Headers with which a caller could ask LiteLLM to stop redacting text in its logs.
REDACTION_OPT_OUT_HEADERS = ("litellm-disable-message-redaction",)
MAX_TEXT_CHARS = 200_000  # the portal refuses longer text rather than cutting it


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def portal_metadata(request: dict | None) -> dict | None:
    """What custom_auth learnt from the portal for this request, or None."""
    request = _mapping(request)
    for slot in ("metadata", "litellm_metadata"):
        found = _mapping(_mapping(request.get(slot)).get("user_api_key_metadata")).get(METADATA_KEY)
        if isinstance(found, dict):
            return found
    litellm_params = _mapping(request.get("litellm_params"))
    if litellm_params:
        return portal_metadata(litellm_params)
    return None


def deployment_provider(deployment: object) -> str | None:
    provider = _mapping(_mapping(deployment).get("model_info")).get("portal_provider")
    return provider if isinstance(provider, str) else None


def _text_of_messages(messages: object) -> str | None:
    if not isinstance(messages, list):
        return None
    parts = []
    for message in messages:
        content = _mapping(message).get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                part["text"]
                for part in content
                if isinstance(part, dict) and isinstance(part.get("text"), str)
            )
    return "\n\n".join(parts) if parts else None


def _completion_text(response: object) -> str | None:
    choices = getattr(response, "choices", None)
    if choices is None:
        choices = _mapping(response).get("choices")
    texts = []
    for choice in choices or []:
        message = getattr(choice, "message", None) or _mapping(choice).get("message")
        content = getattr(message, "content", None) or _mapping(message).get("content")
        if isinstance(content, str):
            texts.append(content)
    return "\n\n".join(texts) if texts else None


# What LiteLLM puts in place of text it redacted: never sent as if it were the text.
REDACTED_MARKERS = ("redacted-by-litellm", "redacted by litellm")


def _clip(text: str | None) -> str | None:
    if text is None or any(marker in text for marker in REDACTED_MARKERS):
        return None
    # Clean for PostgreSQL text: the portal refuses NUL rather than failing the batch.
    return text.replace("\x00", "")[:MAX_TEXT_CHARS] or None


def _catalog_cost(
    portal: dict, provider: str, prompt_tokens: int, completion_tokens: int
) -> Decimal | None:
    """What the request costs at the catalog's prices of the endpoint that answered."""
    prices = _mapping(portal.get("prices")).get(provider)
    if not isinstance(prices, list) or len(prices) != 2:
        return None
    per_million = Decimal(1_000_000)
    return (
        prompt_tokens * Decimal(prices[0]) + completion_tokens * Decimal(prices[1])
    ) / per_million


def _app_url(value: object) -> str | None:
    # The portal refuses a record whose app_url is not an http(s) URL: an odd Referer
    # must not cost the record.
    if isinstance(value, str) and value.startswith(("http://", "https://")) and len(value) <= 2048:
        return value
    return None


def _clip_title(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    return value.replace("\x00", "").strip()[:200] or None


class PortalHandler(CustomLogger):
    def __init__(self, shipper: Shipper | None = None) -> None:
        super().__init__()
        self._shipper = shipper

    @property
    def shipper(self) -> Shipper:
        if self._shipper is None:
            self._shipper = Shipper()
        return self._shipper

    # --- before the call ------------------------------------------------------------

    async def async_pre_call_hook(self, user_api_key_dict, cache, data, call_type):
        """Text reaches LiteLLM's logging (every callback, the spend logs) only for a key
        whose decision allows it: LiteLLM redacts by default (litellm_settings), and this
        lifts it per request when log_prompts is true, and only then."""
        portal = _mapping(getattr(user_api_key_dict, "metadata", None)).get(METADATA_KEY)
        log_prompts = bool(_mapping(portal).get("log_prompts"))
        redact = not log_prompts
        data["turn_off_message_logging"] = redact
        # The proxy builds the request's logging object, with its per-request callback
        # settings, before this hook runs: the setting goes there too.
        logging_obj = data.get("litellm_logging_obj")
        dynamic = getattr(logging_obj, "standard_callback_dynamic_params", None)
        if isinstance(dynamic, dict):
            dynamic["turn_off_message_logging"] = redact
        details = getattr(logging_obj, "model_call_details", None)
        if isinstance(details, dict) and isinstance(
            details.get("standard_callback_dynamic_params"), dict
        ):
            details["standard_callback_dynamic_params"]["turn_off_message_logging"] = redact
        for slot in ("metadata", "litellm_metadata"):
            headers = _mapping(_mapping(data.get(slot)).get("headers"))
            for header in REDACTION_OPT_OUT_HEADERS:
                headers.pop(header, None)
        return data

    async def async_filter_deployments(
        self, model, healthy_deployments, messages, request_kwargs=None, parent_otel_span=None
    ):
        """Only deployments of a provider that the portal's routes answer allows; with no
        answer (no portal metadata, another model than was authorised), none."""
        portal = portal_metadata(request_kwargs)
        if portal is None or portal.get("providers") is None:
            return []
        allowed = set(portal["providers"])
        if portal.get("model") is not None and model != portal["model"]:
            return []
        return [
            deployment
            for deployment in healthy_deployments
            if deployment_provider(deployment) in allowed
        ]

    # --- after the call -------------------------------------------------------------

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        try:
            record = self.record_for(kwargs, response_obj, start_time)
        except Exception:
            logger.exception("portal-litellm: could not build a generation record")
            return
        if record is not None:
            self.shipper.submit(record)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        # The generation contract has no status: a failed call is not a generation, and
        # neither are this plugin's own refusals nor auth failures, which fire here too.
        provider = deployment_provider(_mapping(kwargs.get("litellm_params")))
        if provider is not None:
            logger.info("portal-litellm: a call to %s failed; not recorded", provider)

    def record_for(self, kwargs: dict, response_obj: object, start_time: object) -> dict | None:
        litellm_params = _mapping(kwargs.get("litellm_params"))
        portal = portal_metadata(litellm_params) or portal_metadata(kwargs)
        provider = deployment_provider(litellm_params)
        if portal is None or provider is None:
            # Not a request the portal authorised for a catalogued endpoint.
            return None
        payload = _mapping(kwargs.get("standard_logging_object"))
        call_id = kwargs.get("litellm_call_id") or payload.get("id")
        metadata = _mapping(litellm_params.get("metadata")) or _mapping(
            litellm_params.get("litellm_metadata")
        )
        # The caller's headers, as the proxy keeps them: the app is named by HTTP-Referer
        # and X-Title, as on other aggregation platforms.
        raw_headers = _mapping(metadata.get("headers")) or _mapping(
            _mapping(litellm_params.get("proxy_server_request")).get("headers")
        )
        headers = {str(name).lower(): value for name, value in raw_headers.items()}
        response = kwargs.get("complete_streaming_response") or response_obj
        usage = getattr(response, "usage", None) or _mapping(response).get("usage")

        def tokens(name: str) -> int:
            value = getattr(usage, name, None) if not isinstance(usage, dict) else usage.get(name)
            return int(value or payload.get(name) or 0)

        prompt_tokens = tokens("prompt_tokens")
        completion_tokens = tokens("completion_tokens")
        cost = _catalog_cost(portal, provider, prompt_tokens, completion_tokens)
        if cost is None:
            cost = Decimal(str(payload.get("response_cost") or kwargs.get("response_cost") or 0))
        created = start_time if isinstance(start_time, dt.datetime) else dt.datetime.now(dt.UTC)
        if created.tzinfo is None:
            created = created.astimezone(dt.UTC)
        record = {
            "id": str(call_id),
            "key_id": int(portal["key_id"]),
            "model": portal.get("model") or kwargs.get("model"),
            "provider": provider,
            "app_url": _app_url(headers.get("http-referer") or headers.get("referer")),
            "app_title": _clip_title(headers.get("x-title")),
            "prompt": None,
            "completion": None,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cost_usd": str(cost.quantize(Decimal("0.00000001"))),
            "created_at": created.isoformat(),
        }
        if portal.get("log_prompts") is True:
            record["prompt"] = _clip(_text_of_messages(kwargs.get("messages")))
            record["completion"] = _clip(_completion_text(response))
        return record


portal_handler = PortalHandler()
