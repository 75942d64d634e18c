"""One list mechanism for every resource: ordering indexes, cursor pagination and the list object.

Each order (e.g. `-attributes.name, created_at`) gets a sorted index of keys, built on first use and
kept up to date on every write, so a page costs O(log n + limit) however deep it is.
"""
from __future__ import annotations

import asyncio
import functools
import gc
import heapq
import math
from bisect import bisect_right, insort
from collections.abc import Set as AbstractSet
from itertools import islice
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import quote_plus, urlencode

from mockserver.attributes import MISSING
from mockserver.errors import InvalidRequest
from mockserver.layers import Changes, Forkable, Layer
from mockserver.query import Query

MAX_LIMIT = 100
DEFAULT_LIMIT = 10
# objects handled between two yields to the event loop (a few milliseconds of work each): keys made for an index being
# built, and objects a condition scan tests
STEP, SCAN_STEP = 512, 8192


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
        v = v.encode("utf-8").translate(_COMPLEMENT) + b"\xff"
        return (0, -rank, v)
    return (0, -rank, -v)


_COMPLEMENT = bytes(range(255, -1, -1))  # byte b -> 255 - b


@dataclass(frozen=True)
class Order:
    fields: tuple[tuple[tuple[str, ...], bool], ...]  # (path, descending)

    def key(self, obj: dict) -> tuple:
        return tuple((_descending if desc else _ascending)(_value(obj, path)) for path, desc in self.fields) + (obj["id"],)

    @classmethod
    def parse(cls, values: list[str], allowed: tuple[str, ...], default: str) -> Order:
        return _order(cls, tuple(values or [default]), allowed)


