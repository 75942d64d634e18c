"""Userflow HTTP handlers: parse, validate, call the store, render with expand, respond. Nothing else."""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from aiohttp import web

from mockserver import conditions, expand
from mockserver.errors import InvalidRequest
from mockserver.keys import ENV, SCHEMAS, SETTINGS
from mockserver.lists import Order, Page, list_object
from mockserver.operations import Operation, Param
from mockserver.query import LIST_PARAMS, Query
from mockserver.userflow.store import RELATIONS, UserflowStore
from mockserver.webhooks import check_target
from mockserver.wire import own_address, read_json, respond


def _context(request: web.Request, allowed: tuple[str, ...]) -> tuple[UserflowStore, Query]:
    query = request.query  # --strict is asked only when there are parameters to judge
    return request[ENV].userflow, Query(query, allowed, bool(query) and request.app[SETTINGS].strict)


def _tree(query: Query, kind: str) -> dict:
    paths = query.many("expand") if query.raw else None
    return expand.parse(paths, kind, RELATIONS) if paths else {}


def _expand(kind: str) -> tuple[str, ...]:
    """`expand` is a parameter only of operations whose objects have something to expand."""
    return ("expand",) if kind in RELATIONS else ()


@dataclass(frozen=True)
class Listing:
    """How one resource lists: its object type, orderable fields and filters, and the store call."""
    kind: str
    order_fields: tuple[str, ...]
    default_order: str
    filters: tuple[str, ...]
    fetch: Callable  # (store, page, request, query) -> (items, has_more)
    collection: Callable  # store -> the Collection it lists
    required: tuple[str, ...] = ()

    def default_index(self, store) -> None:
        """Build the index of the default order now (for the seed, at start-up: a new key's first list is then cheap)."""
        self.collection(store).index(Order.parse([], self.order_fields, self.default_order))


def _condition(request, query):
    raw = query.one("condition")
    return None if raw is None else conditions.parse(raw, request.app[SCHEMAS])


def _scope(query):
    scope = query.one("scope")
    if scope is not None and scope not in ("event", "group", "group_membership", "user"):
        raise InvalidRequest(f"scope: must be one of event, group, group_membership, user, got {scope!r}")
    return scope


LISTINGS = {
    "/users": Listing("user", ("created_at", "attributes.signed_up_at", "attributes.last_seen_at", "attributes.name"), "created_at",
                      ("condition", "email", "group_id", "segment_id"),
                      lambda s, p, r, q: s.list_users(p, email=q.one("email"), group_id=q.one("group_id"),
                                                      segment_id=q.one("segment_id"), condition=_condition(r, q)),
                      lambda s: s.users),
    "/groups": Listing("group", ("created_at", "attributes.name"), "created_at", ("condition", "email", "segment_id", "user_id"),
                       lambda s, p, r, q: s.list_groups(p, user_id=q.one("user_id"), email=q.one("email"),
                                                        segment_id=q.one("segment_id"), condition=_condition(r, q)),
                       lambda s: s.groups),
    "/attribute_definitions": Listing("attribute_definition", ("created_at", "display_name", "name"), "display_name",
                                      ("event_name", "scope"),
                                      lambda s, p, r, q: s.list_attribute_definitions(p, scope=_scope(q),
                                                                                      event_names=q.many("event_name")),
                                      lambda s: s.definitions.attributes),
    "/content": Listing("content", ("created_at", "name"), "created_at", ("type",),
                        lambda s, p, r, q: s.list_content(p, content_type=q.one("type")), lambda s: s.content),
    "/content_versions": Listing("content_version", ("number",), "number", ("content_id", "number"),
                                 lambda s, p, r, q: s.list_content_versions(p, q.required("content_id"), number=q.one("number")),
                                 lambda s: s.versions, required=("content_id",)),
    "/content_sessions": Listing("content_session", ("created_at", "last_activity_at"), "created_at", ("content_id", "user_id"),
                                 lambda s, p, r, q: s.list_content_sessions(p, content_id=q.one("content_id"), user_id=q.one("user_id")),
                                 lambda s: s.sessions),
    "/webhook_subscriptions": Listing("webhook_subscription", ("created_at", "url"), "created_at", (),
                                      lambda s, p, r, q: s.list_subscriptions(p), lambda s: s.subscriptions),
    "/event_definitions": Listing("event_definition", ("created_at", "display_name", "name"), "display_name", (),
                                  lambda s, p, r, q: s.list_event_definitions(p), lambda s: s.definitions.events),
}


def list_handler(path: str):
    listing = LISTINGS[path]
    allowed = LIST_PARAMS + _expand(listing.kind) + listing.filters

    async def handler(request: web.Request) -> web.Response:
        store, query = _context(request, allowed)
        page = Page.parse(query, listing.order_fields, listing.default_order)
        tree = _tree(query, listing.kind)
        await listing.collection(store).ready(page.order)
        found = listing.fetch(store, page, request, query)
        items, has_more = await found if inspect.isawaitable(found) else found  # users and groups scan in steps
        return respond(list_object(path, query, list(map(store.renderer(listing.kind, tree), items)), has_more))
    return handler


def get_handler(kind: str, getter: str, param: str):
    allowed = _expand(kind)

    async def handler(request: web.Request) -> web.Response:
        store, query = _context(request, allowed)
        tree = _tree(query, kind)
        return respond(store.render(kind, getattr(store, getter)(request.match_info[param]), tree))
    return handler


