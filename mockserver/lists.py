"""One list mechanism for every resource: ordering indexes, cursor pagination and the list object.

Each order (e.g. `-attributes.name, created_at`) gets a sorted index of keys, built on first use and
kept up to date on every write, so a page costs O(log n + limit) however deep it is.
"""
from __future__ import annotations

from bisect import bisect_right, insort
from dataclasses import dataclass
from urllib.parse import urlencode

from mockserver.attributes import MISSING
from mockserver.errors import InvalidRequest
from mockserver.query import Query

MAX_LIMIT = 100
DEFAULT_LIMIT = 10


def _value(obj: dict, path: tuple[str, ...]):
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return MISSING
        obj = obj[part]
    return obj


def _ascending(value) -> tuple:
    """Missing values and nulls sort last ascending (and so first descending); then booleans, numbers, strings.
    Strings collate without regard to case (alice, Bob, Zed), then by code point (Bob before bob)."""
    if value is MISSING or value is None:
        return (1,)
    if isinstance(value, bool):
        return (0, 0, int(value))
    if isinstance(value, (int, float)):
        return (0, 1, value)
    if isinstance(value, list):
        value = ",".join(map(str, value))
    value = str(value)
    return (0, 2, f"{value.casefold()}\0{value}")


def _descending(value) -> tuple:
    key = _ascending(value)
    if len(key) == 1:
        return (-1,)
    rank, v = key[1], key[2]
    if isinstance(v, str):
        # strings cannot be negated: complement their UTF-8 bytes (which sort as the code points do) and end with
        # 0xff, so a longer string sorts before its own prefix; compact, and compared in C
        v = bytes(255 - b for b in v.encode("utf-8")) + b"\xff"
        return (0, -rank, v)
    return (0, -rank, -v)


@dataclass(frozen=True)
class Order:
    fields: tuple[tuple[tuple[str, ...], bool], ...]  # (path, descending)

    def key(self, obj: dict) -> tuple:
        return tuple((_descending if desc else _ascending)(_value(obj, path)) for path, desc in self.fields) + (obj["id"],)

    @classmethod
    def parse(cls, values: list[str], allowed: tuple[str, ...], default: str) -> Order:
        values = values or [default]
        fields = []
        for value in values:
            name = value[1:] if value.startswith("-") else value
            if name not in allowed:
                raise InvalidRequest(f"order_by: cannot order by {name!r}; use one of {', '.join(allowed)} (prefix - for descending)")
            fields.append((tuple(name.split(".")), value.startswith("-")))
        return cls(tuple(fields))


class SortedIndex:
    def __init__(self, order: Order, objects):
        self.order = order
        self.key_of = {obj["id"]: order.key(obj) for obj in objects}
        self.keys = sorted(self.key_of.values())

    def put(self, obj: dict) -> None:
        self.remove(obj["id"])
        key = self.order.key(obj)
        self.key_of[obj["id"]] = key
        insort(self.keys, key)

    def remove(self, object_id: str) -> None:
        key = self.key_of.pop(object_id, None)
        if key is not None:
            del self.keys[bisect_right(self.keys, key) - 1]


class Collection:
    """Objects of one resource by id, with their ordering indexes."""

    def __init__(self):
        self.items: dict[str, dict] = {}
        self.indexes: dict[Order, SortedIndex] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, object_id) -> bool:
        return object_id in self.items

    def get(self, object_id: str) -> dict | None:
        return self.items.get(object_id)

    def values(self):
        return self.items.values()

    def put(self, obj: dict) -> None:
        """Insert or re-index after a change of any ordered field."""
        self.items[obj["id"]] = obj
        for index in self.indexes.values():
            index.put(obj)

    def remove(self, object_id: str) -> dict | None:
        for index in self.indexes.values():
            index.remove(object_id)
        return self.items.pop(object_id, None)

    def index(self, order: Order) -> SortedIndex:
        if order not in self.indexes:
            self.indexes[order] = SortedIndex(order, self.items.values())
        return self.indexes[order]

    def page(self, page: Page, candidates=None, match=None) -> tuple[list[dict], bool]:
        """One page after the cursor: objects among `candidates` (ids) if given, passing `match` if given."""
        index = self.index(page.order)
        if candidates is not None:
            keys = sorted(index.key_of[c] for c in candidates if c in index.key_of)
        else:
            keys = index.keys
        start = 0
        if page.starting_after is not None:
            cursor = index.key_of.get(page.starting_after)
            if cursor is None:
                raise InvalidRequest(f"starting_after: no object with id {page.starting_after!r} in this list")
            start = bisect_right(keys, cursor)
        found: list[dict] = []
        for position in range(start, len(keys)):
            obj = self.items[keys[position][-1]]
            if match is None or match(obj):
                if len(found) == page.limit:
                    return found, True
                found.append(obj)
        return found, False


@dataclass(frozen=True)
class Page:
    limit: int
    starting_after: str | None
    order: Order

    @classmethod
    def parse(cls, query: Query, order_fields: tuple[str, ...], default_order: str) -> Page:
        raw = query.one("limit")
        if raw is not None and not (raw.isascii() and raw.isdigit() and 1 <= int(raw) <= MAX_LIMIT):
            raise InvalidRequest(f"limit: must be a whole number between 1 and {MAX_LIMIT}, got {raw!r}")
        limit = DEFAULT_LIMIT if raw is None else int(raw)
        return cls(limit, query.one("starting_after") or None, Order.parse(query.many("order_by"), order_fields, default_order))


def list_object(path: str, query: Query, data: list, has_more: bool) -> dict:
    """The list object; `url` and `next_page_url` repeat the request's pagination, filter, order-by and expand
    parameters, so following them gives pages of the same shape."""
    params = query.items()
    url = path + (f"?{urlencode(params)}" if params else "")
    kept = [(k, v) for k, v in params if k != "starting_after"]
    cursor = data[-1]["id"] if data else query.one("starting_after")
    next_params = kept + ([("starting_after", cursor)] if cursor is not None else [])
    next_url = path + (f"?{urlencode(next_params)}" if next_params else "")
    return {"object": "list", "data": data, "has_more": has_more, "url": url, "next_page_url": next_url}
