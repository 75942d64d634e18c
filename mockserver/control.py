"""The control API under /__mock/: health, reset, the journal, scenarios, webhooks, OpenAPI and the inspector page."""
from __future__ import annotations

import asyncio
import secrets
from importlib.resources import files

from aiohttp import web

from mockserver import openapi, proxy, recording, traffic
from mockserver.documents import DocumentError, load_scenario
from mockserver.errors import InvalidRequest, NotFound, RequestTooLarge
from mockserver.keys import DELIVERER, ENVIRONMENTS, JOURNAL, SCENARIOS, SCHEMAS, SETTINGS
from mockserver.scenarios import RequestView, Scenario, env_name
from mockserver.webhooks import check_target
from mockserver.wire import own_address, read_json, respond


INSPECTOR = files("mockserver").joinpath("inspector.html").read_bytes()


async def inspector(request: web.Request) -> web.Response:
    """The web inspector: one static page that reads the control API below. Its own script runs by a
    per-response nonce; nothing else can (the page also never renders data as HTML)."""
    nonce = secrets.token_urlsafe(16)
    policy = f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src 'self'; connect-src 'self'"
    return web.Response(body=INSPECTOR.replace(b"<script>", f'<script nonce="{nonce}">'.encode(), 1), content_type="text/html",
                        charset="utf-8", headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"})


async def health(request: web.Request) -> web.Response:
    return respond({"status": "ok"})


async def reset(request: web.Request) -> web.Response:
    env = None
    if request.body_exists:
        body = await read_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("env", ""), str):
            raise InvalidRequest('Body must be empty (reset every environment) or {"env": "<api key>"}')
        env = env_name(body.get("env"))
    return respond({"reset": request.app[ENVIRONMENTS].reset(env), "env": env})


async def list_requests(request: web.Request) -> web.Response:
    """The journal; with ?format=scenario, written as a scenario that expects the same calls again."""
    q = request.query
    journal = request.app[JOURNAL]
    entries = journal.query(env=env_name(q.get("env")), method=q.get("method"), path=q.get("path"), since=_whole(q, "since", 0),
                            limit=_whole(q, "limit", None, low=1))
    if q.get("format") == "scenario":
        return respond(recording.scenario_from_journal(entries, q.get("name", "recorded"), request.app[proxy.UPSTREAMS]))
    if q.get("format") not in (None, "journal"):
        raise InvalidRequest(f"format: must be journal or scenario, got {q.get('format')!r}")
    return respond({"requests": entries, "count": len(entries), "dropped": journal.dropped})


def _whole(query, name: str, default, low: int = 0):
    """A whole-number query parameter, or a 400."""
    raw = query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and int(raw) >= low):
        raise InvalidRequest(f"{name}: must be a whole number of at least {low}, got {raw!r}")
    return int(raw)


async def clear_requests(request: web.Request) -> web.Response:
    return respond({"deleted": request.app[JOURNAL].clear(env=env_name(request.query.get("env")))})


async def list_drift(request: web.Request) -> web.Response:
    """Proxy mode: every way the upstreams' answers broke schemas/ (since=SEQ, limit=N as on the journal)."""
    drift = request.app[proxy.DRIFT]
    found = drift.query(_whole(request.query, "since", 0), _whole(request.query, "limit", None, low=1))
    return respond({"upstreams": request.app[proxy.UPSTREAMS], "checked": drift.checked, "drifted": drift.drifted,
                    "count": len(found), "dropped": drift.dropped, "violations": found})


async def clear_drift(request: web.Request) -> web.Response:
    return respond({"deleted": request.app[proxy.DRIFT].clear()})


async def list_webhooks(request: web.Request) -> web.Response:
    q = request.query
    deliverer = request.app[DELIVERER]
    attempts = deliverer.query(env=env_name(q.get("env")), topic=q.get("topic"), subscription_id=q.get("subscription_id"),
                               since=_whole(q, "since", 0), limit=_whole(q, "limit", None, low=1))
    return respond({"attempts": attempts, "count": len(attempts), "pending": len(deliverer.pending), "dropped": deliverer.dropped})


async def add_frigade_webhook(request: web.Request) -> web.Response:
    """Frigade subscriptions live in its dashboard, not its API: here they are made per environment."""
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("env"), str) or not body["env"]:
        raise InvalidRequest('env: is required: the Frigade environment id (the <id> of api_private_<id>)')
    env = env_name(body["env"])
    if not request.app[ENVIRONMENTS].reachable(env):
        raise InvalidRequest(f"env: no key this server accepts names the environment {env!r}")
    subscription = {k: v for k, v in body.items() if k != "env"}
    request.app[SCHEMAS].validate("frigade/webhook_subscription.json", subscription)
    check_target(subscription["url"], request.app[SETTINGS].webhook_allow, own=own_address(request))
    hook = request.app[ENVIRONMENTS].get(env).frigade.add_webhook(
        subscription["url"], subscription.get("secret"), subscription.get("events"))
    return respond({"env": env, **hook}, status=201)


