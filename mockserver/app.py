"""create_app(settings): both APIs and the control API behind one request pipeline.

Pipeline per request: request id -> the API's gate (key -> environment, version, Accept, route) ->
handler (for an API in proxy mode: the key only, then the upstream, see proxy.py); every raised error
becomes that API's own error body here, the notifications a request caused go to the deliverer, and
every API request lands in the journal.
"""
from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import secrets
import time
from http import HTTPStatus
from typing import NoReturn

from aiohttp import hdrs, web
from aiohttp.http_exceptions import ContentEncodingError, TransferEncodingError
from aiohttp.web_urldispatcher import ResourceRoute, UrlMappingMatchInfo

from mockserver import control, fixtures, logs
from mockserver.environments import Environments
from mockserver.errors import (ApiError, Forbidden, HeadersTooLarge, InternalError, InvalidApiKey, InvalidApiVersion, InvalidRequest,
                               MethodNotAllowed, NotAcceptable, NotFound, RequestTimeout, RequestTooLarge, ServiceUnavailable, UriTooLong)
from mockserver.frigade import handlers as frigade
from mockserver.journal import Journal
from mockserver.cors import Cors
from mockserver.keys import (API, BODY, CORS, DELIVERER, DUE_WEBHOOKS, ENV, ENVIRONMENTS, FRIGADE_PRIVATE, JOURNAL, LIMITS,
                             REQUEST_ID, SCENARIOS, SCHEMAS, SETTINGS, STATE)
from mockserver.limits import Limits, parse_rate
from mockserver import operations, proxy, recording, state, traffic
from mockserver.schemas import Schemas
from mockserver.server import MAX_HEADERS, MAX_URL_BYTES
from mockserver.settings import Settings
from mockserver.userflow import handlers as userflow
from mockserver.documents import DocumentError
from mockserver.files import FileProblem
from mockserver.webhooks import DELIVERY_HEADER, Budgets, Deliverer, check_target, retry_policies
from mockserver.wire import JsonResponse, is_json, respond

log = logging.getLogger("mockserver")

USERFLOW_VERSION = "2020-01-03"
DOC_URL = "https://userflow.com/docs/api"
REQUEST_ID_HEADER = "X-Request-Id"


def accepts_json(accept: str) -> bool:
    """Whether an Accept header admits the JSON this API answers: */*, application/*, or a media type a request body
    may have (application/json, application/...+json), unless given with q=0."""
    for part in accept.split(","):
        media, *params = (p.strip().lower() for p in part.split(";"))
        if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in params):
            continue
        if media in ("*/*", "application/*") or is_json(media):
            return True
    return False
# req_ + 12 random hex digits for this process + an 8-digit counter: unique, and cheaper than a uuid per request
REQUEST_ID_PREFIX = f"req_{secrets.token_hex(6)}"
REQUEST_NUMBERS = itertools.count(1)


def api_of(path: str) -> str:
    if path.startswith("/__mock/"):
        return "control"
    return "frigade" if path == "/v1" or path.startswith("/v1/") else "userflow"


def userflow_error(error: ApiError, request_id: str) -> web.Response:
    body = {"error": {"code": error.code, "message": error.message, "doc_url": DOC_URL, "request_id": request_id}}
    return respond(body, status=error.status, headers=error.headers)


FRIGADE_MAU_CAP = "Your account has used its maximum allowed MAUs. Contact Frigade support to upgrade."


def frigade_error(error: ApiError, request_id: str) -> web.Response:
    """NestJS's default body; per-field problems as a list in `message`. A 429 is Frigade's MAU cap."""
    if error.status == 500:
        return respond({"statusCode": 500, "message": "Internal server error"}, status=500, headers=error.headers)
    if error.status == 429:
        return respond({"statusCode": 429, "message": FRIGADE_MAU_CAP}, status=429, headers=error.headers)
    body = {"statusCode": error.status, "message": error.details or error.message, "error": HTTPStatus(error.status).phrase}
    return respond(body, status=error.status, headers=error.headers)


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _route_error(request: web.Request, route_error: web.HTTPException) -> NoReturn:
    """The router found no route (404), or none for this method (405): Userflow's answer."""
    if isinstance(route_error, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(route_error.allowed_methods))
        raise MethodNotAllowed(f"{request.method} is not allowed on {request.path}; allowed: {allowed}", {"Allow": allowed})
    raise NotFound(f"Unrecognized request URL ({request.method} {request.path})")


