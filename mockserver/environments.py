"""API key -> environment: created lazily from the seeded template, isolated, resettable."""
from __future__ import annotations

import pickle
import re

from mockserver.errors import InvalidApiKey
from mockserver.userflow import seed
from mockserver.userflow.store import UserflowStore

USERFLOW_KEY = re.compile(r"^ak_[A-Za-z0-9]{1,200}$")


class Environment:
    def __init__(self, key: str, userflow: UserflowStore):
        self.key = key
        self.userflow = userflow


class Environments:
    def __init__(self, seed_value: int, fixtures: dict, allowed_keys: tuple[str, ...] = ()):
        self.allowed = set(allowed_keys)
        # Seed once; every environment starts as an exact copy of this state.
        self._template = pickle.dumps(seed.build(seed_value, fixtures), protocol=pickle.HIGHEST_PROTOCOL)
        self._envs: dict[str, Environment] = {}

    def keys(self) -> list[str]:
        return list(self._envs)

    def authorize(self, key: str | None) -> Environment:
        if not key:
            raise InvalidApiKey("No API key provided. Send it as 'Authorization: Bearer ak_...'")
        shown = key if len(key) <= 40 else key[:37] + "..."
        if not USERFLOW_KEY.match(key):
            raise InvalidApiKey(f"Invalid API key provided: {shown!r} (expected ak_ followed by letters and digits)")
        if self.allowed and key not in self.allowed:
            raise InvalidApiKey(f"Invalid API key provided: {shown!r} is not one of the keys this server accepts")
        return self.get(key)

    def get(self, key: str) -> Environment:
        env = self._envs.get(key)
        if env is None:
            env = self._envs[key] = Environment(key, pickle.loads(self._template))
        return env

    def reset(self, key: str | None = None) -> list[str]:
        """Back to the seeded state: one environment, or all. Returns the keys reset."""
        if key is None:
            dropped = list(self._envs)
            self._envs.clear()
            return dropped
        return [key] if self._envs.pop(key, None) is not None else []
