"""Proxy mode (--upstream API=URL): an API's requests go to the real service and its answers come back unchanged;
each answer is checked against schemas/ (drift), and what is recorded has its credentials redacted.

The pipeline stays the mock's: request id, the key check (it names the environment the journal, scenarios and
limits use), CORS and the journal. Only the handler step changes: `forward` instead of the mock's handler.
"""
from __future__ import annotations

import asyncio
import re
import secrets
from datetime import datetime, timezone

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from mockserver.attributes import format_datetime
from mockserver.bounded import BoundedLog
from mockserver.errors import error_for_status
from mockserver.jsontext import dumps, loads
from mockserver.keys import API, BODY, REQUEST_ID, SCHEMAS, SETTINGS
from mockserver.openapi import APIS
from mockserver.schemas import describe, field_path, missing_property

HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"})  # and Proxy-*
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "content-encoding", "accept-encoding", "via"}
NOT_PASSED_BACK = HOP_BY_HOP | {"content-length", "content-encoding"}
AUTO_HEADERS = ("User-Agent", "Accept", "Content-Type")  # the client library adds none of its own
REPLAYED_HEADERS = frozenset({"retry-after", "location", "allow", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"})
OPERATIONS = {(api, op.method, op.path): op for api, ops in APIS.items() for op in ops}
ERROR_SCHEMAS = {"userflow": "userflow/error.json", "frigade": "frigade/error.json"}
LIST_SCHEMA = "userflow/list.json"
VALUE_CHARS = 200  # of a value shown in a drift entry
MESSAGE_CHARS = 500
REDACTED = "[redacted]"
SECRET_NAME = re.compile(r"(secret|token|password|apikey|privatekey|authorization|signature)$")
MIN_CREDENTIAL = 8  # shorter strings are not searched for in recorded text


class Drift:
    """Every way an upstream's answers broke schemas/, oldest first; past `size` entries the oldest go (counted)."""

    def __init__(self, size: int):
        self.log = BoundedLog(size)
        self.checked = self.drifted = 0

    @property
    def dropped(self) -> int:
        return self.log.dropped

    def add(self, request: web.Request, operation: str, status: int, violations: list[dict]) -> None:
        self.checked += 1
        self.drifted += bool(violations)
        moment = format_datetime(datetime.now(timezone.utc))
        for violation in violations:
            self.log.add(lambda seq: {"seq": seq, "time": moment, "api": request[API], "operation": operation,
                                      "method": request.method, "path": request.path, "status": status, **violation,
                                      "request_id": request[REQUEST_ID]})

    def query(self, since: int = 0, limit: int | None = None) -> list[dict]:
        return self.log.select(since=since, limit=limit)

    def clear(self) -> int:
        cleared = self.log.remove(lambda _: True)
        self.log.dropped = self.checked = self.drifted = 0
        return cleared


UPSTREAMS = web.AppKey("upstreams", dict)  # API -> base URL, for the proxied APIs
DRIFT = web.AppKey("drift", Drift)
SESSION = web.AppKey("upstream_session", aiohttp.ClientSession)
VIA = web.AppKey("via", str)  # this server's entry in Via: a request that already carries it has come round in a loop


def setup(app: web.Application) -> None:
    settings = app[SETTINGS]
    app[UPSTREAMS] = settings.upstream
    app[DRIFT] = Drift(settings.drift_size)
    app[VIA] = f"1.1 mockserver-{secrets.token_hex(6)}"
    if app[UPSTREAMS]:
        app.cleanup_ctx.append(_session_context)


async def _session_context(app: web.Application):
    """One client session for every forwarded request: no cookie jar (tenants share it), no proxy from the environment."""
    timeout = aiohttp.ClientTimeout(total=app[SETTINGS].upstream_timeout)
    async with aiohttp.ClientSession(timeout=timeout, cookie_jar=aiohttp.DummyCookieJar(), trust_env=False) as session:
        app[SESSION] = session
        yield


def _connection_named(headers) -> set[str]:
    return {name.strip().lower() for value in headers.getall("Connection", ()) for name in value.split(",")}


def _kept(headers, dropped: frozenset) -> CIMultiDict:
    """The end-to-end headers: without the hop-by-hop ones, Proxy-*, those Connection names, and `dropped`."""
    named = _connection_named(headers)
    return CIMultiDict((k, v) for k, v in headers.items()
                       if k.lower() not in dropped and k.lower() not in named and not k.lower().startswith("proxy-"))


async def forward(request: web.Request) -> web.Response:
    """The handler step of a proxied API: the request as the client sent it to the upstream, its answer back."""
    app, api = request.app, request[API]
    base, via = app[UPSTREAMS][api], app[VIA]
    if via in ", ".join(request.headers.getall("Via", ())):
        raise error_for_status(508, f"This request has already passed through this mockserver: --upstream {api}={base} leads back to it")
    headers = _kept(request.headers, NOT_FORWARDED)
    headers["Accept-Encoding"] = "identity"  # the body is checked and journaled as text
    headers["Via"] = ", ".join([*request.headers.getall("Via", ()), via])
    settings = app[SETTINGS]
    try:
        async with app[SESSION].request(request.method, URL(base + request.raw_path, encoded=True), headers=headers,
                                        data=request.get(BODY), allow_redirects=False, skip_auto_headers=AUTO_HEADERS) as upstream:
            body = await _read(upstream, settings.upstream_max_bytes, base)
            response = web.Response(status=upstream.status, reason=upstream.reason, body=body,
                                    headers=_kept(upstream.headers, NOT_PASSED_BACK))
    except TimeoutError:
        raise error_for_status(502, f"The upstream {base} did not answer within {settings.upstream_timeout:g} s "
                                    "(--upstream-timeout)") from None
    except aiohttp.ClientError as exc:
        raise error_for_status(502, f"The upstream {base} cannot be reached: {str(exc) or type(exc).__name__}") from None
    if "X-Request-Id" in response.headers:  # every answer carries this server's own; the upstream's is kept beside it
        response.headers["X-Upstream-Request-Id"] = response.headers.popone("X-Request-Id")
    operation = _operation(request)
    name = f"{operation.method} {operation.path}" if operation else f"{request.method} {request.path}"
    found = await asyncio.to_thread(violations, app[SCHEMAS], api, operation, name, response.status, body)
    app[DRIFT].add(request, name, response.status, found)
    return response


async def _read(upstream: aiohttp.ClientResponse, limit: int, base: str) -> bytes:
    body = bytearray()
    async for chunk in upstream.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > limit:
            raise error_for_status(502, f"The upstream {base} answered with more than {limit:,} bytes (--upstream-max-bytes)")
    return bytes(body)


def _operation(request: web.Request):
    """The operation the mock routes this request to, or None when it has none."""
    match = request.match_info
    if match.http_exception is not None:
        return None
    return OPERATIONS.get((request[API], request.method, match.route.resource.canonical))


def _clip(value):
    """A value as a drift entry shows it: itself, or its JSON text cut short when that is long."""
    text = dumps(value).decode("utf-8", "replace")
    return value if len(text) <= VALUE_CHARS else text[:VALUE_CHARS - 3] + "..."


def _entry(json_path: str, rule: str, value, message: str) -> dict:
    return {"json_path": json_path, "rule": rule, "value": value, "message": message[:MESSAGE_CHARS]}


def violations(schemas, api: str, operation, name: str, status: int, body: bytes) -> list[dict]:
    """How an upstream answer breaks the contract: a success the mock has no operation for, a success status other
    than the operation's, or a body its schema (the operation's, or the API's error schema for 4xx and 5xx) refuses."""
    if status < 400 and operation is None:
        return [_entry("$", "operation", None, f"the mock has no operation {name}; the upstream answered {status}")]
    found = []
    if status < 400 and status != operation.status:
        found.append(_entry("$", "status", status, f"the operation answers {operation.status}; the upstream answered {status}"))
    schema = ERROR_SCHEMAS[api] if status >= 400 else operation.response if 200 <= status < 300 else None
    if schema is None:
        return found
    try:
        value = loads(body.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included
        shown = _clip(body.decode("utf-8", "replace"))
        return found + [_entry("$", "json", shown, f"$: not a JSON body ({len(body):,} bytes) where schemas/{schema} describes one")]
    if operation is not None and operation.is_list and status < 400 and isinstance(value, dict) and isinstance(value.get("data"), list):
        found += _schema_problems(schemas, LIST_SCHEMA, {**value, "data": []}, "$")
        for i, item in enumerate(value["data"]):
            found += _schema_problems(schemas, schema, item, f"$.data[{i}]")
        return found
    return found + _schema_problems(schemas, schema, value, "$")


def _schema_problems(schemas, schema: str, instance, root: str) -> list[dict]:
    found = []
    for error in schemas.problems(schema, instance):
        parts, value, rule = list(error.absolute_path), _clip(redact(error.instance, set())), error.validator
        if rule == "required" and isinstance(error.instance, dict):
            parts.append(missing_property(error))
            value = None
        json_path = field_path([root, *parts])
        if rule == "required" or (parts and is_secret(parts[-1])):
            message = f"{json_path}: {'is required' if rule == 'required' else 'breaks its schema (value redacted)'} (rule: {rule})"
            value = value if rule == "required" else REDACTED
        else:
            message = describe(error, root)
        found.append(_entry(json_path, rule, value, message))
    return found


# -- what is recorded ---------------------------------------------------------------------------------------------------

def is_secret(name) -> bool:
    """A field or header named like a credential: secret, token, password, api key, private key, authorization,
    signature (case, '_' and '-' aside)."""
    return bool(SECRET_NAME.search(str(name).lower().replace("_", "").replace("-", "")))


def credentials(entries: list[dict]) -> set[str]:
    """The keys the journaled requests were sent with: never written into a recording, wherever they appear."""
    found = set()
    for entry in entries:
        header = next((v for k, v in entry["request"]["headers"].items() if k.lower() == "authorization"), "")
        token = header.partition(" ")[2].strip() or header.strip()
        if len(token) >= MIN_CREDENTIAL:
            found.add(token)
    return found


def redact(value, secrets_found: set[str]):
    """`value` with the values of secret-named fields and every known credential in text replaced by [redacted]."""
    if isinstance(value, dict):
        return {k: REDACTED if is_secret(k) and v is not None else redact(v, secrets_found) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, secrets_found) for v in value]
    if isinstance(value, str):
        for secret in secrets_found:
            value = value.replace(secret, REDACTED)
    return value


def recorded_response(entry: dict, secrets_found: set[str]) -> dict | None:
    """The answer a journaled exchange got, as a scenario step's scripted response: its fault, or its status, the
    headers a client acts on and its body (redacted). None when the journal kept only part of the body."""
    if entry["fault"]:
        return {"fault": entry["fault"]}
    answer = entry["response"]
    body = answer["body"]
    if isinstance(body, dict) and set(body) == {"truncated", "size", "text"} and body["truncated"] is True:
        return None
    out = {"status": answer["status"]}
    headers = {k: v for k, v in answer["headers"].items() if k.lower() in REPLAYED_HEADERS}
    if headers:
        out["headers"] = headers
    if body is not None:
        out["body"] = redact(body, secrets_found)
    return out


def report_lines(report: dict, url: str) -> list[str]:
    """GET /__mock/drift as `mockserver drift` prints it: one line per violation, then a summary."""
    lines = [f"{v['api']} {v['operation']} -> {v['status']}: {v['message']}" for v in report["violations"]]
    upstreams = ", ".join(f"{api} -> {base}" for api, base in report["upstreams"].items())
    dropped = f"; {report['dropped']:,} older ones dropped (--drift-size)" if report["dropped"] else ""
    if not report["upstreams"]:
        lines.append(f"{url} proxies no API (it runs without --upstream): nothing was checked")
    elif report["violations"] or report["dropped"]:
        lines.append(f"drift: {report['count'] + report['dropped']:,} violations in {report['drifted']:,} of {report['checked']:,} "
                     f"upstream answers checked ({upstreams}){dropped}")
    else:
        lines.append(f"no drift: {report['checked']:,} upstream answers checked against schemas/, none broke them ({upstreams})")
    return lines
