"""API key -> environment: created lazily from the seeded template, isolated, resettable.

A Userflow key `ak_<alnum>` is an environment of its own; the Frigade keys `api_public_<id>` and
`api_private_<id>` share the environment `<id>`. Each environment holds both APIs' stores.
"""
from __future__ import annotations

import gc
import hashlib
import re

from mockserver.errors import Forbidden, InvalidApiKey
from mockserver.frigade import seed as frigade_seed
from mockserver.layers import Changes
from mockserver.frigade.store import FrigadeStore
from mockserver.userflow import seed as userflow_seed
from mockserver.userflow.store import UserflowStore

USERFLOW_KEY = re.compile(r"^ak_[A-Za-z0-9]{1,200}$")
FRIGADE_KEY = re.compile(r"^api_(public|private)_([A-Za-z0-9_-]{1,200})$")


GC_YOUNG = 50_000  # allocations between two young collections (Python's default: 700)


class Environment:
    def __init__(self, key: str, userflow: UserflowStore, frigade: FrigadeStore, changes: Changes):
        self.key = key
        self.userflow = userflow
        self.frigade = frigade
        self.changes = changes  # every write to either store counts here


def _derived(*parts) -> int:
    """A number that depends on every part and on nothing else: reproducible on every run and machine."""
    return int.from_bytes(hashlib.sha256("\0".join(map(str, parts)).encode()).digest()[:8], "big")


def _shown(key: str) -> str:
    return key if len(key) <= 40 else key[:37] + "..."


class Environments:
    """Every environment is a copy-on-write fork of one seed, built once: a new key costs a few small objects, and an
    environment's memory grows with what it changes (see layers.py)."""

    def __init__(self, seed_value: int, fixtures: dict, schemas, allowed_keys: tuple[str, ...] = ()):
        self.allowed = set(allowed_keys)
        self.seed = seed_value
        self.userflow = userflow_seed.build(seed_value, fixtures)
        self.frigade = frigade_seed.build(seed_value, fixtures["frigade"], schemas)
        self.userflow.seal()
        self.frigade.seal()
        self.counts = {"users": len(self.userflow.users), "groups": len(self.userflow.groups), "events": len(self.userflow.events),
                       "content": len(self.userflow.content), "content sessions": len(self.userflow.sessions),
                       "Frigade flows": len(self.frigade.flows), "Frigade users": len(self.frigade.users)}
        self._envs: dict[str, Environment] = {}
        # Counts resets. An environment's ids derive from it as it was when the environment was made, so an environment
        # made again after a reset never repeats an id (one number, so reset environments leave nothing behind).
        self.generation = 0

    def settle(self) -> None:
        """Seeding is over: its garbage goes now, then the seed, which lives as long as the server, is left out of every
        later collection, and collections come less often (with 100,000 users a full one stalled requests for 200 ms;
        what a request leaves behind is short-lived and freed by reference counting)."""
        gc.collect()
        gc.freeze()
        gc.set_threshold(GC_YOUNG, 20, 100)

    def keys(self) -> list[str]:
        return list(self._envs)

    def all(self) -> dict[str, Environment]:
        return dict(self._envs)

    def restore(self, saved: dict[str, Environment], generation: int) -> None:
        """Environments as --state saved them."""
        self._envs = dict(saved)
        self.generation = generation

    def authorize(self, key: str | None) -> Environment:
        """The environment of a Userflow key, or 401."""
        env = self._envs.get(key)
        if env is not None:  # its key passed these checks when it was made
            return env
        if not key:
            raise InvalidApiKey("No API key provided. Send it as 'Authorization: Bearer ak_...'")
        if not USERFLOW_KEY.match(key):
            raise InvalidApiKey(f"Invalid API key provided: {_shown(key)!r} (expected ak_ followed by letters and digits)")
        if self.allowed and key not in self.allowed:
            raise InvalidApiKey(f"Invalid API key provided: {_shown(key)!r} is not one of the keys this server accepts")
        return self.get(key)

    def authorize_frigade(self, key: str | None) -> tuple[Environment, bool]:
        """(environment, is the key private) for a Frigade key, or 403."""
        match = FRIGADE_KEY.match(key or "")
        if not match or (self.allowed and key not in self.allowed):
            raise Forbidden("Forbidden resource")
        return self.get(match.group(2)), match.group(1) == "private"

    def reachable(self, name: str) -> bool:
        """Whether a request could make the environment `name` (the control API makes none another way): any name a
        key can have, unless --api-key lists the keys."""
        frigade = (f"api_public_{name}", f"api_private_{name}")
        if self.allowed:
            return name in self.allowed or any(key in self.allowed for key in frigade)
        return bool(USERFLOW_KEY.match(name) or any(FRIGADE_KEY.match(key) for key in frigade))

    def existing(self, name: str) -> Environment | None:
        return self._envs.get(name)

    def get(self, key: str) -> Environment:
        env = self._envs.get(key)
        if env is None:
            changes = Changes()
            env = self._envs[key] = Environment(key, self.userflow.fork(changes), self.frigade.fork(changes), changes)
            env.userflow.begin_run(_derived(self.seed, key, self.generation, "userflow"))
            env.frigade.begin_run(_derived(self.seed, key, self.generation, "frigade"))
        return env

    def reset(self, key: str | None = None) -> list[str]:
        """Back to the seeded state: one environment, or all. Returns the keys reset. What an environment changed is
        freed at once (its objects hold no cycles)."""
        dropped = list(self._envs) if key is None else [key] if key in self._envs else []
        for name in dropped:
            del self._envs[name]
        if dropped:
            self.generation += 1
        return dropped
