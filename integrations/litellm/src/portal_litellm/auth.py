"""LiteLLM's `custom_auth`: every request's API key is a portal key, checked by the
portal's decision, and the requested model's endpoints are those the portal's routes
answer allows; both come in one call (POST /internal/v1/authorize). Configured as
`general_settings.custom_auth: portal_litellm.auth.user_api_key_auth`.

Refusals pass through with the portal's status (401, 403, 404, 409) and reason. It fails
closed: when the portal cannot be reached or answers unexpectedly, the request gets 503
and is never served. The proxy's own master key is not a portal key, so it gets 401 too.
"""

from __future__ import annotations

import json
import logging

import aiohttp
from fastapi import Request
from litellm.proxy._types import ProxyException, UserAPIKeyAuth
from litellm.proxy.common_utils.http_parsing_utils import read_request_body

from portal_litellm.client import portal_session

logger = logging.getLogger(__name__)

# What the filter and the logger read back from the request's user_api_key_metadata.
METADATA_KEY = "portal"
# The portal's refusals that pass through to the caller as they are.
PASSED_THROUGH = {401, 403, 404, 409}


class PortalUnavailable(Exception):
    pass


def _refusal(status: int, detail: str) -> ProxyException:
    kind = "auth_error" if status in (401, 403) else "invalid_request_error"
    return ProxyException(message=detail, type=kind, param="model", code=status)


async def _post(path: str, payload: dict) -> tuple[int, str, bytes]:
    """POST `payload` to the portal's gateway API: the status, its reason and the body."""
    async with portal_session().post(path, json=payload) as response:
        return response.status, response.reason or "", await response.read()


async def _ask(path: str, payload: dict) -> dict:
    try:
        status, reason, body = await _post(path, payload)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise PortalUnavailable(f"the portal cannot be reached ({type(exc).__name__})") from exc
    if status == 200:
        try:
            return json.loads(body)
        except ValueError as exc:
            raise PortalUnavailable(f"the portal's answer on {path} is not JSON") from exc
    if status in PASSED_THROUGH:
        try:
            detail = json.loads(body).get("detail") or reason
        except (ValueError, AttributeError):
            detail = reason
        raise _refusal(status, str(detail))
    # 401 of the gateway token itself is among PASSED_THROUGH; anything else (422, 5xx)
    # means this request cannot be decided.
    raise PortalUnavailable(f"the portal answered {status} on {path}")


def _requested_model(body: dict) -> str | None:
    model = body.get("model")
    return model if isinstance(model, str) and model else None


async def authorize(api_key: str, model: str | None) -> dict:
    """The portal's decision for the key and, when a model is asked for, its allowed
    endpoints: the metadata the router filter and the logger read. One call to the
    portal either way: /authorize answers the decision and the routes together, and a
    request without a model (listing models, say) needs only /decisions."""
    if not api_key:
        raise _refusal(401, "Missing API key: send 'Authorization: Bearer <your key>'.")
    try:
        if model is None:
            decision, endpoints = await _ask("decisions", {"api_key": api_key}), None
        else:
            answer = await _ask("authorize", {"api_key": api_key, "model": model})
            decision, endpoints = answer["decision"], answer["endpoints"]
        portal = {
            "key_id": int(decision["key_id"]),
            "account": str(decision["account"]),
            "log_prompts": decision["log_prompts"] is True,
            "model": model,
            "providers": None,
        }
        if endpoints is not None:
            portal["providers"] = [str(endpoint["provider"]) for endpoint in endpoints]
            # The catalog's prices (USD per million tokens) price the generation record.
            portal["prices"] = {
                endpoint["provider"]: [endpoint["input_price"], endpoint["output_price"]]
                for endpoint in endpoints
            }
    except (KeyError, TypeError, ValueError) as exc:
        # A 200 that is not the contract's answer: this request cannot be decided.
        raise PortalUnavailable(f"the portal's answer is not understood ({exc!r})") from exc
    return portal


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    try:
        body = await read_request_body(request)
    except Exception:  # an unreadable body: the proxy answers it itself later
        body = {}
    try:
        portal = await authorize(api_key, _requested_model(body if isinstance(body, dict) else {}))
    except PortalUnavailable as exc:
        logger.warning("portal-litellm: refusing a request, %s", exc)
        raise ProxyException(
            message="The account service is unavailable; the request was not served. Retry.",
            type="service_unavailable",
            param=None,
            code=503,
        ) from exc
    return UserAPIKeyAuth(
        api_key=api_key,
        user_id=portal["account"],
        key_alias=f"portal-key-{portal['key_id']}",
        metadata={METADATA_KEY: portal},
    )
