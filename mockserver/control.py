"""The control API under /__mock/: health, reset and the journal. JSON in and out, no API key."""
from __future__ import annotations

from aiohttp import web

from mockserver.errors import InvalidRequest
from mockserver.keys import DELIVERER, ENVIRONMENTS, JOURNAL, SCHEMAS
from mockserver.wire import read_json, respond


async def health(request: web.Request) -> web.Response:
    return respond({"status": "ok"})


async def reset(request: web.Request) -> web.Response:
    env = None
    if request.can_read_body:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("env", ""), str):
            raise InvalidRequest('Body must be empty (reset every environment) or {"env": "<api key>"}')
        env = body.get("env")
    return respond({"reset": request.app[ENVIRONMENTS].reset(env), "env": env})


async def list_requests(request: web.Request) -> web.Response:
    q = request.query
    journal = request.app[JOURNAL]
    entries = journal.query(env=q.get("env"), method=q.get("method"), path=q.get("path"))
    return respond({"requests": entries, "count": len(entries), "dropped": journal.dropped})


async def clear_requests(request: web.Request) -> web.Response:
    return respond({"deleted": request.app[JOURNAL].clear(env=request.query.get("env"))})


async def list_webhooks(request: web.Request) -> web.Response:
    q = request.query
    deliverer = request.app[DELIVERER]
    attempts = deliverer.query(env=q.get("env"), topic=q.get("topic"), subscription_id=q.get("subscription_id"))
    return respond({"attempts": attempts, "count": len(attempts), "pending": len(deliverer.pending), "dropped": deliverer.dropped})


async def add_frigade_webhook(request: web.Request) -> web.Response:
    """Frigade subscriptions live in its dashboard, not its API: here they are made per environment."""
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("env"), str) or not body["env"]:
        raise InvalidRequest('env: is required: the Frigade environment id (the <id> of api_private_<id>)')
    subscription = {k: v for k, v in body.items() if k != "env"}
    request.app[SCHEMAS].validate("frigade/webhook_subscription.json", subscription)
    hook = request.app[ENVIRONMENTS].get(body["env"]).frigade.add_webhook(
        subscription["url"], subscription.get("secret"), subscription.get("events"))
    return respond({"env": body["env"], **hook}, status=201)


def _frigade_of(request: web.Request):
    env = request.query.get("env")
    if not env:
        raise InvalidRequest("env: is required (query parameter): the Frigade environment id")
    return env, request.app[ENVIRONMENTS].get(env).frigade


async def list_frigade_webhooks(request: web.Request) -> web.Response:
    env, frigade = _frigade_of(request)
    return respond({"env": env, "webhooks": list(frigade.webhooks.values())})


async def delete_frigade_webhook(request: web.Request) -> web.Response:
    _, frigade = _frigade_of(request)
    return respond({"id": request.match_info["id"], "deleted": frigade.delete_webhook(request.match_info["id"])})


def routes() -> list[web.RouteDef]:
    return [
        web.get("/__mock/health", health),
        web.post("/__mock/reset", reset),
        web.get("/__mock/requests", list_requests),
        web.delete("/__mock/requests", clear_requests),
        web.get("/__mock/webhooks", list_webhooks),
        web.post("/__mock/frigade/webhooks", add_frigade_webhook),
        web.get("/__mock/frigade/webhooks", list_frigade_webhooks),
        web.delete("/__mock/frigade/webhooks/{id}", delete_frigade_webhook),
    ]
