"""The plugin's CustomLogger: it enforces the portal's routes in the router and turns
each served request into a generation record for the portal.

Configured as `litellm_settings.callbacks: portal_litellm.handler.portal_handler`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import OrderedDict
from decimal import Decimal

from litellm.integrations.custom_logger import CustomLogger

from portal_litellm.auth import METADATA_KEY
from portal_litellm.shipping import Shipper

logger = logging.getLogger(__name__)

# Headers with which a caller could ask LiteLLM to stop redacting text in its logs.
REDACTION_OPT_OUT_HEADERS = ("litellm-disable-message-redaction",)
MAX_TEXT_CHARS = 200_000  # the portal refuses longer text rather than cutting it
# Failed calls waiting for their request's end; beyond this the oldest are dropped.
MAX_FAILED_PENDING = 10_000


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


def _error_type(exception: object) -> str | None:
    """The failure's kind, its exception class ("RateLimitError"): never its message,
    which can quote the request."""
    if not isinstance(exception, BaseException):
        return None
    return type(exception).__name__[:100]


class PortalHandler(CustomLogger):
    def __init__(self, shipper: Shipper | None = None) -> None:
        super().__init__()
        self._shipper = shipper
        # Failed provider calls by call id, until the request's end says whether a
        # fallback answered (success) or the caller got the failure.
        self._failed: OrderedDict[str, dict] = OrderedDict()

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
            # Answered, perhaps by a fallback after another deployment failed: one
            # generation, the answer, not the failed attempt.
            self._failed.pop(record["id"], None)
            self.shipper.submit(record)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        """A provider call failed. It fires for each failed attempt (a retry or a
        fallback may still answer), and also for auth failures and this plugin's own
        refusals, which are not generations: only a call to a catalogued deployment of
        a request the portal authorised is kept, as the request's failure so far. What
        the caller finally got is known in async_post_call_failure_hook."""
        try:
            failed = kwargs.get("exception") or True
            record = self.record_for(kwargs, None, start_time, failed=failed)
        except Exception:
            logger.exception("portal-litellm: could not build a failed call's record")
            return
        if record is None:
            return
        self._failed.pop(record["id"], None)
        self._failed[record["id"]] = record
        while len(self._failed) > MAX_FAILED_PENDING:
            # A request whose end the proxy never reported: a bound, not a path the
            # tests know (a stream that fails midway ends in the failure hook too,
            # tests/integrations/litellm/test_proxy.py).
            self._failed.popitem(last=False)

    async def async_post_call_failure_hook(
        self, request_data, original_exception, user_api_key_dict, traceback_str=None
    ):
        """The request failed for its caller. When a provider call of it failed, that is
        recorded as a generation with status "error" and no text; a refusal (auth, 404,
        409, no allowed deployment) never reached a provider, so nothing is recorded."""
        call_id = _mapping(request_data).get("litellm_call_id")
        record = self._failed.pop(str(call_id), None) if call_id is not None else None
        if record is not None:
            # The provider's own failure, as the last attempt met it; the exception the
            # caller got may be the router's ("no deployments left") after it.
            record["error_type"] = record.get("error_type") or _error_type(original_exception)
            self.shipper.submit(record)
        return None

    def record_for(
        self, kwargs: dict, response_obj: object, start_time: object, failed: object = None
    ) -> dict | None:
        """The generation record of a served request, or with `failed` (the exception,
        or True) of a failed provider call: status "error", no text, no tokens."""
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

        if failed is not None:
            # Nothing was generated; what LiteLLM estimated for the prompt was not billed.
            prompt_tokens = completion_tokens = 0
            cost = Decimal(0)
        else:
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
            # Fixed-point: a zero cost is "0.00000000", not "0E-8".
            "cost_usd": format(cost.quantize(Decimal("0.00000001")), "f"),
            "created_at": created.isoformat(),
        }
        if failed is not None:
            record["status"] = "error"
            record["error_type"] = _error_type(failed)
        elif portal.get("log_prompts") is True:
            record["prompt"] = _clip(_text_of_messages(kwargs.get("messages")))
            record["completion"] = _clip(_completion_text(response))
        return record


portal_handler = PortalHandler()
