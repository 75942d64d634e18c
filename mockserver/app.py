"""create_app(settings): both APIs and the control API behind one request pipeline.

Pipeline per request: request id -> the API's gate (key -> environment, version, Accept, route) ->
handler (for an API in proxy mode: the key only, then the upstream, see proxy.py); every raised error
becomes that API's own error body here, the notifications a request caused go to the deliverer, and
every API request lands in the journal.
"""
from __future__ import annotations

import asyncio
import functools
import hmac
import itertools
import logging
import secrets
import time
from http import HTTPStatus

from aiohttp import hdrs, web
from aiohttp.http_exceptions import ContentEncodingError, TransferEncodingError

from mockserver import control, fixtures, logs
from mockserver.environments import Environments
from mockserver.errors import (ApiError, Forbidden, HeadersTooLarge, InternalError, InvalidApiKey, InvalidApiVersion, InvalidRequest,
                               MethodNotAllowed, NotAcceptable, NotFound, RequestTimeout, RequestTooLarge, UriTooLong)
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
from mockserver.wire import is_json, respond

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
_PROCESS = secrets.token_hex(6)
REQUEST_IDS = (f"req_{_PROCESS}{n:08x}" for n in itertools.count(1))


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


def _route_error(request: web.Request) -> web.HTTPException | None:
    return request.match_info.http_exception


def _gate_userflow(request: web.Request) -> None:
    """Everything a Userflow request must pass before its handler runs."""
    request[ENV] = request.app[ENVIRONMENTS].authorize(_bearer(request))
    version = request.headers.get("Userflow-Version")
    if version is not None and version != USERFLOW_VERSION:
        raise InvalidApiVersion(f"Userflow-Version: unknown API version {version!r}; the only version is {USERFLOW_VERSION}")
    accept = request.headers.get("Accept", "").strip()
    if accept and not accepts_json(accept):
        raise NotAcceptable(f"This API responds with application/json only; Accept was {accept!r}")
    route_error = _route_error(request)
    if isinstance(route_error, web.HTTPMethodNotAllowed):
        allowed = ", ".join(sorted(route_error.allowed_methods))
        raise MethodNotAllowed(f"{request.method} is not allowed on {request.path}; allowed: {allowed}", {"Allow": allowed})
    if route_error is not None:
        raise NotFound(f"Unrecognized request URL ({request.method} {request.path})")


def _gate_frigade(request: web.Request) -> None:
    """Frigade: key -> environment; public keys only on /v1/public/*; unknown routes as NestJS answers them."""
    request[ENV], request[FRIGADE_PRIVATE] = request.app[ENVIRONMENTS].authorize_frigade(_bearer(request))
    if not request[FRIGADE_PRIVATE] and not request.path.startswith("/v1/public/"):
        raise Forbidden("Forbidden resource")
    if _route_error(request) is not None:
        raise NotFound(f"Cannot {request.method} {request.path}")


def _gate_proxied(request: web.Request) -> None:
    """An API in proxy mode: the key names the environment (for the journal, scenarios and limits); everything else is
    the upstream's to judge."""
    environments = request.app[ENVIRONMENTS]
    if request[API] == "frigade":
        request[ENV], request[FRIGADE_PRIVATE] = environments.authorize_frigade(_bearer(request))
    else:
        request[ENV] = environments.authorize(_bearer(request))


OPEN_CONTROL_PATHS = ("/__mock/health", "/__mock/")  # health checks, and the inspector page (it holds no data)


def _has_admin_token(request: web.Request) -> bool:
    token = request.app[SETTINGS].admin_token
    given = (_bearer(request) or "").encode("utf-8", "surrogateescape")  # header bytes that are not UTF-8 are no token
    return bool(token) and hmac.compare_digest(given, token.encode())


