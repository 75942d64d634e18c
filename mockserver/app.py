"""create_app(settings): both APIs and the control API behind one request pipeline.

Pipeline per request: request id -> the API's gate (key -> environment, version, Accept, route) ->
handler; every raised error becomes that API's own error body here, the notifications a request
caused go to the deliverer, and every API request lands in the journal.
"""
from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timezone
from http import HTTPStatus

from aiohttp import web

from mockserver import control, fixtures
from mockserver.attributes import format_datetime
from mockserver.environments import Environments
from mockserver.errors import ApiError, Forbidden, InternalError, InvalidApiVersion, MethodNotAllowed, NotAcceptable, NotFound, RequestTooLarge
from mockserver.frigade import handlers as frigade
from mockserver.journal import Journal
from mockserver.keys import API, DELIVERER, ENV, ENVIRONMENTS, FRIGADE_PRIVATE, JOURNAL, SCHEMAS, SETTINGS
from mockserver.schemas import Schemas
from mockserver.settings import Settings
from mockserver.userflow import handlers as userflow
from mockserver.webhooks import Deliverer, RetryPolicy, frigade_signer, userflow_signer
from mockserver.wire import respond

log = logging.getLogger("mockserver")

USERFLOW_VERSION = "2020-01-03"
DOC_URL = "https://userflow.com/docs/api"
REQUEST_ID_HEADER = "X-Request-Id"
ACCEPTABLE = {"*/*", "application/*", "application/json"}


def api_of(path: str) -> str:
    if path.startswith("/__mock/"):
        return "control"
    return "frigade" if path == "/v1" or path.startswith("/v1/") else "userflow"


def userflow_error(error: ApiError, request_id: str) -> web.Response:
    body = {"error": {"code": error.code, "message": error.message, "doc_url": DOC_URL, "request_id": request_id}}
    return respond(body, status=error.status, headers=error.headers)


def frigade_error(error: ApiError, request_id: str) -> web.Response:
    """NestJS's default body; per-field problems as a list in `message`."""
    if error.status >= 500:
        return respond({"statusCode": error.status, "message": "Internal server error"}, status=error.status, headers=error.headers)
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
    if accept and not any(part.split(";")[0].strip().lower() in ACCEPTABLE for part in accept.split(",")):
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


GATES = {"userflow": _gate_userflow, "frigade": _gate_frigade, "control": lambda request: None}
RENDERERS = {"userflow": userflow_error, "frigade": frigade_error, "control": userflow_error}
SIGNERS = {"userflow": lambda item: userflow_signer(item["secret"]),
           "frigade": lambda item: frigade_signer(item["secret"], item["notification"]["data"])}


def _translate(exc: web.HTTPException, request: web.Request) -> ApiError:
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return RequestTooLarge(f"Request body is larger than the {request.app[SETTINGS].max_body_bytes} bytes allowed")
    if isinstance(exc, web.HTTPNotFound):
        return NotFound(f"Unrecognized request URL ({request.method} {request.path})")
    error = ApiError(exc.reason)
    error.status, error.code = exc.status, exc.reason.lower().replace(" ", "_")
    return error


async def _journal_entry(request: web.Request, response: web.StreamResponse, started: float) -> dict:
    try:
        body = await request.read()
    except web.HTTPException:  # too large to keep
        body = None
    env = request.get(ENV)
    return {
        "time": format_datetime(datetime.now(timezone.utc)), "env": env.key if env else None, "api": request[API],
        "method": request.method, "path": request.path, "query": request.query_string,
        "request_id": response.headers.get(REQUEST_ID_HEADER),
        "request": {"headers": dict(request.headers), "body": body},
        "response": {"status": response.status, "headers": dict(response.headers), "body": getattr(response, "body", None)},
        "duration_ms": round((time.perf_counter() - started) * 1000, 3),
    }


def _send_webhooks(request: web.Request) -> None:
    """Hand the notifications the request caused to the deliverer; they go out after the response."""
    env = request.get(ENV)
    if env is None:
        return
    for api, store in (("userflow", env.userflow), ("frigade", env.frigade)):
        for item in store.take_outbox():
            request.app[DELIVERER].submit(env.key, api, item, SIGNERS[api](item))


@web.middleware
async def pipeline(request: web.Request, handler) -> web.StreamResponse:
    started = time.perf_counter()
    request_id = "req_" + uuid.uuid4().hex[:20]
    api = request[API] = api_of(request.path)
    try:
        GATES[api](request)
        response = await handler(request)
    except ApiError as exc:
        response = RENDERERS[api](exc, request_id)
    except web.HTTPException as exc:
        response = RENDERERS[api](_translate(exc, request), request_id)
    except Exception:
        log.exception("unexpected error in %s %s (request %s)", request.method, request.path, request_id)
        response = RENDERERS[api](InternalError("Something went wrong on the mock's end; the server log has the details"), request_id)
    response.headers[REQUEST_ID_HEADER] = request_id
    if api != "control":
        _send_webhooks(request)
        request.app[JOURNAL].record(await _journal_entry(request, response, started))
    return response


async def _deliverer_context(app: web.Application):
    deliverer = app[DELIVERER]
    await deliverer.start()
    yield
    await deliverer.close(app[SETTINGS].webhook_shutdown_grace)


def create_app(settings: Settings) -> web.Application:
    app = web.Application(middlewares=[pipeline], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[SCHEMAS] = schemas = Schemas(strict=settings.strict)
    app[ENVIRONMENTS] = Environments(settings.seed, fixtures.load(settings.fixtures, schemas), schemas, settings.api_keys)
    app[JOURNAL] = Journal(settings.journal_size)
    app[DELIVERER] = Deliverer(RetryPolicy(settings.webhook_retry_delay, settings.webhook_retry_factor,
                                           settings.webhook_max_attempts, settings.webhook_timeout), settings.webhook_log_size)
    app.cleanup_ctx.append(_deliverer_context)
    app.add_routes(control.routes())
    app.add_routes(userflow.routes())
    app.add_routes(frigade.routes())
    return app
