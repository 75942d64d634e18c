"""API key -> environment: created lazily from the seeded template, isolated, resettable.

A Userflow key `ak_<alnum>` is an environment of its own; the Frigade keys `api_public_<id>` and
`api_private_<id>` share the environment `<id>`. Each environment holds both APIs' stores.
"""
from __future__ import annotations

import gc
import hashlib
import pickle
import re

from mockserver.errors import Forbidden, InvalidApiKey
from mockserver.frigade import seed as frigade_seed
from mockserver.frigade.store import FrigadeStore
from mockserver.userflow import seed as userflow_seed
from mockserver.userflow.store import UserflowStore

USERFLOW_KEY = re.compile(r"^ak_[A-Za-z0-9]{1,200}$")
FRIGADE_KEY = re.compile(r"^api_(public|private)_([A-Za-z0-9_-]{1,200})$")


class Environment:
    def __init__(self, key: str, userflow: UserflowStore, frigade: FrigadeStore):
        self.key = key
        self.userflow = userflow
        self.frigade = frigade


def _derived(*parts) -> int:
    """A number that depends on every part and on nothing else: reproducible on every run and machine."""
    return int.from_bytes(hashlib.sha256("\0".join(map(str, parts)).encode()).digest()[:8], "big")


def _shown(key: str) -> str:
    return key if len(key) <= 40 else key[:37] + "..."


class Environments:
    def __init__(self, seed_value: int, fixtures: dict, schemas, allowed_keys: tuple[str, ...] = ()):
        self.allowed = set(allowed_keys)
        # Seed once; every environment starts as an exact copy of this state.
        userflow, frigade = userflow_seed.build(seed_value, fixtures), frigade_seed.build(seed_value, fixtures["frigade"], schemas)
        self._template = pickle.dumps((userflow, frigade), protocol=pickle.HIGHEST_PROTOCOL)
        self.counts = {"users": len(userflow.users), "groups": len(userflow.groups), "events": len(userflow.events),
                       "content": len(userflow.content), "content sessions": len(userflow.sessions),
                       "Frigade flows": len(frigade.flows), "Frigade users": len(frigade.users)}
        del userflow, frigade
        gc.collect()  # the seeding's objects go now, before any of them could be frozen
        self._envs: dict[str, Environment] = {}
        self._authorized: set[str] = set()  # Userflow keys already checked
        self.seed = seed_value
        self._generations: dict[str, int] = {}  # key -> times it was reset

    def keys(self) -> list[str]:
        return list(self._envs)

    def all(self) -> dict[str, Environment]:
        return dict(self._envs)

    def restore(self, saved: dict) -> None:
        """Environments as --state saved them: {key: (userflow store, frigade store)}."""
        self._envs = {key: Environment(key, userflow, frigade) for key, (userflow, frigade) in saved.items()}

    def authorize(self, key: str | None) -> Environment:
        """The environment of a Userflow key, or 401."""
        if key in self._authorized:  # passed these checks before
            return self.get(key)
        if not key:
            raise InvalidApiKey("No API key provided. Send it as 'Authorization: Bearer ak_...'")
        if not USERFLOW_KEY.match(key):
            raise InvalidApiKey(f"Invalid API key provided: {_shown(key)!r} (expected ak_ followed by letters and digits)")
        if self.allowed and key not in self.allowed:
            raise InvalidApiKey(f"Invalid API key provided: {_shown(key)!r} is not one of the keys this server accepts")
        self._authorized.add(key)
        return self.get(key)

    def authorize_frigade(self, key: str | None) -> tuple[Environment, bool]:
        """(environment, is the key private) for a Frigade key, or 403."""
        match = FRIGADE_KEY.match(key or "")
        if not match or (self.allowed and key not in self.allowed):
            raise Forbidden("Forbidden resource")
        return self.get(match.group(2)), match.group(1) == "private"

    def get(self, key: str) -> Environment:
        env = self._envs.get(key)
        if env is None:
            env = self._envs[key] = Environment(key, *pickle.loads(self._template))
            generation = self._generations.get(key, 0)
            env.userflow.begin_run(_derived(self.seed, key, generation, "userflow"))
            env.frigade.begin_run(_derived(self.seed, key, generation, "frigade"))
            # the seeded objects live as long as the environment: keep the cyclic collector from walking them again
            # and again (with 100,000 users a full collection would stall requests for a tenth of a second)
            gc.freeze()
        return env

    def reset(self, key: str | None = None) -> list[str]:
        """Back to the seeded state: one environment, or all. Returns the keys reset."""
        gc.unfreeze()  # what is dropped here must be collectable again
        dropped = list(self._envs) if key is None else [key] if key in self._envs else []
        for name in dropped:
            del self._envs[name]
            self._generations[name] = self._generations.get(name, 0) + 1
        return dropped
