"""The journal: every API request and the response given, newest last, bounded in entries and in bytes."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

from mockserver.attributes import format_datetime
from mockserver.bounded import BoundedLog
from mockserver.jsontext import loads

MAX_BODY = 64 * 1024  # of each body, what is kept
ENTRY_COST = 512  # bytes an entry costs beside its bodies, and HEADER_COST per header: estimates, not measurements
HEADER_COST = 64


def clip(raw: bytes | None) -> tuple[bytes | None, int]:
    """(what is kept of a body, its whole size)."""
    if not raw:
        return None, 0
    return raw[:MAX_BODY], len(raw)


def _body(raw: bytes | None, size: int):
    if not raw:
        return None
    if size > len(raw):
        return {"truncated": True, "size": size, "text": raw.decode("utf-8", "replace")}
    try:
        return loads(raw.decode("utf-8"))  # what the API refused (NaN, lone surrogates) stays text, so the journal is valid JSON
    except ValueError:
        return raw.decode("utf-8", "replace")


class Entry(NamedTuple):
    """One exchange as it happened, held by reference (headers, bodies cut to MAX_BODY, a float time)."""
    seq: int
    time: float
    env: str | None
    api: str
    method: str
    path: str
    query: str
    request_id: str
    request_headers: object
    request_body: bytes | None
    request_size: int
    status: int | None
    response_headers: object
    response_body: bytes | None
    response_size: int
    fault: str | None
    duration_ms: float


class Journal:
    """Entries are decoded only when read. Past `size` entries or `budget` bytes, the oldest go first (counted in
    `dropped`)."""

    def __init__(self, size: int, budget: int):
        self.log = BoundedLog(size, budget)

    @property
    def dropped(self) -> int:
        return self.log.dropped

    def record(self, time: float, env, api, method, path, query, request_id, request_headers, request_body: bytes | None,
               response_status, response_headers, response_body: bytes | None, fault, duration_ms: float) -> Entry:
        request_kept, request_size = clip(request_body)
        response_kept, response_size = clip(response_body)
        cost = (ENTRY_COST + len(request_kept or b"") + len(response_kept or b"")
                + HEADER_COST * (len(request_headers) + len(response_headers)))
        return self.log.add(Entry, cost, time, env, api, method, path, query, request_id, request_headers, request_kept, request_size,
                            response_status, response_headers, response_kept, response_size, fault, duration_ms)

    def query(self, env=None, method=None, path=None, since: int = 0, limit: int | None = None) -> list[dict]:
        """Matching entries after `since` (a seq), the newest `limit` of them, oldest first, bodies decoded."""
        method = method.upper() if method else None
        found = self.log.select(lambda e: (not env or e.env == env) and (not method or e.method == method)
                                and (not path or e.path == path), since, limit)
        return [self._decoded(e) for e in found]

    @staticmethod
    def _decoded(e: Entry) -> dict:
        return {"time": format_datetime(datetime.fromtimestamp(e.time, timezone.utc)), "env": e.env, "api": e.api,
                "method": e.method, "path": e.path, "query": e.query, "request_id": e.request_id,
                "request": {"headers": dict(e.request_headers), "body": _body(e.request_body, e.request_size)},
                "response": {"status": e.status, "headers": dict(e.response_headers),
                             "body": _body(e.response_body, e.response_size)},
                "fault": e.fault, "duration_ms": e.duration_ms, "seq": e.seq}

    def clear(self, env=None) -> int:
        return self.log.remove(lambda e: not env or e.env == env)
