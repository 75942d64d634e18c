"""Rate limiting per environment: a sliding window of request times, answering 429 with Retry-After."""
from __future__ import annotations

import math
import time
from collections import deque


def parse_rate(text: str) -> tuple[int, float]:
    """'100/60' -> (100 requests, per 60 seconds)."""
    requests, _, seconds = text.partition("/")
    try:
        limit = (int(requests), float(seconds))
    except ValueError:
        raise ValueError(f"rate limit {text!r}: expected N/SECONDS, e.g. 100/60") from None
    if limit[0] < 1 or limit[1] <= 0:
        raise ValueError(f"rate limit {text!r}: N must be at least 1 and SECONDS above 0")
    return limit


class Window:
    def __init__(self, requests: int, per_seconds: float):
        self.requests, self.per_seconds = requests, per_seconds
        self.times: deque[float] = deque()

    def take(self, now: float) -> tuple[bool, dict[str, str]]:
        """Count one request if the window has room; the X-RateLimit-* (and, when refused, Retry-After) headers either way."""
        while self.times and self.times[0] <= now - self.per_seconds:
            self.times.popleft()
        allowed = len(self.times) < self.requests
        if allowed:
            self.times.append(now)
        reset_in = (self.times[0] + self.per_seconds - now) if self.times else self.per_seconds
        headers = {"X-RateLimit-Limit": str(self.requests), "X-RateLimit-Remaining": str(self.requests - len(self.times)),
                   "X-RateLimit-Reset": str(math.ceil(time.time() + reset_in))}
        if not allowed:
            headers["Retry-After"] = str(max(1, math.ceil(reset_in)))
        return allowed, headers


class Limits:
    """Rate limits, one window per environment (from a scenario's rate_limit covering it, else the
    server-wide --rate-limit), and the count of API requests in flight for --concurrency-limit."""

    def __init__(self, default: tuple[int, float] | None, max_in_flight: int = 0):
        self.default = default
        self.max_in_flight = max_in_flight
        self.in_flight = 0
        self.windows: dict[str, Window] = {}

    def limit_for(self, env: str, scenarios) -> tuple[int, float] | None:
        for scenario in reversed(list(scenarios.by_name.values())):
            if scenario.rate_limit and scenario.applies_to(env):
                return scenario.rate_limit["requests"], scenario.rate_limit["per_seconds"]
        return self.default

    def take(self, env: str, scenarios) -> tuple[bool, dict[str, str]]:
        limit = self.limit_for(env, scenarios)
        if limit is None:
            self.windows.pop(env, None)
            return True, {}
        window = self.windows.get(env)
        if window is None or (window.requests, window.per_seconds) != limit:
            window = self.windows[env] = Window(*limit)
        return window.take(time.monotonic())
