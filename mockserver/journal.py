"""The journal: every API request and the response given, newest last, bounded in memory."""
from __future__ import annotations

import itertools
import json
from collections import deque
from datetime import datetime, timezone

from mockserver.attributes import format_datetime

MAX_BODY = 64 * 1024


def _body(raw: bytes | None):
    if not raw:
        return None
    if len(raw) > MAX_BODY:
        return {"truncated": True, "size": len(raw), "text": raw[:MAX_BODY].decode("utf-8", "replace")}
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


class Journal:
    """Entries hold references (headers, raw bodies, a float time) and are decoded only when read."""

    def __init__(self, size: int):
        self.entries: deque[dict] = deque(maxlen=max(size, 1))
        self._ids = itertools.count(1)
        self.dropped = 0

    def record(self, entry: dict) -> None:
        if len(self.entries) == self.entries.maxlen:
            self.dropped += 1
        entry["seq"] = next(self._ids)
        self.entries.append(entry)

    def query(self, env=None, method=None, path=None) -> list[dict]:
        """Matching entries, oldest first, bodies decoded (they are kept as bytes until asked for)."""
        out = []
        for e in self.entries:
            if (env and e["env"] != env) or (method and e["method"] != method.upper()) or (path and e["path"] != path):
                continue
            out.append({**e, "time": format_datetime(datetime.fromtimestamp(e["time"], timezone.utc)),
                        "request": {"headers": dict(e["request"]["headers"]), "body": _body(e["request"]["body"])},
                        "response": {**e["response"], "headers": dict(e["response"]["headers"]), "body": _body(e["response"]["body"])}})
        return out

    def clear(self, env=None) -> int:
        before = len(self.entries)
        kept = [e for e in self.entries if env and e["env"] != env]
        self.entries.clear()
        self.entries.extend(kept)
        return before - len(self.entries)
