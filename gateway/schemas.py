"""The generation record the gateway posts, and its validation.

One record is validated at a time, so a bad record is rejected with its index and a
reason while the rest of the batch is stored. The limits below are part of the API
contract (README, "Gateway API").
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Annotated

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    field_validator,
)

MAX_BATCH = 1000
# A batch of 1000 generations with ordinary prompts is several megabytes, beyond Django's
# default body limit (2.5 MB), which every other URL keeps; a larger batch gets a 413
# and the gateway splits it.
MAX_BATCH_BYTES = 32 * 1024 * 1024
# 200,000 characters is far beyond any context window's prompt text we log; beyond it a
# record is refused rather than silently truncated.
MAX_TEXT_CHARS = 200_000
MAX_TOKENS = 2**31 - 1
# Below, never at: the column holds 6 digits before the point (max_digits 14, 8 decimals),
# so 999,999.99999999 is the most a generation can cost. The README and the OpenAPI
# document (exclusiveMaximum) say the same.
MAX_COST_USD = Decimal("1000000")
# The gateway's clock may run a little ahead of ours.
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)
EARLIEST_CREATED_AT = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)

_url_validator = URLValidator(schemes=["http", "https"])


@functools.lru_cache(maxsize=4096)
def _is_http_url(value: str) -> bool:
    # A gateway batch repeats a handful of app URLs hundreds of times; Django's URL
    # regex is the costliest check of a record, so each distinct URL is checked once.
    try:
        _url_validator(value)
    except DjangoValidationError:
        return False
    return True


def _storable(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and a lone surrogate cannot be encoded: refuse
    # both here instead of failing the whole batch at INSERT time.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("must be valid Unicode text") from exc
    return value


StorableStr = Annotated[str, AfterValidator(_storable)]


class GenerationRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)

    id: StorableStr = Field(min_length=1, max_length=64)
    key_id: StrictInt = Field(ge=1, le=2**63 - 1)
    model: StorableStr = Field(min_length=1, max_length=200)
    provider: StorableStr = Field(min_length=1, max_length=100)
    app_url: StorableStr | None = Field(default=None, max_length=2048)
    app_title: StorableStr | None = Field(default=None, max_length=200)
    prompt: StorableStr | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    completion: StorableStr | None = Field(default=None, max_length=MAX_TEXT_CHARS)
    prompt_tokens: StrictInt = Field(ge=0, le=MAX_TOKENS)
    completion_tokens: StrictInt = Field(ge=0, le=MAX_TOKENS)
    cost_usd: Decimal = Field(ge=0, lt=MAX_COST_USD, max_digits=14, decimal_places=8)
    created_at: dt.datetime

    @field_validator("app_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not _is_http_url(value):
            raise ValueError("must be an http or https URL")
        return value

    @field_validator("cost_usd", mode="before")
    @classmethod
    def _cost_is_a_number(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
            raise ValueError("must be a number")
        return value

    @field_validator("created_at")
    @classmethod
    def _aware_and_plausible(cls, value: dt.datetime) -> dt.datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("must include a time zone (e.g. 2026-01-01T12:00:00Z)")
        now = dt.datetime.now(dt.UTC)
        if value > now + MAX_CLOCK_SKEW:
            raise ValueError("is in the future")
        if value < EARLIEST_CREATED_AT:
            raise ValueError("is before 2020-01-01")
        return value


def validate_record(raw: object) -> tuple[GenerationRecord | None, str | None]:
    """Return (record, None) or (None, a readable reason)."""
    if not isinstance(raw, dict):
        return None, "each generation must be a JSON object"
    try:
        return GenerationRecord.model_validate(raw), None
    except ValidationError as exc:
        reasons = []
        for error in exc.errors(include_url=False, include_input=False):
            where = ".".join(str(part) for part in error["loc"]) or "record"
            message = error["msg"].removeprefix("Value error, ")
            reasons.append(f"{where}: {message}")
        return None, "; ".join(reasons)
