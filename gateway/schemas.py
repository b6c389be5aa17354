"""What the gateway API reads and answers: the generation record the gateway posts and
its validation, each endpoint's request and response body, and the error answers.

One record is validated at a time, so a bad record is rejected with its index and a
reason while the rest of the batch is stored. The limits below are part of the API
contract (README, "Gateway API").
"""

from __future__ import annotations

import datetime as dt
import functools
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from ninja import Schema
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from portal.regions import REGIONS

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


# The document says it too (the pattern is for the document only: _storable checks),
# so that a caller reading it, or a tool generating valid requests from it, knows that
# NUL is refused.
StorableStr = Annotated[
    str, AfterValidator(_storable), Field(json_schema_extra={"pattern": "^[^\\u0000]*$"})
]


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
    status: Literal["ok", "error"] = Field(
        default="ok",
        description=(
            '"ok" when the provider answered (the default), "error" when the call failed: '
            "a failed call is recorded too, with its tokens and cost (usually 0)."
        ),
    )
    error_type: StorableStr | None = Field(
        default=None,
        max_length=100,
        description='For a failed call, the kind of failure, e.g. "RateLimitError".',
    )

    @field_validator("error_type")
    @classmethod
    def _only_for_a_failure(cls, value: str | None, info: ValidationInfo) -> str | None:
        # status is declared first, so it is validated (or missing, if invalid) by now.
        if value is not None and info.data.get("status") != "error":
            raise ValueError('only for a record with status "error"')
        return value

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


# --- Request and response bodies -----------------------------------------------------

# The decision endpoint's schemas are plain pydantic models rather than ninja Schemas:
# a Schema validates through ninja's wrapper for reading Django objects, which the
# gateway's hot path does not need (bench/decisions.py). The OpenAPI document is the same.


class DecisionIn(BaseModel):
    # StorableStr refuses text that is not valid Unicode (a lone surrogate could not be
    # hashed): that is a malformed request (422), any other unknown key is a 401.
    api_key: StorableStr = Field(min_length=1, max_length=256, description="The raw API key.")


class ProviderPolicy(BaseModel):
    """The key's effective rules: its account's choices, narrowed by the key's own (a key
    can narrow its account's choices, never widen them)."""

    allow_training_paid: bool = Field(
        description=(
            "Paid endpoints that may train on prompts may be used. Off when the account "
            "does not allow them or the key allows no training."
        )
    )
    allow_training_free: bool = Field(
        description=(
            "Free endpoints that may train on prompts may be used. Off when the account "
            "does not allow them or the key allows no training."
        )
    )
    allow_retention: bool = Field(description="Endpoints that retain prompts may be used.")
    allow_publication: bool = Field(description="Endpoints that may publish prompts may be used.")
    zdr_only: bool = Field(
        description=(
            "Only zero-data-retention endpoints may be used. On when the account or the "
            "key asks for it."
        )
    )
    in_region_only: bool = Field(
        description=(
            "Keep my requests in the portal's region: only endpoints whose `region` is "
            "the portal's own (PORTAL_DATA_REGION) may be used. On when the account or "
            "the key asks for it: a key can be stricter than its account, never wider."
        )
    )


class DecisionOut(BaseModel):
    key_id: int = Field(description="The key's id; generation records carry it as key_id.")
    account: str = Field(
        description="The account's opaque public id.", json_schema_extra={"format": "uuid"}
    )
    log_prompts: bool = Field(
        description="Whether prompt and completion text may be logged for this key now."
    )
    provider_policy: ProviderPolicy = Field(
        description="The key's effective rules: where its requests may be routed."
    )


class RoutesIn(BaseModel):
    api_key: StorableStr = Field(min_length=1, max_length=256, description="The raw API key.")
    model: StorableStr = Field(
        min_length=1, max_length=200, description='The model, as "author/slug".'
    )


class DataPolicy(BaseModel):
    trains_on_prompts: bool
    retains_prompts: bool
    retention_days: int | None = Field(description="How long prompts are kept, if known.")
    publishes_prompts: bool
    zero_data_retention: bool = Field(description="Keeps nothing once the request is answered.")


class RouteOut(BaseModel):
    provider: str
    input_price: str = Field(description="USD per million prompt tokens, a decimal string.")
    output_price: str = Field(description="USD per million completion tokens, a decimal string.")
    region: str = Field(
        description="Where the endpoint processes prompts, a region code such as eu or us.",
        json_schema_extra={"enum": list(REGIONS)},
    )
    data_policy: DataPolicy


class RoutesOut(BaseModel):
    endpoints: list[RouteOut] = Field(description="Cheapest first; never empty.")


class AuthorizeIn(RoutesIn):
    """What /authorize reads: the same as /routes."""


class AuthorizeOut(BaseModel):
    """/decisions' answer and /routes' `endpoints`, side by side (DESIGN.md)."""

    decision: DecisionOut = Field(description="What /decisions answers for the key.")
    endpoints: list[RouteOut] = Field(
        description="What /routes answers for the key and the model: cheapest first; never empty."
    )


# Each generation stays a raw JSON value until do_ingest_generations validates it on its
# own, so one bad record is rejected with its index instead of failing the batch (a
# list[GenerationRecord] would answer 422 for the whole batch). WithJsonSchema keeps the
# OpenAPI document honest: each item is described by GenerationRecord's own JSON schema
# (inlined, titled "GenerationRecord"), while the Python type says what the view
# receives. Generated from the model, the description cannot drift from the validation.
RawGenerationRecord = Annotated[
    Any,
    WithJsonSchema(
        {
            **GenerationRecord.model_json_schema(),
            "description": (
                "One generation the gateway served. Validated one record at a time: a "
                "record that does not match is listed in `rejected` with its index and "
                "the reason; the others are stored."
            ),
        }
    ),
]


class GenerationsIn(Schema):
    generations: list[RawGenerationRecord] = Field(
        max_length=MAX_BATCH, description=f"Up to {MAX_BATCH} generation records."
    )

    @field_validator("generations", mode="before")
    @classmethod
    def _batch_limit(cls, value: object) -> object:
        # Runs before the max_length check, to say what to do about it.
        if isinstance(value, list) and len(value) > MAX_BATCH:
            raise ValueError(
                f"at most {MAX_BATCH} generations per request, got {len(value)}: split the batch"
            )
        return value


class Rejection(Schema):
    index: int = Field(description="Position of the record in `generations`.")
    error: str = Field(description="Why it was rejected.")


class IngestOut(Schema):
    stored: int = Field(description="New rows stored (metadata always, text if allowed).")
    with_text: int = Field(description="Of those, how many kept prompt and completion text.")
    duplicates: int = Field(description="Records whose id was already stored or repeated.")
    rejected: list[Rejection]


# --- Error answers ---------------------------------------------------------------------


class ErrorOut(Schema):
    detail: str


class ValidationProblem(Schema):
    loc: str = Field(description="Where, e.g. `generations` or `api_key`.")
    msg: str
    type: str


class ValidationErrorOut(Schema):
    detail: str = Field(description="Every problem, readable, joined with '; '.")
    errors: list[ValidationProblem]


# The error answers every endpoint documents.
ERRORS: dict[int | tuple[int, ...], type[Schema]] = {
    (400, 401, 413, 415): ErrorOut,
    422: ValidationErrorOut,
    503: ErrorOut,
}
