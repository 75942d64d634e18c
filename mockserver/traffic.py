"""What happens to an API request between its gate and its handler: rate limits, added latency, scenario matching
(scripted responses, delays, faults, webhook steps)."""
from __future__ import annotations

import asyncio
import socket
import struct

from aiohttp import web

from mockserver.errors import ApiError, RateLimited, error_for_status
from mockserver.jsontext import loads
from mockserver.keys import DELIVERER, DUE_WEBHOOKS, ENV, REQUEST_ID, SCENARIOS, SETTINGS
from mockserver.limits import Limits
from mockserver.scenarios import RequestView, Scenario, Scenarios, Step
from mockserver.webhooks import frigade_signer, userflow_signer
from mockserver.wire import respond

TIMEOUT_FAULT_MS = 30_000
SIGNERS = {"userflow": lambda item: userflow_signer(item["secret"]),
           "frigade": lambda item: frigade_signer(item["secret"], item["notification"]["data"])}


class Fault(Exception):
    """A scripted network fault: the connection is reset, held without an answer, or closed empty."""

    def __init__(self, kind: str, delay_ms: int | None):
        super().__init__(kind)
        self.kind, self.delay_ms = kind, delay_ms


def send_outboxes(app: web.Application, env) -> None:
    """Hand every notification an environment has queued to the deliverer; they go out in the background."""
    for api, store in (("userflow", env.userflow), ("frigade", env.frigade)):
        for item in store.take_outbox():
            app[DELIVERER].submit(env.key, api, item, SIGNERS[api](item))


async def _view(request: web.Request) -> RequestView:
    raw = await request.read()
    try:
        body = loads(raw.decode("utf-8")) if raw else None
    except ValueError:
        body = raw.decode("utf-8", "replace")
    query: dict[str, list[str]] = {}
    for name, value in request.query.items():
        query.setdefault(name, []).append(value)
    return RequestView(request.method, request.path, query, {k.lower(): v for k, v in request.headers.items()}, body,
                       request[REQUEST_ID])


def take_rate_limit(limits: Limits, scenarios: Scenarios, env_key: str) -> dict[str, str]:
    """Count a request against its environment's rate limit: the X-RateLimit-* headers, or a 429."""
    allowed, headers = limits.take(env_key, scenarios)
    if not allowed:
        window = headers["X-RateLimit-Limit"]
        raise RateLimited(f"Too many requests: this environment allows {window} requests per window; retry after "
                          f"{headers['Retry-After']}s", headers)
    return headers


def fire_webhook_steps(app: web.Application, env, due: list[tuple[Scenario, Step]]) -> None:
    """Emit the webhook steps that are due, in the environment given; a step that cannot be emitted keeps its error."""
    for _, step in due:
        hook = step.webhook
        try:
            if hook.get("api") == "frigade":
                env.frigade.emit(hook["type"], env.frigade.find_flow(hook["flow"]), hook["user_id"], hook.get("data", {}))
            else:
                obj = env.userflow.find(hook["object"]["ref"]) if "ref" in hook["object"] else hook["object"]
                env.userflow.emit(hook["topic"], obj, hook.get("previous_attributes"), hook.get("updated_attributes"))
        except ApiError as exc:
            step.error = f"webhook not sent: {exc.message}"
    send_outboxes(app, env)


async def before_handler(request: web.Request) -> tuple[web.StreamResponse | None, dict | None]:
    """Latency and scenarios. Returns a scripted response (or None: the handler answers) and the matched
    step's response spec, whose status and headers then apply to the handler's answer."""
    app = request.app
    if app[SETTINGS].latency_ms:
        await asyncio.sleep(app[SETTINGS].latency_ms / 1000)
    scenarios = app[SCENARIOS]
    if not scenarios.by_name:
        return None, None
    spec, due = scenarios.offer(request[ENV].key, await _view(request))
    request[DUE_WEBHOOKS] = due  # sent once the request has been answered, so they see what it changed
    if spec is None:
        return None, None
    if spec.get("delay_ms") and spec.get("fault") != "timeout":
        await asyncio.sleep(spec["delay_ms"] / 1000)
    if "fault" in spec:
        raise Fault(spec["fault"], spec.get("delay_ms"))
    status = spec.get("status")
    if "body" in spec:
        return respond(spec["body"], status=status or 200, headers=spec.get("headers")), None
    if status and status >= 400:
        # rendered by the pipeline as the API's own error body for that status
        raise error_for_status(status, f"Scripted {status} from scenario {spec['scenario']!r}, step {spec['step']}", spec.get("headers"))
    return None, spec


async def perform_fault(request: web.Request, fault: Fault) -> None:
    transport = request.transport
    if transport is None:
        return
    if fault.kind == "timeout":
        await asyncio.sleep((fault.delay_ms if fault.delay_ms is not None else TIMEOUT_FAULT_MS) / 1000)
        transport.close()
    elif fault.kind == "connection_reset":
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
    else:  # empty_response
        transport.close()

