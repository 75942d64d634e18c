"""Frigade HTTP handlers: parse, validate, call the store, respond. Nothing else."""
from __future__ import annotations

from aiohttp import web

from mockserver.errors import InvalidRequest
from mockserver.frigade.store import FrigadeStore
from mockserver.keys import ENV, FRIGADE_PRIVATE, SCHEMAS, SETTINGS
from mockserver.query import Query
from mockserver.wire import read_json, respond


def _context(request: web.Request, allowed: tuple[str, ...] = ()) -> tuple[FrigadeStore, Query]:
    return request[ENV].frigade, Query(request.query, allowed, request.app[SETTINGS].strict)


def _created() -> web.Response:
    return web.Response(status=201)


def _whole(query: Query, name: str, default: int, low: int, high: int) -> int:
    raw = query.one(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and low <= int(raw) <= high):
        problem = f"{name} must be a whole number from {low} to {high}"
        raise InvalidRequest(problem, details=[problem])
    return int(raw)


async def list_flows(request: web.Request) -> web.Response:
    store, query = _context(request, ("offset", "limit"))
    offset, limit = _whole(query, "offset", 0, 0, 1_000_000), _whole(query, "limit", 100, 1, 100)
    flows = [store.render_flow(f, request[FRIGADE_PRIVATE]) for f in store.list_flows()[offset:offset + limit]]
    return respond({"data": flows, "offset": offset, "limit": limit})


async def get_flow(request: web.Request) -> web.Response:
    store, _ = _context(request)
    return respond(store.render_flow(store.find_flow(request.match_info["flow"]), request[FRIGADE_PRIVATE]))


async def update_flow(request: web.Request) -> web.Response:
    store, _ = _context(request)
    body = await read_json(request, "frigade/update_flow.json")
    return respond(store.update_flow(request.match_info["flow"], body, request.app[SCHEMAS]))


async def delete_flow(request: web.Request) -> web.Response:
    store, _ = _context(request)
    store.delete_flow(request.match_info["flow"])
    return web.Response(status=204)


async def get_flow_states(request: web.Request) -> web.Response:
    store, query = _context(request, ("userId", "groupId"))
    user_id = query.one("userId")
    if not user_id:
        raise InvalidRequest("userId is required", details=["userId should not be empty"])
    return respond(store.flow_states(user_id, query.one("groupId"), request[FRIGADE_PRIVATE]))


async def post_flow_state(request: web.Request) -> web.Response:
    """An action, or (without flowSlug and actionType) a refresh: both answer the user's state in every flow."""
    store, _ = _context(request)
    body = await read_json(request, "frigade/flow_state_request.json")
    if "actionType" in body:
        store.act(body)
    return respond(store.flow_states(body["userId"], body.get("groupId"), request[FRIGADE_PRIVATE]), status=201)


async def post_user(request: web.Request) -> web.Response:
    store, _ = _context(request)
    body = await read_json(request, "frigade/users_request.json")
    store.upsert_user(body["userId"], body.get("properties"), body.get("events"))
    return _created()


async def post_group(request: web.Request) -> web.Response:
    store, _ = _context(request)
    body = await read_json(request, "frigade/groups_request.json")
    store.upsert_group(body["groupId"], body.get("userId"), body.get("properties"), body.get("events"))
    return _created()


async def post_session(request: web.Request) -> web.Response:
    store, _ = _context(request)
    body = await read_json(request, "frigade/sessions_request.json")
    store.upsert_user(body["userId"], body.get("userProperties"), body.get("userEvents"))
    if body.get("groupId"):
        store.upsert_group(body["groupId"], body["userId"], body.get("groupProperties"), body.get("groupEvents"))
    return _created()


def _owner_handler(param: str, action: str):
    """GET or DELETE /v1/users?userId= and /v1/groups?groupId=."""
    async def handler(request: web.Request) -> web.Response:
        store, query = _context(request, (param,))
        key = query.one(param)
        if not key:
            raise InvalidRequest(f"{param} is required", details=[f"{param} should not be empty"])
        result = getattr(store, action)(key)
        return respond(result) if result is not None else web.Response(status=200)
    return handler


def routes() -> list[web.RouteDef]:
    return [
        web.get("/v1/public/flows", list_flows),
        web.get("/v1/public/flows/{flow}", get_flow),
        web.get("/v1/flows", list_flows),
        web.get("/v1/flows/{flow}", get_flow),
        web.put("/v1/flows/{flow}", update_flow),
        web.delete("/v1/flows/{flow}", delete_flow),
        web.get("/v1/public/flowStates", get_flow_states),
        web.post("/v1/public/flowStates", post_flow_state),
        web.post("/v1/public/users", post_user),
        web.post("/v1/public/groups", post_group),
        web.post("/v1/public/sessions", post_session),
        web.get("/v1/users", _owner_handler("userId", "get_user")),
        web.delete("/v1/users", _owner_handler("userId", "delete_user")),
        web.get("/v1/groups", _owner_handler("groupId", "get_group")),
        web.delete("/v1/groups", _owner_handler("groupId", "delete_group")),
    ]
