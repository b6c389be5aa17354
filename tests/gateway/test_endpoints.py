"""Each gateway endpoint is declared once (gateway.api, `api.endpoint`): that one
declaration makes the ninja operation, documented in the OpenAPI document, and tells the
fast path which endpoints it answers and which read bodies under a limit of their own."""

from __future__ import annotations

import ast
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from pydantic import BaseModel

from gateway.api import GatewayAPI, api
from gateway.schemas import MAX_BATCH_BYTES, AuthorizeIn, DecisionIn, RoutesIn
from portal.middleware import GATEWAY_API_PATH

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"


def test_the_fast_path_and_the_openapi_document_know_the_same_endpoints():
    documented = {
        GATEWAY_API_PATH + path.removeprefix("/"): operations
        for path, operations in api.get_openapi_schema(path_prefix="/")["paths"].items()
    }
    assert set(api.endpoints) == {path for path, ops in documented.items() if "post" in ops}
    fast = {path: e.fast_path_schema for path, e in api.endpoints.items() if e.fast_path_schema}
    assert fast == {
        GATEWAY_API_PATH + "decisions": DecisionIn,
        GATEWAY_API_PATH + "routes": RoutesIn,
        GATEWAY_API_PATH + "authorize": AuthorizeIn,
    }
    assert api.body_limit(GATEWAY_API_PATH + "generations") == MAX_BATCH_BYTES


ENDPOINT_NAMES = ("decisions", "routes", "authorize", "generations")


def _paths_written(source: str) -> list[str]:
    """String constants naming an endpoint's path: "/decisions", a full path, or a name
    joined to a prefix (PREFIX + "decisions"); not a field or an operation id."""
    tree = ast.parse(source)
    joined = {
        id(side)
        for node in ast.walk(tree)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add)
        for side in (node.left, node.right)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and ("/" in node.value or id(node) in joined)
        and node.value.rstrip("/").rsplit("/", 1)[-1] in ENDPOINT_NAMES
    ]


def test_each_endpoints_path_is_written_once():
    """No second copy of a path (a dict of fast paths, a constant for a body limit)."""
    written = sorted(
        (path.name, value)
        for path in sorted(GATEWAY.rglob("*.py"))
        for value in _paths_written(path.read_text())
    )
    assert written == [
        ("api.py", "/authorize"),
        ("api.py", "/decisions"),
        ("api.py", "/generations"),
        ("api.py", "/routes"),
    ]


def test_the_path_check_sees_a_second_copy():
    source = (
        'GENERATIONS_PATH = GATEWAY_API_PATH + "generations"\n'
        'api.endpoint("/routes", operation_id="routes")\n'
        'field_validator("generations")\n'
    )
    assert _paths_written(source) == ["generations", "/routes"]


class _EchoIn(BaseModel):
    word: str


def test_one_declaration_makes_the_operation_and_the_fast_paths_entry():
    example = GatewayAPI(urls_namespace="example")

    @example.endpoint("/echo", fast_path=True, body_limit=10, operation_id="echo")
    def echo(request: HttpRequest, payload: _EchoIn) -> HttpResponse:
        return HttpResponse(payload.word)

    entry = example.endpoints[GATEWAY_API_PATH + "echo"]
    assert (entry.view, entry.fast_path_schema, entry.body_limit) == (echo, _EchoIn, 10)
    operation = example.get_openapi_schema(path_prefix="/")["paths"]["/echo"]["post"]
    assert operation["operationId"] == "echo"
    assert example.body_limit(GATEWAY_API_PATH + "elsewhere") == 2_621_440
