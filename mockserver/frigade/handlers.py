"""Frigade HTTP handlers: parse, validate, call the store, respond. Nothing else."""
from __future__ import annotations

from aiohttp import web

from mockserver.errors import InvalidRequest
from mockserver.frigade.store import FrigadeStore
from mockserver.keys import ENV, FRIGADE_PRIVATE, SCHEMAS, SETTINGS
from mockserver.operations import Operation, Param
from mockserver.query import Query
from mockserver.wire import read_json, respond


def _context(request: web.Request, allowed: tuple[str, ...] = ()) -> tuple[FrigadeStore, Query]:
    return request[ENV].frigade, Query(request.query, allowed, request.app[SETTINGS].strict)


async def _body(request: web.Request, schema: str):
    """The JSON body, validated. As in NestJS, a body of another media type is not parsed: validation then finds its
    fields missing (400), where other APIs answer 415."""
    return await read_json(request, schema, other_media_as_empty=True)


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
    body = await _body(request, "frigade/update_flow.json")
    return respond(store.render_flow(store.update_flow(request.match_info["flow"], body, request.app[SCHEMAS]), private=True))


async def delete_flow(request: web.Request) -> web.Response:
    store, _ = _context(request)
    store.delete_flow(request.match_info["flow"])
    return web.Response(status=204)


async def get_flow_states(request: web.Request) -> web.Response:
    store, query = _context(request, ("userId", "groupId"))
    user_id = query.one("userId")
    if not user_id:
        raise InvalidRequest("userId is required", details=["userId should not be empty"])
    query.one("groupId")  # accepted (the SDK sends it once it knows the group); progress is the user's either way
    return respond(store.flow_states(user_id, request[FRIGADE_PRIVATE]))


async def post_flow_state(request: web.Request) -> web.Response:
    """An action, or (without flowSlug and actionType) a refresh: both answer the user's state in every flow."""
    store, _ = _context(request)
    body = await _body(request, "frigade/flow_state_request.json")
    if "actionType" in body:
        store.act(body)
    return respond(store.flow_states(body["userId"], request[FRIGADE_PRIVATE]), status=201)


async def post_user(request: web.Request) -> web.Response:
    store, _ = _context(request)
    body = await _body(request, "frigade/users_request.json")
    store.upsert_user(body["userId"], body.get("properties"), body.get("events"))
    return _created()


async def post_group(request: web.Request) -> web.Response:
    store, _ = _context(request)
    body = await _body(request, "frigade/groups_request.json")
    store.upsert_group(body["groupId"], body.get("userId"), body.get("properties"), body.get("events"))
    return _created()


async def post_session(request: web.Request) -> web.Response:
    store, _ = _context(request)
    body = await _body(request, "frigade/sessions_request.json")
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


STRING = {"type": "string"}
FLOWS_PAGE = (Param("offset", {"type": "integer", "minimum": 0, "default": 0}), Param("limit", {"type": "integer", "minimum": 1,
                                                                                               "maximum": 100, "default": 100}))
OPERATIONS = [
    Operation("GET", "/v1/public/flows", list_flows, "listPublicFlows", "List flows", "frigade/flow_list.json", query=FLOWS_PAGE),
    Operation("GET", "/v1/public/flows/{flow}", get_flow, "getPublicFlow", "Get a flow by slug or numeric id", "frigade/flow.json"),
    Operation("GET", "/v1/flows", list_flows, "listFlows", "List flows (private fields included)", "frigade/flow_list.json",
              query=FLOWS_PAGE),
    Operation("GET", "/v1/flows/{flow}", get_flow, "getFlow", "Get a flow by slug or numeric id", "frigade/flow.json"),
    Operation("PUT", "/v1/flows/{flow}", update_flow, "updateFlow", "Update a flow by numeric id", "frigade/flow.json",
              request="frigade/update_flow.json"),
    Operation("DELETE", "/v1/flows/{flow}", delete_flow, "deleteFlow", "Delete a flow by numeric id", None, 204),
    Operation("GET", "/v1/public/flowStates", get_flow_states, "getUserFlowStates", "A user's state in every flow",
              "frigade/user_flow_states.json", query=(Param("userId", STRING, True), Param("groupId", STRING))),
    Operation("POST", "/v1/public/flowStates", post_flow_state, "updateUserFlowState", "Update a user's state in a flow, or refresh",
              "frigade/user_flow_states.json", 201, request="frigade/flow_state_request.json"),
    Operation("POST", "/v1/public/users", post_user, "upsertUser", "Create or update a user", None, 201,
              request="frigade/users_request.json"),
    Operation("POST", "/v1/public/groups", post_group, "upsertGroup", "Create or update a group", None, 201,
              request="frigade/groups_request.json"),
    Operation("POST", "/v1/public/sessions", post_session, "startSession", "Identify a user (and group) in one call", None, 201,
              request="frigade/sessions_request.json"),
    Operation("GET", "/v1/users", _owner_handler("userId", "get_user"), "getUser", "Get a user", "frigade/user.json",
              query=(Param("userId", STRING, True),)),
    Operation("DELETE", "/v1/users", _owner_handler("userId", "delete_user"), "deleteUser", "Delete a user", None,
              query=(Param("userId", STRING, True),)),
    Operation("GET", "/v1/groups", _owner_handler("groupId", "get_group"), "getGroup", "Get a group", "frigade/group.json",
              query=(Param("groupId", STRING, True),)),
    Operation("DELETE", "/v1/groups", _owner_handler("groupId", "delete_group"), "deleteGroup", "Delete a group", None,
              query=(Param("groupId", STRING, True),)),
]
