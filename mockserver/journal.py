"""The journal: every API request and the response given, newest last, bounded in entries and in bytes."""
from __future__ import annotations

import itertools
from collections import deque
from datetime import datetime, timezone

from mockserver.attributes import format_datetime
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


class Journal:
    """Entries hold references (headers, bodies cut to MAX_BODY, a float time) and are decoded only when read. Past
    `size` entries or `budget` bytes, the oldest go first (counted in `dropped`)."""

    def __init__(self, size: int, budget: int):
        self.entries: deque[dict] = deque()
        self.size, self.budget = max(size, 1), budget
        self.bytes = 0
        self._ids = itertools.count(1)
        self.dropped = 0

    @staticmethod
    def _cost(entry: dict) -> int:
        request, response = entry["request"], entry["response"]
        return (ENTRY_COST + len(request["body"] or b"") + len(response["body"] or b"")
                + HEADER_COST * (len(request["headers"]) + len(response["headers"])))

    def record(self, entry: dict) -> None:
        entry["seq"] = next(self._ids)
        entry["cost"] = self._cost(entry)
        self.entries.append(entry)
        self.bytes += entry["cost"]
        while len(self.entries) > self.size or (self.bytes > self.budget and len(self.entries) > 1):
            self.bytes -= self.entries.popleft()["cost"]
            self.dropped += 1

    def query(self, env=None, method=None, path=None, since: int = 0, limit: int | None = None) -> list[dict]:
        """Matching entries after `since` (a seq), the newest `limit` of them, oldest first, bodies decoded."""
        found = [e for e in self.entries if e["seq"] > since and (not env or e["env"] == env)
                 and (not method or e["method"] == method.upper()) and (not path or e["path"] == path)]
        return [self._decoded(e) for e in (found[-limit:] if limit else found)]

    @staticmethod
    def _decoded(e: dict) -> dict:
        request, response = e["request"], e["response"]
        return {**{k: v for k, v in e.items() if k != "cost"}, "time": format_datetime(datetime.fromtimestamp(e["time"], timezone.utc)),
                "request": {"headers": dict(request["headers"]), "body": _body(request["body"], request["size"])},
                "response": {"status": response["status"], "headers": dict(response["headers"]),
                             "body": _body(response["body"], response["size"])}}

    def clear(self, env=None) -> int:
        before = len(self.entries)
        kept = [e for e in self.entries if env and e["env"] != env]
        self.entries = deque(kept)
        self.bytes = sum(e["cost"] for e in kept)
        return before - len(self.entries)