def _frigade_of(request: web.Request):
    env = env_name(request.query.get("env"))
    if not env:
        raise InvalidRequest("env: is required (query parameter): the Frigade environment id")
    return env, request.app[ENVIRONMENTS].existing(env)  # looking makes no environment


async def list_frigade_webhooks(request: web.Request) -> web.Response:
    env, found = _frigade_of(request)
    return respond({"env": env, "webhooks": list(found.frigade.webhooks.values()) if found else []})


async def delete_frigade_webhook(request: web.Request) -> web.Response:
    _, found = _frigade_of(request)
    return respond({"id": request.match_info["id"], "deleted": bool(found) and found.frigade.delete_webhook(request.match_info["id"])})


def _scenario(request: web.Request) -> Scenario:
    scenario = request.app[SCENARIOS].get(request.match_info["name"])
    if scenario is None:
        raise NotFound(f"No scenario named {request.match_info['name']!r}")
    return scenario


async def load_scenario_handler(request: web.Request) -> web.Response:
    """A scenario as YAML or JSON; one with the same name is replaced. Webhook steps at its start fire now. It is read
    in a thread (a large one takes a while to parse) and may be at most --scenario-bytes."""
    raw, budget = await request.read(), request.app[SETTINGS].scenario_bytes
    if len(raw) > budget:
        raise RequestTooLarge(f"The scenario is {len(raw):,} bytes; at most {budget:,} are accepted (--scenario-bytes)")
    name = "request body" + (".json" if request.content_type == "application/json" else "")
    try:
        scenario = await asyncio.to_thread(load_scenario, name, raw.decode("utf-8", "replace"), request.app[SCHEMAS], "api")
    except DocumentError as exc:
        raise InvalidRequest(f"Invalid scenario: {exc}", details=str(exc).splitlines()) from None
    if scenario.env and not request.app[ENVIRONMENTS].reachable(scenario.env):
        raise InvalidRequest(f"Invalid scenario: env: no key this server accepts names the environment {scenario.env!r}")
    request.app[SCENARIOS].add(scenario)
    if scenario.env:
        traffic.fire_webhook_steps(request.app, request.app[ENVIRONMENTS].get(scenario.env),
                                   [(scenario, step) for step in scenario.ready_webhooks()])
    return respond(scenario.progress(), status=201)


async def list_scenarios(request: web.Request) -> web.Response:
    return respond({"scenarios": [s.progress() for s in request.app[SCENARIOS].by_name.values()]})


async def get_scenario(request: web.Request) -> web.Response:
    return respond(_scenario(request).progress())


async def delete_scenario(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    return respond({"name": name, "deleted": request.app[SCENARIOS].remove(name)})


async def verify_scenario(request: web.Request) -> web.Response:
    """200 when every step was consumed (and nothing came out of order), else 409 with a readable report."""
    scenario = _scenario(request)
    received = [RequestView.from_journal(e) for e in request.app[JOURNAL].query(env=scenario.env)]
    body = {"name": scenario.name, "met": scenario.met, "report": scenario.report(received), "progress": scenario.progress()}
    return respond(body, status=200 if scenario.met else 409)


async def openapi_document(request: web.Request) -> web.Response:
    api = request.query.get("api")
    if api not in (None, "userflow", "frigade"):
        raise InvalidRequest(f"api: must be userflow or frigade, got {api!r}")
    return respond(openapi.build(api, str(request.url.origin())))  # the address this client reached


def routes() -> list[web.RouteDef]:
    return [
        web.get("/__mock/", inspector),
        web.get("/__mock/health", health),
        web.post("/__mock/reset", reset),
        web.get("/__mock/requests", list_requests),
        web.delete("/__mock/requests", clear_requests),
        web.get("/__mock/webhooks", list_webhooks),
        web.get("/__mock/drift", list_drift),
        web.delete("/__mock/drift", clear_drift),
        web.post("/__mock/frigade/webhooks", add_frigade_webhook),
        web.get("/__mock/frigade/webhooks", list_frigade_webhooks),
        web.delete("/__mock/frigade/webhooks/{id}", delete_frigade_webhook),
        web.post("/__mock/scenarios", load_scenario_handler),
        web.get("/__mock/scenarios", list_scenarios),
        web.get("/__mock/scenarios/{name}", get_scenario),
        web.delete("/__mock/scenarios/{name}", delete_scenario),
        web.post("/__mock/scenarios/{name}/verify", verify_scenario),
        web.get("/__mock/openapi.json", openapi_document),
    ]
