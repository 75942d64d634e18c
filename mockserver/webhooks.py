"""Webhook delivery: real POSTs in the background, retried with exponential backoff, every attempt logged.

A delivery never delays the API response that caused it. Each attempt is signed anew. Attempts are
kept in a bounded log (counted when pushed out); at shutdown pending deliveries get a grace period,
then whatever is left is logged as abandoned.
"""
from __future__ import annotations

import asyncio
import base64
import fnmatch
import hashlib
import hmac
import itertools
import json
import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import aiohttp

from mockserver.attributes import format_datetime
from mockserver.errors import InvalidRequest
from mockserver.jsontext import dumps

log = logging.getLogger("mockserver.webhooks")
USER_AGENT = "Userflow/1.0 (https://userflow.com/docs/webhooks)"
FRIGADE_USER_AGENT = "Frigade-Webhooks/1.0 (+https://frigade.com)"


def check_target(url: str, allowed: tuple[str, ...], field: str = "url") -> None:
    """--webhook-allow: a webhook URL must match one of the patterns (when any are set)."""
    if allowed and not any(fnmatch.fnmatchcase(url, pattern) for pattern in allowed):
        problem = f"{field}: {url!r} is not an allowed webhook target (--webhook-allow {' '.join(allowed)})"
        raise InvalidRequest(problem, details=[problem])


def frigade_signer(secret: str, data: dict) -> Callable[[bytes], dict[str, str]]:
    """Headers for one attempt: X-Webhook-Signature, the base64 HMAC-SHA256 of the compact JSON of `data`."""
    digest = base64.b64encode(hmac.new(secret.encode(), dumps(data), hashlib.sha256).digest())

    def sign(body: bytes) -> dict[str, str]:
        return {"Content-Type": "application/json", "User-Agent": FRIGADE_USER_AGENT, "X-Webhook-Signature": digest.decode()}
    return sign


def userflow_signer(secret: str) -> Callable[[bytes], dict[str, str]]:
    """Headers for one attempt: Userflow-Signature t=<unix>,v1=<hex HMAC-SHA256 of "t.body">."""
    def sign(body: bytes) -> dict[str, str]:
        t = int(time.time())
        digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return {"Content-Type": "application/json; charset=utf-8", "User-Agent": USER_AGENT, "Userflow-Signature": f"t={t},v1={digest}"}
    return sign


@dataclass(frozen=True)
class RetryPolicy:
    first_delay: float  # seconds before the 2nd attempt
    factor: float  # each later delay is this many times the one before
    max_attempts: int
    timeout: float  # seconds an attempt may take before it counts as failed


# --webhook-schedule: (seconds before the first retry, attempts per API). `fast` suits tests; `documented` is what the
# services say: Userflow retries with exponential backoff and "will give up after 3 days" (60 s doubling: the 13th
# attempt comes 2.8 days after the first), Frigade makes "up to 5 retries with exponential backoff".
SCHEDULES = {"fast": (0.1, {"userflow": 5, "frigade": 6}), "documented": (60.0, {"userflow": 13, "frigade": 6})}


def retry_policies(settings) -> dict[str, RetryPolicy]:
    """Each API's policy: the schedule's, with whatever --webhook-* flag was given in its place."""
    delay, attempts = SCHEDULES[settings.webhook_schedule]
    first = delay if settings.webhook_retry_delay is None else settings.webhook_retry_delay
    return {api: RetryPolicy(first, settings.webhook_retry_factor, settings.webhook_max_attempts or count, settings.webhook_timeout)
            for api, count in attempts.items()}


@dataclass
class Delivery:
    id: int
    env: str
    api: str
    policy: RetryPolicy
    subscription_id: str
    url: str
    topic: str
    notification_id: str
    body: bytes
    sign: Callable[[bytes], dict[str, str]]


class Deliverer:
    def __init__(self, policies: dict[str, RetryPolicy], log_size: int):
        self.policies = policies
        self.attempts: deque[dict] = deque(maxlen=max(log_size, 1))
        self.dropped = 0
        self.pending: dict[int, Delivery] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=max(p.timeout for p in self.policies.values())))

    def submit(self, env: str, api: str, item: dict, sign) -> None:
        """Deliver an outbox item ({id, subscription_id, url, topic, notification}) in the background."""
        body = dumps(item["notification"])
        delivery = Delivery(next(self._ids), env, api, self.policies[api], item["subscription_id"], item["url"], item["topic"],
                            item["id"], body, sign)
        self.pending[delivery.id] = delivery
        task = asyncio.get_running_loop().create_task(self._run(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, delivery: Delivery) -> None:
        policy = delivery.policy
        delay = policy.first_delay
        for attempt in range(1, policy.max_attempts + 1):
            if await self._attempt(delivery, attempt):
                break
            if attempt < policy.max_attempts:
                await asyncio.sleep(delay)
                delay *= policy.factor
        self.pending.pop(delivery.id, None)

    async def _attempt(self, delivery: Delivery, attempt: int) -> bool:
        headers = delivery.sign(delivery.body)
        started = time.perf_counter()
        status, error = None, None
        try:
            async with self._session.post(delivery.url, data=delivery.body, headers=headers, allow_redirects=False) as resp:
                status = resp.status
                await resp.read()
        except asyncio.TimeoutError:
            error = f"timed out after {delivery.policy.timeout:g}s"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        last = attempt == delivery.policy.max_attempts
        self._record(delivery, attempt, headers, status, error, started,
                     "delivered" if ok else "failed" if last else "retrying")
        if not ok and last:
            log.warning("webhook %s to %s (%s) gave up after %d attempts", delivery.notification_id, delivery.url, delivery.topic, attempt)
        return ok

    def _record(self, delivery: Delivery, attempt: int, headers, status, error, started: float, outcome: str) -> None:
        if len(self.attempts) == self.attempts.maxlen:
            self.dropped += 1
        self.attempts.append({
            "delivery_id": delivery.id, "env": delivery.env, "api": delivery.api, "subscription_id": delivery.subscription_id,
            "notification_id": delivery.notification_id, "url": delivery.url, "topic": delivery.topic, "attempt": attempt,
            "status": status, "error": error, "outcome": outcome, "time": format_datetime(datetime.now(timezone.utc)),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3), "headers": headers, "body": delivery.body,
        })

    def query(self, env=None, topic=None, subscription_id=None) -> list[dict]:
        return [{**a, "body": json.loads(a["body"])} for a in self.attempts
                if (not env or a["env"] == env) and (not topic or a["topic"] == topic)
                and (not subscription_id or a["subscription_id"] == subscription_id)]

    async def idle(self) -> None:
        """Wait until no delivery is pending (for tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self, grace: float) -> None:
        """Let pending deliveries finish for up to `grace` seconds; log and record the rest as abandoned."""
        try:
            await asyncio.wait_for(asyncio.shield(self.idle()), grace)
        except asyncio.TimeoutError:
            pass
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for delivery in self.pending.values():
            log.warning("webhook %s to %s (%s) abandoned at shutdown", delivery.notification_id, delivery.url, delivery.topic)
            self._record(delivery, 0, {}, None, "server shut down before delivery completed", time.perf_counter(), "abandoned")
        self.pending.clear()
        if self._session:
            await self._session.close()
