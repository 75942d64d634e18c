"""Userflow HTTP handlers: parse, validate, call the store, render with expand, respond. Nothing else."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from aiohttp import web

from mockserver import conditions, expand
from mockserver.errors import InvalidRequest
from mockserver.keys import ENV, SCHEMAS, SETTINGS
from mockserver.lists import Page, list_object
from mockserver.query import LIST_PARAMS, Query
from mockserver.userflow.store import RELATIONS, UserflowStore
from mockserver.wire import read_json, respond


def _context(request: web.Request, allowed: tuple[str, ...]) -> tuple[UserflowStore, Query]:
    return request[ENV].userflow, Query(request.query, allowed, request.app[SETTINGS].strict)


def _tree(query: Query, kind: str) -> dict:
    return expand.parse(query.many("expand"), kind, RELATIONS)


@dataclass(frozen=True)
class Listing:
    """How one resource lists: its object type, orderable fields and filters, and the store call."""
    kind: str
    order_fields: tuple[str, ...]
    default_order: str
    filters: tuple[str, ...]
    fetch: Callable  # (store, page, request, query) -> (items, has_more)


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
                                                      segment_id=q.one("segment_id"), condition=_condition(r, q))),
    "/groups": Listing("group", ("created_at", "attributes.name"), "created_at", ("condition", "email", "segment_id", "user_id"),
                       lambda s, p, r, q: s.list_groups(p, user_id=q.one("user_id"), email=q.one("email"),
                                                        segment_id=q.one("segment_id"), condition=_condition(r, q))),
    "/attribute_definitions": Listing("attribute_definition", ("created_at", "display_name", "name"), "display_name",
                                      ("event_name", "scope"),
                                      lambda s, p, r, q: s.list_attribute_definitions(p, scope=_scope(q),
                                                                                      event_names=q.many("event_name"))),
    "/content": Listing("content", ("created_at", "name"), "created_at", ("type",),
                        lambda s, p, r, q: s.list_content(p, content_type=q.one("type"))),
    "/content_versions": Listing("content_version", ("number",), "number", ("content_id", "number"),
                                 lambda s, p, r, q: s.list_content_versions(p, q.required("content_id"), number=q.one("number"))),
    "/content_sessions": Listing("content_session", ("created_at", "last_activity_at"), "created_at", ("content_id", "user_id"),
                                 lambda s, p, r, q: s.list_content_sessions(p, content_id=q.one("content_id"), user_id=q.one("user_id"))),
    "/webhook_subscriptions": Listing("webhook_subscription", ("created_at", "url"), "created_at", (),
                                      lambda s, p, r, q: s.list_subscriptions(p)),
    "/event_definitions": Listing("event_definition", ("created_at", "display_name", "name"), "display_name", (),
                                  lambda s, p, r, q: s.list_event_definitions(p)),
}


def list_handler(path: str):
    listing = LISTINGS[path]

    async def handler(request: web.Request) -> web.Response:
        store, query = _context(request, LIST_PARAMS + listing.filters)
        page = Page.parse(query, listing.order_fields, listing.default_order)
        tree = _tree(query, listing.kind)
        items, has_more = listing.fetch(store, page, request, query)
        return respond(list_object(path, query, [store.render(listing.kind, item, tree) for item in items], has_more))
    return handler


def get_handler(kind: str, getter: str, param: str):
    async def handler(request: web.Request) -> web.Response:
        store, query = _context(request, ("expand",))
        tree = _tree(query, kind)
        return respond(store.render(kind, getattr(store, getter)(request.match_info[param]), tree))
    return handler


def upsert_handler(kind: str, schema: str, upsert: str, param: str | None = None):
    """POST (create or update) or PATCH (`param` names the id in the path) with a JSON body."""
    async def handler(request: web.Request) -> web.Response:
        store, query = _context(request, ("expand",))
        tree = _tree(query, kind)
        body = await read_json(request, schema)
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


def routes() -> list[web.RouteDef]:
    return [
        web.get("/users", list_handler("/users")),
        web.post("/users", upsert_handler("user", "userflow/create_user.json", "upsert_user")),
        web.get("/users/{user_id}", get_handler("user", "get_user", "user_id")),
        web.delete("/users/{user_id}", delete_handler("delete_user", "user_id")),
        web.get("/groups", list_handler("/groups")),
        web.post("/groups", upsert_handler("group", "userflow/create_group.json", "upsert_group")),
        web.get("/groups/{group_id}", get_handler("group", "get_group", "group_id")),
        web.delete("/groups/{group_id}", delete_handler("delete_group", "group_id")),
        web.delete("/group_memberships", delete_membership),
        web.post("/events", upsert_handler("event", "userflow/track_event.json", "track_event")),
        web.get("/content", list_handler("/content")),
        web.get("/content/{content_id}", get_handler("content", "get_content", "content_id")),
        web.get("/content_versions", list_handler("/content_versions")),
        web.get("/content_versions/{version_id}", get_handler("content_version", "get_content_version", "version_id")),
        web.get("/content_sessions", list_handler("/content_sessions")),
        web.get("/content_sessions/{session_id}", get_handler("content_session", "get_content_session", "session_id")),
        web.get("/webhook_subscriptions", list_handler("/webhook_subscriptions")),
        web.post("/webhook_subscriptions", upsert_handler("webhook_subscription", "userflow/create_webhook_subscription.json",
                                                          "create_subscription")),
        web.get("/webhook_subscriptions/{subscription_id}", get_handler("webhook_subscription", "get_subscription", "subscription_id")),
        web.patch("/webhook_subscriptions/{subscription_id}",
                  upsert_handler("webhook_subscription", "userflow/update_webhook_subscription.json", "update_subscription",
                                 "subscription_id")),
        web.delete("/webhook_subscriptions/{subscription_id}", delete_handler("delete_subscription", "subscription_id")),
        web.get("/attribute_definitions", list_handler("/attribute_definitions")),
        web.get("/event_definitions", list_handler("/event_definitions")),
    ]
