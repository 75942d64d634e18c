"""One table per API of its operations: the router and the OpenAPI document are both built from it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from aiohttp import web


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # with {name} segments, as both aiohttp and OpenAPI write them
    handler: Callable
    id: str  # operationId
    summary: str
    response: str | None = None  # schema of the success body (below schemas/); None: no body
    status: int = 200
    request: str | None = None  # schema of the request body
    query: tuple[Param, ...] = ()
    is_list: bool = False  # the response is a list object of `response` items


def routes(operations: list[Operation]) -> list[web.RouteDef]:
    return [web.route(op.method, op.path, op.handler) for op in operations]