def _gate_control(request: web.Request) -> None:
    """The control API obeys only its own origin and callers that are not browsers (they send no Origin): a web page
    elsewhere cannot reset, load scenarios or read the journal, unless it holds the admin token. With --admin-token,
    everything but health and the inspector page needs 'Authorization: Bearer <token>'."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower() != f"{request.scheme}://{request.host}".lower() and not _has_admin_token(request):
        raise Forbidden(f"The control API answers only its own origin ({request.scheme}://{request.host}) and callers that are "
                        f"not web pages; this request came from {origin!r}")
    if request.app[SETTINGS].admin_token and request.path not in OPEN_CONTROL_PATHS and not _has_admin_token(request):
        raise InvalidApiKey("The control API needs 'Authorization: Bearer <admin token>' (the server runs with --admin-token)")


GATES = {"userflow": _gate_userflow, "frigade": _gate_frigade, "control": _gate_control}
RENDERERS = {"userflow": userflow_error, "frigade": frigade_error, "control": userflow_error}


def _translate(exc: web.HTTPException, request: web.Request) -> ApiError:
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return RequestTooLarge(f"Request body is larger than the {request.app[SETTINGS].max_body_bytes} bytes allowed")
    if isinstance(exc, web.HTTPNotFound):
        return NotFound(f"Unrecognized request URL ({request.method} {request.path})")
    error = ApiError(exc.reason)
    error.status, error.code = exc.status, exc.reason.lower().replace(" ", "_")
    return error


def _journal(request: web.Request, response: web.StreamResponse | None, started: float, fault: str | None) -> None:
    """The exchange into the journal, and its line into the access log."""
    env = request[ENV]
    sent = getattr(response, "body", None) if response is not None else None
    entry = request.app[JOURNAL].record(
        time.time(), env.key if env else None, request[API], request.method, request.path, request.query_string,
        request[REQUEST_ID], request.headers, request[BODY], None if response is None else response.status,
        {} if response is None else response.headers, sent if isinstance(sent, bytes) else None, fault,
        round((time.perf_counter() - started) * 1000, 3))
    if logs.access is not None:
        logs.access.line(entry.time, entry.method, entry.path, entry.status, fault, entry.duration_ms, entry.env, entry.request_id)


async def _answer(request: web.Request, handler) -> web.StreamResponse:
    """An API request past its gate: concurrency and rate limits, latency, scenarios, then the handler."""
    traffic.check_concurrency(request)
    limits = request.app[LIMITS]
    limits.in_flight += 1
    try:
        rate_headers = traffic.take_rate_limit(request)
        response = spec = None
        if traffic.wants_before_handler(request.app):
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


async def _admit(request: web.Request) -> None:
    """What every request must pass first, whatever its API: not one of this server's own webhook deliveries, a URL
    and headers within bounds, and its whole body read within --connection-timeout (a slow body is a 408, a corrupt
    compressed one a 400), so nothing after this waits on the client."""
    if request.headers.get(DELIVERY_HEADER) == request.app[DELIVERER].token:
        raise Forbidden("This request is a webhook delivery of this mockserver to itself, which is refused: "
                        "a webhook may not target the server that sends it")
    if len(request.raw_path) > MAX_URL_BYTES:
        raise UriTooLong(f"The URL is {len(request.raw_path):,} bytes long; at most {MAX_URL_BYTES:,} are accepted")
    if len(request.raw_headers) > MAX_HEADERS:
        raise HeadersTooLarge(f"The request has {len(request.raw_headers)} headers; at most {MAX_HEADERS} are accepted")
    if request.body_exists:
        timeout = request.app[SETTINGS].connection_timeout
        try:
            async with asyncio.timeout(timeout):
                request[BODY] = await request.read()
        except TimeoutError:
            raise RequestTimeout(f"The request body did not arrive within {timeout:g} s (--connection-timeout)") from None
        except (ContentEncodingError, TransferEncodingError, web.RequestPayloadError) as exc:
            problem = " ".join(str(getattr(exc.__cause__, "message", None) or exc).split()).removeprefix("400, message: ")
            raise InvalidRequest(f"The request body cannot be read: {problem} "
                                 f"(Content-Encoding: {request.headers.get('Content-Encoding', 'none')})") from None


async def _handle(app: web.Application, request: web.Request) -> web.StreamResponse:
    """What aiohttp's Application._handle does for an application without middlewares or sub-applications -- route,
    then the handler -- with the pipeline as that handler's one wrapper: no middleware machinery per request (a
    cached chain, a wrapper coroutine that sets the current app). Installed as the app's request handler."""
    match_info = await app.router.resolve(request)
    match_info.add_app(app)
    match_info.freeze()
    request._match_info = match_info
    if request.headers.get(hdrs.EXPECT):  # Expect: 100-continue, answered as aiohttp answers it
        response = await match_info.expect_handler(request)
        await request.writer.drain()
        if response is not None:
            return response
    return await pipeline(request, match_info.handler)


async def pipeline(request: web.Request, handler) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = request[REQUEST_ID] = next(REQUEST_IDS)
    request[ENV] = request[BODY] = request[DUE_WEBHOOKS] = None  # set once known: read without a lookup that can miss
    api = request[API] = api_of(request.path)
    cors = request.app[CORS]
    try:
        await _admit(request)
        if cors.is_preflight(request) and cors.wanted(api):  # before the key check: a preflight carries no key
            response = cors.preflight(request, api)
        else:
            proxied = api in request.app[proxy.UPSTREAMS]
            (_gate_proxied if proxied else GATES[api])(request)
            response = await handler(request) if api == "control" else await _answer(request, proxy.forward if proxied else handler)
    except traffic.Fault as fault:
        _journal(request, None, started, fault.kind)
        await traffic.perform_fault(request, fault)
        raise asyncio.CancelledError() from None  # nothing more is written to this connection
    except ApiError as exc:
        response = RENDERERS[api](exc, request_id)
    except web.HTTPException as exc:
        response = RENDERERS[api](_translate(exc, request), request_id)
    except Exception:
        log.exception("unexpected error in %s %s (request %s)", request.method, request.path, request_id)
        response = RENDERERS[api](InternalError("Something went wrong on the mock's end; the server log has the details"), request_id)
    response.headers[REQUEST_ID_HEADER] = request_id
    if request.body_exists and request[BODY] is None:  # its body never came in whole: closed after this, not lingering
        response.force_close()
    cors.decorate(request, api, response)
    if api != "control":
        if request[ENV] is not None:
            traffic.after_response(request)
        _journal(request, response, started, None)
    return response


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
    app._handle = functools.partial(_handle, app)  # every request goes through the pipeline (see _handle)
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
    return app
