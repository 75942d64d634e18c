"""The HTTP server under the app: aiohttp's, with what a shared sidecar needs (DESIGN section 11).

- An idle connection, or one still sending its request's headers, is closed after --connection-timeout
  (aiohttp's keep-alive timer runs from the connection's start and is not pushed back by a trickle of
  bytes); a body slower than that is a 408 (app.py reads every body within it).
- Past --max-connections open connections, a new one gets a 503 and is closed at once, so the server
  never runs out of file descriptors and keeps answering the connections it has; the process's own limit
  is raised to its hard limit at start.
- Requests the HTTP parser refuses before the app sees them (a request line or header too long, too many
  headers, garbage) get a JSON error, not aiohttp's text/plain page, and are logged without a traceback.
"""
from __future__ import annotations

import logging
import resource

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from mockserver.jsontext import dumps

log = logging.getLogger("mockserver.server")

# The app's own limits (app.py: 414 and 431 in each API's format) are below the parser's, which only catch the absurd.
MAX_URL_BYTES = 8190
MAX_HEADERS = 128
PARSER_LIMITS = {"max_line_size": 65536, "max_field_size": 65536, "max_headers": 1024}
FD_RESERVE = 64  # descriptors kept for webhook deliveries, files and the listening socket


def raise_fd_limit() -> int:
    """The soft limit on open files raised to the hard one; returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def _error_response(status: int, code: str, message: str) -> bytes:
    body = dumps({"error": {"code": code, "message": message, "doc_url": "https://userflow.com/docs/api", "request_id": None}})
    reason = {400: "Bad Request", 431: "Request Header Fields Too Large", 503: "Service Unavailable"}.get(status, "Error")
    return (f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\nRetry-After: 1\r\n\r\n").encode() + body


class Connection(RequestHandler):
    """aiohttp's handler of one connection, refusing connections past the cap and answering parser errors in JSON."""
    refused = False

    def connection_made(self, transport) -> None:
        manager = self._manager
        if manager is not None and len(manager.connections) >= manager.max_connections:
            self.refused = True
            transport.write(_error_response(503, "service_unavailable", f"This server has {manager.max_connections} "
                                            "connections open, its limit (--max-connections); try again shortly"))
            transport.close()
            log.warning("refused a connection: %d are open (--max-connections)", manager.max_connections)
            return
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self.refused:
            super().data_received(data)

    def connection_lost(self, exc) -> None:
        if not self.refused:
            super().connection_lost(exc)

    def handle_error(self, request, status: int = 500, exc=None, message=None) -> web.StreamResponse:
        """A request the parser refused (the app never saw it, so its API is unknown): Userflow's error envelope."""
        log.warning("refused a request the HTTP parser could not read (%s): %s", status, message or exc)
        code = "invalid_request" if status == 400 else "internal_error" if status >= 500 else "request_header_fields_too_large"
        text = f"The HTTP request could not be read: {message or type(exc).__name__}" if status < 500 else "Internal server error"
        response = web.Response(status=status, body=dumps({"error": {"code": code, "message": text,
                                                                     "doc_url": "https://userflow.com/docs/api", "request_id": None}}),
                                content_type="application/json")
        response.force_close()
        return response


class SharedServer(Server):
    max_connections = 1024

    def __call__(self) -> Connection:
        return Connection(self, loop=self._loop, **self._kwargs)


class Runner(web.AppRunner):
    """The app runner both `mockserver serve` and the pytest plugin use."""

    def __init__(self, app: web.Application, settings):
        super().__init__(app, access_log=None, handle_signals=False, keepalive_timeout=settings.connection_timeout,
                         lingering_time=0, **PARSER_LIMITS)  # every body is read whole or the connection is closed
        self.max_connections = min(settings.max_connections, raise_fd_limit() - FD_RESERVE)

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = SharedServer  # aiohttp has no hook for the connection class: this is the one place it is set
        server.max_connections = self.max_connections
        return server
