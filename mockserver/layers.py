"""Copy-on-write: every environment is a fork of the seed that holds only what it changed.

The seed is built once, through the stores' own rules, then frozen: its dictionaries, lists and sets
become read-only (a write to them raises, so no environment can change what the others see). Every
store keeps its state in `Layer`s; an environment's layer reads the seed's through its own changes:
what it sets lives in its own dict, what it deletes is hidden, and a seeded value it changes is first
copied (`writable`). So a new environment costs a few small objects, and its memory grows with what it
changes, not with the seed.
"""
from __future__ import annotations

from typing import Callable


class FrozenDict(dict):
    """A dict of the seed: read like any dict (JSON encoders and `dict(x)` see a dict), refuses every write."""
    __slots__ = ()

    def _refuse(self, *args, **kwargs):
        raise TypeError("seeded data is read-only: take the environment's own copy first (Layer.writable)")

    __setitem__ = __delitem__ = setdefault = pop = popitem = clear = update = __ior__ = _refuse

    def __reduce__(self):
        return FrozenDict, (dict(self),)

    def __deepcopy__(self, memo):
        return thaw(self)

    def __copy__(self):
        return dict(self)


class FrozenList(list):
    """A list of the seed: read like any list, refuses every write."""
    __slots__ = ()

    def _refuse(self, *args, **kwargs):
        raise TypeError("seeded data is read-only: take the environment's own copy first (Layer.writable)")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self):
        return FrozenList, (list(self),)

    def __deepcopy__(self, memo):
        return thaw(self)

    def __copy__(self):
        return list(self)


def freeze(value):
    """The value made read-only all the way down."""
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return FrozenList(freeze(v) for v in value)
    if isinstance(value, set):
        return frozenset(value)
    return value


def thaw(value):
    """A private, writable copy of a frozen value (anything not frozen is already private)."""
    if isinstance(value, FrozenDict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, FrozenList):
        return [thaw(v) for v in value]
    if isinstance(value, frozenset):
        return set(value)
    return value


class Forkable:
    """A container of a store's state: the seed seals it once seeded, and every environment forks it."""
    __slots__ = ()

    def seal(self) -> None:
        raise NotImplementedError

    def fork(self, changes: Changes) -> Forkable:
        raise NotImplementedError


class Seeded:
    """A store that can be the seed or a fork of it. A fork starts empty: each container is forked from the seed's the
    first time it is touched, so a new environment costs a few objects and its memory grows with what it uses."""

    def seal(self) -> None:
        """Seeding is done: every container becomes the read-only seed that environments fork."""
        for value in vars(self).values():
            if isinstance(value, (Forkable, Seeded)):
                value.seal()

    def fork(self, changes: Changes, **own):
        """A fork of this sealed store whose writes count in `changes`; `own` are attributes it must not share (its
        id source, its outbox)."""
        child = object.__new__(type(self))
        child.__dict__.update(_seed=self, _changes=changes, **own)
        return child

    def __getattr__(self, name: str):
        """Called for what a fork has not touched yet: the seed's container, forked now (or the seed's value)."""
        seed = self.__dict__.get("_seed")
        if seed is None or name.startswith("__"):
            raise AttributeError(name)
        value = getattr(seed, name)
        if isinstance(value, Forkable):
            value = value.fork(self._changes)
        elif isinstance(value, Seeded):
            raise AttributeError(f"{name}: a part of a store is forked by the store's own fork()")
        setattr(self, name, value)
        return value


class Changes:
    """How many writes an environment has made: what tells a save which environments changed."""
    __slots__ = ("count",)

    def __init__(self):
        self.count = 0


EMPTY = FrozenDict()
_MISSING = object()