OPEN_CONTROL_PATHS = ("/__mock/health", "/__mock/")  # health checks, and the inspector page (it holds no data)


def _translate(exc: web.HTTPException, request: web.Request) -> ApiError:
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return RequestTooLarge(f"Request body is larger than the {request.app[SETTINGS].max_body_bytes} bytes allowed")
    if isinstance(exc, web.HTTPNotFound):
        return NotFound(f"Unrecognized request URL ({request.method} {request.path})")
    error = ApiError(exc.reason)
    error.status, error.code = exc.status, exc.reason.lower().replace(" ", "_")
    return error


RENDERERS = {"userflow": userflow_error, "frigade": frigade_error, "control": userflow_error}


class Matched(UrlMappingMatchInfo):
    """A route found (see Pipeline._route), made as aiohttp's router makes one and as its application then completes it
    (add_app, freeze), in one step; its handler is held, not looked up through the route."""
    __slots__ = ("handler",)
    http_exception = None  # a route was found

    def __init__(self, match: dict[str, str], route: ResourceRoute, app: web.Application):
        dict.__init__(self, match)
        self._route, self._apps, self._current_app, self._frozen, self.handler = route, [app], app, True, route.handler


class Pipeline:
    """The way of every request (see the module's docstring), installed as the app's request handler: what aiohttp's
    Application._handle does for an app without middlewares or sub-applications -- route, then the handler -- with this
    as the handler's one wrapper, and no middleware machinery per request. It holds the parts of the app it uses on
    every request, so none is looked up per request."""

    def __init__(self, app: web.Application):
        self.app, self.router = app, app.router
        self.settings, self.environments, self.journal, self.cors = app[SETTINGS], app[ENVIRONMENTS], app[JOURNAL], app[CORS]
        self.limits, self.scenarios, self.deliverer, self.upstreams = app[LIMITS], app[SCENARIOS], app[DELIVERER], app[proxy.UPSTREAMS]
        self.gates = {"userflow": self._gate_userflow, "frigade": self._gate_frigade}

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        match_info = self._route(request)
        if match_info is None:  # no route takes it: the router's 404 or 405
            match_info = await self.router.resolve(request)
            match_info.add_app(self.app)
            match_info.freeze()
        request._match_info = match_info
        if request.headers.get(hdrs.EXPECT):  # Expect: 100-continue, answered as aiohttp answers it
            response = await match_info.expect_handler(request)
            await request.writer.drain()
            if response is not None:
                return response
        return await self.run(request, match_info.handler)

    def _route(self, request: web.Request) -> Matched | None:
        """The route aiohttp's router would find (UrlDispatcher.resolve: the path's own resources, then its parents',
        each in the order added, the first whose pattern matches and that has a route for the method), looked up without
        a coroutine per candidate resource. None when no route takes the request: the router then answers 404 or 405."""
        path, method, index = request.rel_url.path_safe, request.method, self.router._resource_index
        part = path
        while True:
            for resource in index.get(part, ()):
                match = resource._match(path)
                if match is not None and (route := resource._routes.get(method, resource._any_route)):
                    return Matched(match, route, self.app)
            if part == "/":
                return None
            part = part.rpartition("/")[0] or "/"

    async def run(self, request: web.Request, handler) -> web.StreamResponse:
        started = time.perf_counter()
        request_id = f"{REQUEST_ID_PREFIX}{next(REQUEST_NUMBERS):08x}"
        api = api_of(request.path)
        # the request's own values, for whoever reads them later (ENV and DUE_WEBHOOKS are set once known; read without a
        # lookup that can miss); written into the request's mapping in one step, as request[KEY] = value would
        state = request._state
        state.update({REQUEST_ID: request_id, API: api, ENV: None, DUE_WEBHOOKS: None})
        cors, body = self.cors, None
        try:
            body = state[BODY] = await self._admit(request)  # kept for the proxy
            if api in cors.apis and cors.is_preflight(request):  # before the key check: a preflight carries no key
                response = cors.preflight(request, api)
            elif api == "control":
                self._gate_control(request)
                response = await handler(request)
            else:
                proxied = api in self.upstreams
                env = self._gate_proxied(request, api) if proxied else self.gates[api](request)
                response = await self._answer(request, env, proxy.forward if proxied else handler)
        except traffic.Fault as fault:
            self._journal(request, api, request_id, state[ENV], body, None, started, fault.kind)
            await traffic.perform_fault(request, fault)
            raise asyncio.CancelledError() from None  # nothing more is written to this connection
        except ApiError as exc:
            response = RENDERERS[api](exc, request_id)
        except web.HTTPException as exc:
            response = RENDERERS[api](_translate(exc, request), request_id)
        except Exception:
            log.exception("unexpected error in %s %s (request %s)", request.method, request.path, request_id)
            response = RENDERERS[api](InternalError("Something went wrong on the mock's end; the server log has the details"), request_id)
        response._headers[REQUEST_ID_HEADER] = request_id
        if body is None and request.body_exists:  # its body never came in whole: closed after this, not lingering
            response.force_close()
        if api in cors.apis:
            cors.decorate(request, api, response)
        if api != "control":
            env = state[ENV]  # set by the gate, which may have refused the request after naming it
            if env is not None:  # webhook steps the request made due, then every notification it caused
                due = state[DUE_WEBHOOKS]
                if due or env.userflow.outbox or env.frigade.outbox:
                    traffic.fire_webhook_steps(self.app, env, due or [])
            self._journal(request, api, request_id, env, body, response, started, None)
        return response

    async def _admit(self, request: web.Request) -> bytes | None:
        """What every request must pass first, whatever its API: not one of this server's own webhook deliveries, a URL
        and headers within bounds, and its whole body read within --connection-timeout (a slow body is a 408, a corrupt
        compressed one a 400), so nothing after this waits on the client. Returns the body (None: there is none)."""
        if request.headers.get(DELIVERY_HEADER) == self.deliverer.token:
            raise Forbidden("This request is a webhook delivery of this mockserver to itself, which is refused: "
                            "a webhook may not target the server that sends it")
        if len(request.raw_path) > MAX_URL_BYTES:
            raise UriTooLong(f"The URL is {len(request.raw_path):,} bytes long; at most {MAX_URL_BYTES:,} are accepted")
        if len(request.raw_headers) > MAX_HEADERS:
            raise HeadersTooLarge(f"The request has {len(request.raw_headers)} headers; at most {MAX_HEADERS} are accepted")
        if not request.body_exists:
            return None
        if request.content.is_eof():  # all of it is here (a small body comes with the headers): nothing to wait for
            return await request.read()
        timeout = self.settings.connection_timeout
        try:
            async with asyncio.timeout(timeout):
                return await request.read()
        except TimeoutError:
            raise RequestTimeout(f"The request body did not arrive within {timeout:g} s (--connection-timeout)") from None
        except (ContentEncodingError, TransferEncodingError, web.RequestPayloadError) as exc:
            problem = " ".join(str(getattr(exc.__cause__, "message", None) or exc).split()).removeprefix("400, message: ")
            raise InvalidRequest(f"The request body cannot be read: {problem} "
                                 f"(Content-Encoding: {request.headers.get('Content-Encoding', 'none')})") from None

    def _gate_userflow(self, request: web.Request):
        """Everything a Userflow request must pass before its handler runs; its environment."""
        env = request._state[ENV] = self.environments.authorize(_bearer(request))
        headers = request.headers
        version = headers.get("Userflow-Version")
        if version is not None and version != USERFLOW_VERSION:
            raise InvalidApiVersion(f"Userflow-Version: unknown API version {version!r}; the only version is {USERFLOW_VERSION}")
        accept = headers.get("Accept", "").strip()
        if accept and not accepts_json(accept):
            raise NotAcceptable(f"This API responds with application/json only; Accept was {accept!r}")
        route_error = request._match_info.http_exception
        if route_error is not None:
            _route_error(request, route_error)
        return env

    def _gate_frigade(self, request: web.Request):
        """Frigade: key -> environment; public keys only on /v1/public/*; unknown routes as NestJS answers them."""
        env, private = self.environments.authorize_frigade(_bearer(request))
        request._state.update({ENV: env, FRIGADE_PRIVATE: private})
        if not private and not request.path.startswith("/v1/public/"):
            raise Forbidden("Forbidden resource")
        if request.match_info.http_exception is not None:
            raise NotFound(f"Cannot {request.method} {request.path}")
        return env

    def _gate_proxied(self, request: web.Request, api: str):
        """An API in proxy mode: the key names the environment (for the journal, scenarios and limits); everything else
        is the upstream's to judge."""
        if api == "frigade":
            env, request[FRIGADE_PRIVATE] = self.environments.authorize_frigade(_bearer(request))
        else:
            env = self.environments.authorize(_bearer(request))
        request[ENV] = env
        return env

    def _has_admin_token(self, request: web.Request) -> bool:
        token = self.settings.admin_token
        given = (_bearer(request) or "").encode("utf-8", "surrogateescape")  # header bytes that are not UTF-8 are no token
        return bool(token) and hmac.compare_digest(given, token.encode())

    def _gate_control(self, request: web.Request) -> None:
        """The control API obeys only its own origin and callers that are not browsers (they send no Origin): a web page
        elsewhere cannot reset, load scenarios or read the journal, unless it holds the admin token. With --admin-token,
        everything but health and the inspector page needs 'Authorization: Bearer <token>'."""
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() != f"{request.scheme}://{request.host}".lower() and not self._has_admin_token(request):
            raise Forbidden(f"The control API answers only its own origin ({request.scheme}://{request.host}) and callers that "
                            f"are not web pages; this request came from {origin!r}")
        if self.settings.admin_token and request.path not in OPEN_CONTROL_PATHS and not self._has_admin_token(request):
            raise InvalidApiKey("The control API needs 'Authorization: Bearer <admin token>' (the server runs with --admin-token)")

    async def _answer(self, request: web.Request, env, handler) -> web.StreamResponse:
        """An API request past its gate: concurrency and rate limits, latency, scenarios, then the handler."""
        limits = self.limits
        if limits.max_in_flight and limits.in_flight >= limits.max_in_flight:
            raise ServiceUnavailable(f"Too many requests in flight (the limit is {limits.max_in_flight}); try again shortly",
                                     {"Retry-After": "1"})
        limits.in_flight += 1
        try:
            scenarios = self.scenarios
            rate_headers = None
            if limits.default is not None or limits.windows or scenarios.by_name:  # else no limit anywhere: nothing to count
                rate_headers = traffic.take_rate_limit(limits, scenarios, env.key)
            response = spec = None
            if self.settings.latency_ms or scenarios.by_name:
                response, spec = await traffic.before_handler(request)
            if response is None:
                response = await handler(request)
                if spec:  # a scripted status or headers on the mock's own answer
                    response.set_status(spec.get("status", response.status))
                    response.headers.update(spec.get("headers", {}))
            if rate_headers:
                response.headers.update(rate_headers)
            return response
        finally:
            limits.in_flight -= 1

    def _journal(self, request: web.Request, api: str, request_id: str, env, body: bytes | None, response: web.StreamResponse | None,
                 started: float, fault: str | None) -> None:
        """The exchange into the journal, and its line into the access log."""
        sent = None if response is None else response._body  # bytes, or a payload aiohttp streams (not kept)
        if response is None:
            headers = {}
        else:  # a JSON answer's final headers as one bytes object, else the answer's own header mapping, kept as it is
            headers = (response.seal(request) if type(response) is JsonResponse else None) or response._headers
        entry = self.journal.record(
            time.time(), env.key if env else None, api, request.method, request.path, request.query_string, request_id,
            request.headers, body, None if response is None else response._status, headers,
            sent if isinstance(sent, bytes) else None, fault,
            (time.perf_counter() - started) * 1000)
        if logs.access is not None:
            logs.access.line(entry.time, entry.method, entry.path, entry.status, fault, entry.duration_ms, entry.env, entry.request_id)


