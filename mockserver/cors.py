"""CORS, for Frigade's browser SDKs on another origin than the API.

The Frigade API answers preflights before any key check (a preflight carries no key) and puts
Access-Control-Allow-Origin on every answer, errors included. The Userflow API is for servers and sends
no CORS headers unless --cors-origin asks for them. The control API never does.
"""
from __future__ import annotations

import re

from aiohttp import web

from mockserver.errors import Forbidden

METHODS = "GET, POST, PUT, PATCH, DELETE"
# what the SDKs send (authorization, content-type, x-frigade-sdk-version, x-frigade-sdk-platform) and Userflow's own
ALLOWED_HEADERS = ("authorization", "content-type", "userflow-version", "x-frigade-sdk-version", "x-frigade-sdk-platform")
EXPOSED = "X-Request-Id, Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset"
MAX_AGE = "600"  # seconds a browser may reuse a preflight's answer
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


class Cors:
    def __init__(self, origins: tuple[str, ...]):
        self.origins = frozenset(origins)  # empty: the defaults (any origin for Frigade, none for Userflow)
        # the APIs that answer preflights and may put CORS headers on an answer (the others need no look at a request)
        self.apis = frozenset(api for api in ("userflow", "frigade") if self.wanted(api))

    def allowed(self, api: str, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin a request from `origin` to `api` gets, or None for none."""
        if api == "control":
            return None
        if not self.origins:
            return "*" if api == "frigade" else None
        if "*" in self.origins:
            return "*"
        return origin if origin in self.origins else None

    def wanted(self, api: str) -> bool:
        """Whether this API answers preflights at all."""
        return api == "frigade" or (api == "userflow" and bool(self.origins))

    @staticmethod
    def is_preflight(request: web.Request) -> bool:
        return request.method == "OPTIONS" and "Origin" in request.headers and "Access-Control-Request-Method" in request.headers

    def preflight(self, request: web.Request, api: str) -> web.Response:
        """204 with what the browser may send; an origin --cors-origin leaves out is refused (403) in the API's format."""
        origin = request.headers["Origin"]
        allow = self.allowed(api, origin)
        if allow is None:
            raise Forbidden(f"CORS: origin {origin!r} is not allowed (--cors-origin {' '.join(sorted(self.origins))})")
        requested = [h.strip().lower() for h in request.headers.get("Access-Control-Request-Headers", "").split(",") if h.strip()]
        headers = list(dict.fromkeys([*ALLOWED_HEADERS, *(h for h in requested if TOKEN.match(h))]))
        return web.Response(status=204, headers={"Access-Control-Allow-Methods": METHODS, "Access-Control-Allow-Headers": ", ".join(headers),
                                                 "Access-Control-Max-Age": MAX_AGE})

    def decorate(self, request: web.Request, api: str, response: web.StreamResponse) -> None:
        """The CORS headers of any answer of `api`, errors and preflights included."""
        allow = self.allowed(api, request.headers.get("Origin"))
        if allow is None:
            return
        response.headers["Access-Control-Allow-Origin"] = allow
        response.headers["Access-Control-Expose-Headers"] = EXPOSED
        if allow != "*":
            response.headers["Vary"] = "Origin"