class Layer(Forkable):
    """A mapping that reads `base` (the seed's frozen dict) through its own changes.

    `own` holds what this layer set; `hidden` the base keys it deleted. Iteration keeps dict order: base
    keys in place (with this layer's value where it set one), then keys new to this layer.
    """
    __slots__ = ("base", "own", "hidden", "changes")

    def __init__(self, base: dict = EMPTY, changes: Changes | None = None):
        self.base = base
        self.own: dict = {}
        self.hidden: set | None = None  # made on the first delete of a base key
        self.changes = changes or Changes()

    def fork(self, changes: Changes) -> Layer:
        """A new layer over this one's data, which is frozen for good: the seed's way of making an environment."""
        if self.base is not EMPTY or self.hidden:
            raise RuntimeError("only a sealed seed layer can be forked")
        return Layer(self.own, changes)

    def seal(self) -> None:
        """Freeze everything this layer holds: from now on it is a seed, read by its forks and written by none."""
        self.own = freeze(self.own)

    # -- reading --------------------------------------------------------------------------------------------------
    def get(self, key, default=None):
        value = self.own.get(key, _MISSING)
        if value is not _MISSING:
            return value
        if self.hidden and key in self.hidden:
            return default
        return self.base.get(key, default)

    def __getitem__(self, key):
        value = self.own.get(key, _MISSING)
        if value is _MISSING and not (self.hidden and key in self.hidden):
            value = self.base.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value

    def __contains__(self, key) -> bool:
        return key in self.own or (key in self.base and not (self.hidden and key in self.hidden))

    def __iter__(self):
        own, hidden = self.own, self.hidden or ()
        for key in self.base:
            if key not in hidden:
                yield key
        for key in own:
            if key not in self.base or key in hidden:
                yield key

    def __len__(self) -> int:
        hidden = self.hidden or ()
        if not self.own or not self.base:  # a seed, or a fork that only deleted: no overlap to count
            return len(self.base) - len(hidden) + len(self.own)
        return len(self.base) - len(hidden) + sum(1 for key in self.own if key not in self.base or key in hidden)

    def keys(self):
        return iter(self)

    def values(self):
        return (self[key] for key in self)

    def items(self):
        return ((key, self[key]) for key in self)

    def snapshot(self) -> list:
        """Every value, as a list made at once (in no particular order): what a scan that yields to the loop reads."""
        own, hidden = self.own, self.hidden
        if not own and not hidden:
            return list(self.base.values())
        skip = own.keys() | hidden if hidden else own.keys()
        found = [value for key, value in self.base.items() if key not in skip]
        found.extend(own.values())
        return found

    @property
    def sealed(self) -> bool:
        """A seed's layer: frozen, read by forks and written by none."""
        return isinstance(self.own, FrozenDict)

    # -- writing --------------------------------------------------------------------------------------------------
    def __setitem__(self, key, value) -> None:
        self.changes.count += 1
        self.own[key] = value

    def pop(self, key, default=_MISSING):
        """Remove and return the value at `key` (a base value is hidden, not touched)."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            if default is _MISSING:
                raise KeyError(key)
            return default
        self.changes.count += 1
        self.own.pop(key, None)
        if key in self.base:
            if self.hidden is None:
                self.hidden = set()
            self.hidden.add(key)
        return value

    def __delitem__(self, key) -> None:
        self.pop(key)

    def writable(self, key):
        """The value at `key` as this layer's own, copied from the base on its first write; None when there is none."""
        value = self.own.get(key, _MISSING)
        if value is not _MISSING:
            self.changes.count += 1
            return value
        value = self.get(key, _MISSING)
        if value is _MISSING:
            return None
        value = self.own[key] = thaw(value)
        self.changes.count += 1
        return value

    def mutable(self, key, make: Callable):
        """The value at `key` to change in place: this layer's own copy, or a new `make()` when there is none."""
        value = self.writable(key)
        if value is None:
            value = self.own[key] = make()
        return value

    # -- saving -----------------------------------------------------------------------------------------------------
    def __getstate__(self):
        return self.base, self.own, self.hidden, self.changes

    def __setstate__(self, state):
        self.base, self.own, self.hidden, self.changes = state