def upsert_handler(kind: str, schema: str, upsert: str, param: str | None = None, check: Callable | None = None):
    """POST (create or update) or PATCH (`param` names the id in the path) with a JSON body; `check(request, body)`
    applies a server policy before the store sees the body."""
    allowed = _expand(kind)

    async def handler(request: web.Request) -> web.Response:
        store, query = _context(request, allowed)
        tree = _tree(query, kind)
        body = await read_json(request, schema, nulls_absent=True)
        if check:
            check(request, body)
        args = (request.match_info[param], body) if param else (body,)
        return respond(store.render(kind, getattr(store, upsert)(*args), tree))
    return handler


def delete_handler(deleter: str, param: str):
    async def handler(request: web.Request) -> web.Response:
        store, _ = _context(request, ())
        return respond(getattr(store, deleter)(request.match_info[param]))
    return handler


async def delete_membership(request: web.Request) -> web.Response:
    store, query = _context(request, ("user_id", "group_id"))
    return respond(store.delete_membership(query.required("user_id"), query.required("group_id")))


STRING = {"type": "string"}
PARAM_SCHEMAS = {
    "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
    "condition": {"type": "string", "description": "a JSON condition (see Condition filtering)"},
    "type": {"enum": ["checklist", "flow", "launcher"]},
    "scope": {"enum": ["event", "group", "group_membership", "user"]},
    "number": {"type": "integer"},
    "expand": {"type": "string", "description": "dotted paths, comma-separated; also expand[]"},
}


def _params(names, listing: Listing | None = None) -> tuple[Param, ...]:
    params = []
    for name in names:
        schema = PARAM_SCHEMAS.get(name, STRING)
        if name == "order_by" and listing:
            schema = {"enum": [sign + field for field in listing.order_fields for sign in ("", "-")]}
        params.append(Param(name, schema, required=bool(listing and name in listing.required)))
    return tuple(params)


def _list(path: str, op_id: str, summary: str) -> Operation:
    listing = LISTINGS[path]
    return Operation("GET", path, list_handler(path), op_id, summary, f"userflow/{listing.kind}.json",
                     query=_params(LIST_PARAMS + _expand(listing.kind) + listing.filters, listing), is_list=True)


def _get(path: str, kind: str, getter: str, op_id: str, summary: str) -> Operation:
    param = path.rsplit("{", 1)[1].rstrip("}")
    return Operation("GET", path, get_handler(kind, getter, param), op_id, summary, f"userflow/{kind}.json", query=_params(_expand(kind)))


def _write(method: str, path: str, kind: str, schema: str, action: str, op_id: str, summary: str, check=None) -> Operation:
    param = path.rsplit("{", 1)[1].rstrip("}") if "{" in path else None
    return Operation(method, path, upsert_handler(kind, schema, action, param, check), op_id, summary, f"userflow/{kind}.json",
                     request=schema, query=_params(_expand(kind)))


def _webhook_target(request: web.Request, body: dict) -> None:
    """--webhook-allow, for the subscription operations that take a `url`."""
    if "url" in body:
        check_target(body["url"], request.app[SETTINGS].webhook_allow, own=own_address(request))


def _delete(path: str, deleter: str, op_id: str, summary: str) -> Operation:
    return Operation("DELETE", path, delete_handler(deleter, path.rsplit("{", 1)[1].rstrip("}")), op_id, summary, "userflow/deleted.json")


OPERATIONS = [
    _list("/users", "listUsers", "List users"),
    _write("POST", "/users", "user", "userflow/create_user.json", "upsert_user", "createOrUpdateUser", "Create or update a user"),
    _get("/users/{user_id}", "user", "get_user", "getUser", "Get a user"),
    _delete("/users/{user_id}", "delete_user", "deleteUser", "Delete a user"),
    _list("/groups", "listGroups", "List groups"),
    _write("POST", "/groups", "group", "userflow/create_group.json", "upsert_group", "createOrUpdateGroup", "Create or update a group"),
    _get("/groups/{group_id}", "group", "get_group", "getGroup", "Get a group"),
    _delete("/groups/{group_id}", "delete_group", "deleteGroup", "Delete a group"),
    Operation("DELETE", "/group_memberships", delete_membership, "removeUserFromGroup", "Remove a user from a group",
              "userflow/deleted.json", query=(Param("user_id", STRING, True), Param("group_id", STRING, True))),
    _write("POST", "/events", "event", "userflow/track_event.json", "track_event", "trackEvent", "Track an event"),
    _list("/content", "listContent", "List content"),
    _get("/content/{content_id}", "content", "get_content", "getContent", "Get a content object"),
    _list("/content_versions", "listContentVersions", "List content versions"),
    _get("/content_versions/{version_id}", "content_version", "get_content_version", "getContentVersion", "Get a content version"),
    _list("/content_sessions", "listContentSessions", "List content sessions"),
    _get("/content_sessions/{session_id}", "content_session", "get_content_session", "getContentSession", "Get a content session"),
    _list("/webhook_subscriptions", "listWebhookSubscriptions", "List webhook subscriptions"),
    _write("POST", "/webhook_subscriptions", "webhook_subscription", "userflow/create_webhook_subscription.json", "create_subscription",
           "createWebhookSubscription", "Create a webhook subscription", _webhook_target),
    _get("/webhook_subscriptions/{subscription_id}", "webhook_subscription", "get_subscription", "getWebhookSubscription",
         "Get a webhook subscription"),
    _write("PATCH", "/webhook_subscriptions/{subscription_id}", "webhook_subscription", "userflow/update_webhook_subscription.json",
           "update_subscription", "updateWebhookSubscription", "Update a webhook subscription", _webhook_target),
    _delete("/webhook_subscriptions/{subscription_id}", "delete_subscription", "deleteWebhookSubscription",
            "Delete a webhook subscription"),
    _list("/attribute_definitions", "listAttributeDefinitions", "List attribute definitions"),
    _list("/event_definitions", "listEventDefinitions", "List event definitions"),
]
