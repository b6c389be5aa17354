"""How a request body is read: declared as JSON (415 otherwise), parsed as JSON (400),
a JSON object (422). Ninja's operations and the fast path read it the same way."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja.parser import Parser


class BadBody(Exception):
    """Why a body could not be read; raised inside ninja's body parsing, which wraps it
    in HttpError(400) — gateway.errors answers with this status and message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class JSONOnlyParser(Parser):
    """The body must be declared as JSON (415 otherwise) and parse as JSON (400)."""

    def parse_body(self, request: HttpRequest) -> Any:
        content_type = request.content_type or ""
        if not declares_json(content_type):
            raise BadBody(
                415, f"Content-Type must be application/json, not {content_type or 'missing'}."
            )
        try:
            data = json.loads(request.body)
        except (ValueError, RecursionError) as exc:
            raise BadBody(400, f"The request body is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise BadBody(422, f"The request body must be a JSON object, not {_json_type(data)}.")
        return data


def declares_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"