@functools.lru_cache(maxsize=256)  # a list asks for the same few orders again and again
def _order(cls, values: tuple[str, ...], allowed: tuple[str, ...]) -> Order:
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

    @classmethod
    async def built_in_steps(cls, order: Order, objects: list) -> SortedIndex:
        """The index of `objects` (a seed's: they do not change meanwhile), built a step at a time so that no request
        waits behind it: keys made and sorted in runs of STEP, the runs merged, yielding to the loop in between. The
        collector is off meanwhile (keys hold no cycles; it would only walk them, in pauses of 20 ms and more), and the
        index, which lives as long as the seed, is then left out of every later collection, as the seed is."""
        collecting = gc.isenabled()
        gc.disable()
        try:
            return await cls._build(order, objects)
        finally:
            if collecting:
                gc.enable()
            gc.freeze()

    @classmethod
    async def _build(cls, order: Order, objects: list) -> SortedIndex:
        runs = []
        for start in range(0, len(objects), STEP):
            runs.append(sorted(map(order.key, objects[start:start + STEP])))
            await asyncio.sleep(0)
        merged, keys = heapq.merge(*runs), []
        while len(keys) < len(objects):
            keys.extend(islice(merged, STEP * 4))
            await asyncio.sleep(0)
        index = cls(order, ())
        index.keys = keys
        for start in range(0, len(keys), STEP * 4):
            index.key_of.update((key[-1], key) for key in keys[start:start + STEP * 4])
            await asyncio.sleep(0)
        return index

    def __len__(self) -> int:
        """How many objects the index orders (the seed's hidden ones are the ids this environment changed or deleted)."""
        return len(self.keys) + (len(self.base.keys) - len(self.hidden) if self.base is not None else 0)

    def lookup(self, object_id: str) -> tuple | None:
        key = self.key_of.get(object_id)
        if key is None and self.base is not None and object_id not in self.hidden:
            key = self.base.key_of.get(object_id)
        return key

    def put(self, obj: dict) -> None:
        self.remove(obj["id"])
        key = self.order.key(obj)
        self.key_of[obj["id"]] = key
        keys = self.keys
        if not keys or key >= keys[-1]:  # the last in order (a new object in created_at order): one comparison
            keys.append(key)
        else:
            insort(keys, key)

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
        self.building: dict = {}  # Order -> the task building its index (a seed's, see ready())

    def fork(self, changes: Changes) -> Collection:
        return Collection(self.items.fork(changes), self)

    def seal(self) -> None:
        self.items.seal()

    def __getstate__(self):
        return self.items, self.base  # indexes are rebuilt when first used

    def __setstate__(self, state):
        self.items, self.base = state
        self.indexes, self.building = {}, {}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, object_id) -> bool:
        return object_id in self.items

    def get(self, object_id: str) -> dict | None:
        return self.items.get(object_id)

    def lookup(self):
        """get(), for a loop over many ids: the layer's own lookup, without a call of this collection's per id."""
        return self.items.get

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

    async def ready(self, order: Order) -> None:
        """Make sure the index of `order` exists before a page is read from it, without holding up the loop: the first
        use of an order in a large seed (300 ms at 100,000 users) is built in steps, once, whoever asks meanwhile."""
        if order in self.indexes:
            return
        seed = self.base if self.base is not None else self
        if order not in seed.indexes and len(seed.items) > STEP and seed.items.sealed:
            building = seed.building.get(order)
            if building is None:
                building = seed.building[order] = asyncio.ensure_future(SortedIndex.built_in_steps(order, seed.items.snapshot()))
            index = await asyncio.shield(building)
            seed.indexes.setdefault(order, index)
            seed.building.pop(order, None)
        self.index(order)

    async def scan(self, test) -> list:
        """The ids of every object passing `test`, in steps that let other requests in: a condition over 100,000 users
        never holds the loop for more than a few milliseconds at a time."""
        objects, found = self.items.snapshot(), []
        for start in range(0, len(objects), SCAN_STEP):
            found.extend([obj["id"] for obj in objects[start:start + SCAN_STEP] if test(obj)])
            if start + SCAN_STEP < len(objects):
                await asyncio.sleep(0)
        return found

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
        if candidates is None:
            keys = index.after(cursor)
        elif _sorting_is_cheaper(len(candidates), len(index), page.limit):
            keys = _tail(sorted(key for key in map(index.lookup, candidates) if key is not None), cursor)
        else:  # many candidates: walking the index, in order, finds a page of them sooner than sorting them all
            wanted = candidates if isinstance(candidates, AbstractSet) else set(candidates)  # a set, or a dict's keys
            keys = (key for key in index.after(cursor) if key[-1] in wanted)
        found: list[dict] = []
        for key in keys:
            obj = self.items.get(key[-1])
            if match is None or match(obj):
                if len(found) == page.limit:
                    return found, True
                found.append(obj)
        return found, False


def _sorting_is_cheaper(candidates: int, total: int, limit: int) -> bool:
    """Sorting c candidates costs about c·log c; walking the index until a page of them turns up, about
    limit·total/c steps (when they are spread through it as group members and condition matches are). The cheaper
    keeps a filtered page flat from 1,000 to 100,000 objects."""
    return candidates * math.log2(candidates + 2) <= 4 * (limit + 1) * total / max(candidates, 1)


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


@functools.lru_cache(maxsize=256)  # of parameters of at most a URL's 8 KiB: 4 MiB at most
def _encoded(name: str, value: str) -> str:
    """name=value as a URL's query has it; remembered, as the same parameters come again and again (paging through a
    condition's matches repeats it, and a condition can be long)."""
    return urlencode(((name, value),))


def list_object(path: str, query: Query, data: list, has_more: bool) -> dict:
    """The list object; `url` and `next_page_url` repeat the request's pagination, filter, order-by and expand
    parameters, so following them gives pages of the same shape."""
    params = [(k, _encoded(k, v)) for k, v in query.items()]
    url = path + ("?" + "&".join(pair for _, pair in params) if params else "")
    cursor = data[-1]["id"] if data else query.one("starting_after")
    next_params = [pair for k, pair in params if k != "starting_after"]
    next_params += [f"starting_after={quote_plus(cursor)}"] if cursor is not None else []  # as urlencode writes it
    next_url = path + ("?" + "&".join(next_params) if next_params else "")
    return {"object": "list", "data": data, "has_more": has_more, "url": url, "next_page_url": next_url}