async def _deliverer_context(app: web.Application):
    deliverer = app[DELIVERER]
    await deliverer.start()
    yield
    await deliverer.close(app[SETTINGS].webhook_shutdown_grace)


async def _state_context(app: web.Application):
    """--state FILE: saved every --state-interval seconds while running (when anything changed), and once more on the
    way out."""
    settings = app[SETTINGS]
    if not settings.state:
        yield
        return

    async def save_periodically():
        while True:
            await asyncio.sleep(settings.state_interval)
            try:
                await app[STATE].save()
            except FileProblem as exc:  # keep serving; the next save may succeed
                log.error("%s", exc)

    task = asyncio.get_running_loop().create_task(save_periodically())
    yield
    task.cancel()
    await app[STATE].save()
    log.info("state saved to %s", settings.state)


async def _record_context(app: web.Application):
    """--record FILE: the journal is written as a scenario when the server stops (a proxied API's real answers in it)."""
    yield
    if app[SETTINGS].record:
        recording.write(app[SETTINGS].record, recording.scenario_from_journal(app[JOURNAL].query(), replayed=app[proxy.UPSTREAMS]))


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[CORS] = Cors(settings.cors_origins)
    app[SCHEMAS] = schemas = Schemas(strict=settings.strict)
    loaded = fixtures.load(settings.fixtures, schemas)
    for i, hook in enumerate(loaded["frigade"]["webhooks"]):
        try:
            check_target(hook["url"], settings.webhook_allow, f"frigade.webhooks[{i}].url", own=(settings.host, settings.port))
        except ApiError as exc:
            raise DocumentError(f"{settings.fixtures}: {exc.message}") from None
    try:
        app[ENVIRONMENTS] = Environments(settings.seed, loaded, schemas, settings.api_keys)
    except ApiError as exc:  # a fixture the API's own rules refuse, e.g. a flow id the generated flows already use
        raise DocumentError(f"{settings.fixtures or fixtures.BUILTIN}: {exc.message}") from None
    for listing in userflow.LISTINGS.values():
        listing.default_index(app[ENVIRONMENTS].userflow)
    app[ENVIRONMENTS].settle()
    if settings.state:
        app[STATE] = state.StateFile(settings.state, app[ENVIRONMENTS], state.seed_identity(settings.seed, loaded))
        app[STATE].load()
    app[JOURNAL] = Journal(settings.journal_size, settings.journal_bytes)
    proxy.setup(app)
    app[DELIVERER] = Deliverer(retry_policies(settings), Budgets(settings.webhook_queue_bytes, settings.webhook_log_size,
                                                                 settings.webhook_log_bytes, settings.webhook_reply_bytes))
    app[SCENARIOS] = recording.load_scenarios(settings.scenarios, schemas)
    app[LIMITS] = Limits(parse_rate(settings.rate_limit) if settings.rate_limit else None, settings.concurrency_limit)
    app.cleanup_ctx.append(_deliverer_context)
    app.cleanup_ctx.append(_record_context)
    app.cleanup_ctx.append(_state_context)
    app.add_routes(control.routes())
    app.add_routes(operations.routes(userflow.OPERATIONS + frigade.OPERATIONS))
    app._handle = Pipeline(app)  # every request goes through the pipeline (see Pipeline)
    return app
