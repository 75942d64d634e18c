"""The journal: every API request and the response given, newest last, bounded in entries and in bytes."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import NamedTuple

from mockserver.attributes import format_datetime
from mockserver.bounded import BoundedLog
from mockserver.jsontext import loads

MAX_BODY = 64 * 1024  # of each body, what is kept
ENTRY_COST = 512  # bytes an entry costs beside its bodies and headers, and HEADER_COST per header of a response kept as a
# mapping: estimates
HEADER_COST = 64


def _body(raw: bytes | None, size: int):
    if not raw:
        return None
    if size > len(raw):
        return {"truncated": True, "size": size, "text": raw.decode("utf-8", "replace")}
    try:
        return loads(raw.decode("utf-8"))  # what the API refused (NaN, lone surrogates) stays text, so the journal is valid JSON
    except ValueError:
        return raw.decode("utf-8", "replace")


def _headers(head: str) -> dict[str, str]:
    """The mapping a request's headers were, from the one string the journal keeps of them (see Journal.record; a name
    given twice: its first value, as dict() of the mapping gives)."""
    headers: dict[str, str] = {}
    for line in head.split("\r\n") if head else ():
        name, _, value = line.partition(": ")
        headers.setdefault(name, value)
    return headers


def _answered(headers) -> dict[str, str]:
    """An entry's response headers as a mapping: from the status line and headers written (wire.JsonResponse.seal),
    read as _headers() reads a request's, or the header mapping kept."""
    if not isinstance(headers, bytes):
        return dict(headers)
    return _headers(headers.decode("utf-8", "replace").rstrip("\r\n").partition("\r\n")[2])


class Entry(NamedTuple):
    """One exchange as it happened: the request's headers as one string (see Journal.record), the response's as the
    bytes written (JsonResponse.seal) or else its header mapping held by reference, bodies cut to MAX_BODY, a float
    time, the duration as measured (rounded to the microsecond when read)."""
    seq: int
    time: float
    env: str | None
    api: str
    method: str
    path: str
    query: str
    request_id: str
    request_headers: str
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
        # of each body, the first MAX_BODY bytes are kept (None: there was none) and its whole size
        request_size, response_size = len(request_body or b""), len(response_body or b"")
        request_kept = request_body[:MAX_BODY] if request_size else None
        response_kept = response_body[:MAX_BODY] if response_size else None
        # the request's headers as one string, a 'Name: value' line each: an entry lives for the next `size` requests,
        # and one string costs less to keep that long than a header mapping and its values (HTTP allows no CR or LF in
        # a name or value)
        head = "\r\n".join(map(": ".join, request_headers.items()))
        cost = (ENTRY_COST + len(head) + min(request_size, MAX_BODY) + min(response_size, MAX_BODY)
                + (len(response_headers) if isinstance(response_headers, bytes) else HEADER_COST * len(response_headers)))
        return self.log.add(Entry, cost, time, env, api, method, path, query, request_id, head, request_kept, request_size,
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
                "request": {"headers": _headers(e.request_headers), "body": _body(e.request_body, e.request_size)},
                "response": {"status": e.status, "headers": _answered(e.response_headers),
                             "body": _body(e.response_body, e.response_size)},
                "fault": e.fault, "duration_ms": round(e.duration_ms, 3), "seq": e.seq}

    def clear(self, env=None) -> int:
        return self.log.remove(lambda e: not env or e.env == env)
