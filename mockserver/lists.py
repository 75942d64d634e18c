"""One list mechanism for every resource: ordering indexes, cursor pagination and the list object.

Each order (e.g. `-attributes.name, created_at`) gets a sorted index of keys, built on first use and
kept up to date on every write, so a page costs O(log n + limit) however deep it is.
"""
from __future__ import annotations

import heapq
from bisect import bisect_right, insort
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import urlencode

from mockserver.attributes import MISSING
from mockserver.errors import InvalidRequest
from mockserver.layers import Changes, Forkable, Layer
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


def _tail(keys: list, cursor) -> Iterator:
    """The keys after `cursor` (None: all of them), in order, without copying the list."""
    start = 0 if cursor is None else bisect_right(keys, cursor)
    return (keys[i] for i in range(start, len(keys)))


class SortedIndex:
    """One ordering of a collection: its keys sorted, each ending with the object's id.

    An environment's index holds only its own entries and reads the seed's (`base`) through them: `hidden` are
    the seed's ids whose seed entry no longer applies there (changed or deleted), so a page merges two sorted
    runs and costs O(log n + limit) in a fork as in the seed.
    """

    def __init__(self, order: Order, objects, base: SortedIndex | None = None, hidden=()):
        self.order = order
        self.base = base
        self.hidden = set(hidden)
        self.key_of = {obj["id"]: order.key(obj) for obj in objects}
        self.keys = sorted(self.key_of.values())

    def lookup(self, object_id: str) -> tuple | None:
        key = self.key_of.get(object_id)
        if key is None and self.base is not None and object_id not in self.hidden:
            key = self.base.key_of.get(object_id)
        return key

    def put(self, obj: dict) -> None:
        self.remove(obj["id"])
        key = self.order.key(obj)
        self.key_of[obj["id"]] = key
        insort(self.keys, key)

    def remove(self, object_id: str) -> None:
        key = self.key_of.pop(object_id, None)
        if key is not None:
            del self.keys[bisect_right(self.keys, key) - 1]
        elif self.base is not None and object_id in self.base.key_of:
            self.hidden.add(object_id)

    def after(self, cursor) -> Iterator:
        """Every key after `cursor` (a key, or None for the start), in order."""
        own = _tail(self.keys, cursor)
        if self.base is None:
            return own
        hidden = self.hidden
        seeded = (key for key in _tail(self.base.keys, cursor) if key[-1] not in hidden)
        return heapq.merge(seeded, own) if self.keys else seeded


class Collection(Forkable):
    """Objects of one resource by id, in a Layer, with their ordering indexes (built on first use, kept up to date on
    every write). An environment's collection is a fork of the seed's and reads its indexes through its own."""

    def __init__(self, items: Layer | None = None, base: Collection | None = None):
        self.items = Layer() if items is None else items
        self.base = base
        self.indexes: dict[Order, SortedIndex] = {}

    def fork(self, changes: Changes) -> Collection:
        return Collection(self.items.fork(changes), self)

    def seal(self) -> None:
        self.items.seal()

    def __getstate__(self):
        return self.items, self.base  # indexes are rebuilt when first used

    def __setstate__(self, state):
        self.items, self.base = state
        self.indexes = {}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, object_id) -> bool:
        return object_id in self.items

    def get(self, object_id: str) -> dict | None:
        return self.items.get(object_id)

    def writable(self, object_id: str) -> dict | None:
        """The object as this environment's own, to change and then `put` back."""
        return self.items.writable(object_id)

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
        index = self.indexes.get(order)
        if index is None:
            if self.base is None:
                index = SortedIndex(order, self.items.values())
            else:
                layer = self.items
                changed = (layer.hidden or set()) | (layer.own.keys() & layer.base.keys())
                index = SortedIndex(order, layer.own.values(), self.base.index(order), changed)
            self.indexes[order] = index
        return index

    def page(self, page: Page, candidates=None, match=None) -> tuple[list[dict], bool]:
        """One page after the cursor: objects among `candidates` (ids) if given, passing `match` if given."""
        index = self.index(page.order)
        cursor = None
        if page.starting_after is not None:
            cursor = index.lookup(page.starting_after)
            if cursor is None:
                raise InvalidRequest(f"starting_after: no object with id {page.starting_after!r} in this list")
        if candidates is not None:
            keys = _tail(sorted(key for key in map(index.lookup, candidates) if key is not None), cursor)
        else:
            keys = index.after(cursor)
        found: list[dict] = []
        for key in keys:
            obj = self.items.get(key[-1])
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
