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
import ipaddress
import itertools
import json
import logging
import secrets
import socket
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import urlsplit

import aiohttp

from mockserver.attributes import format_datetime
from mockserver.bounded import BoundedLog
from mockserver.errors import InvalidRequest
from mockserver.jsontext import dumps

log = logging.getLogger("mockserver.webhooks")
USER_AGENT = "Userflow/1.0 (https://userflow.com/docs/webhooks)"
FRIGADE_USER_AGENT = "Frigade-Webhooks/1.0 (+https://frigade.com)"


LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost")


def _refuse(field: str, url: str, why: str) -> None:
    problem = f"{field}: {url!r} {why}"
    raise InvalidRequest(problem, details=[problem])


def _is_loopback(host: str) -> bool:
    """The loopback or unspecified address, however written: 127.1, 2130706433, 0x7f000001, [::ffff:127.0.0.1],
    localhost. (a name resolving to this machine by another way is caught when it is called: DELIVERY_HEADER)."""
    host = host.rstrip(".")
    if host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host))  # the forms C's resolver reads as IPv4
        except OSError:
            return False
    address = getattr(address, "ipv4_mapped", None) or address
    return address.is_loopback or address.is_unspecified


def check_target(url: str, allowed: tuple[str, ...], field: str = "url", own: tuple | None = None) -> None:
    """A webhook URL as it will be called: http or https, a host, a valid port, no user:password@ (which made
    `http://127.0.0.1:1@evil.example/` look like a loopback address), not this server itself (`own`, the
    (host, port) the request came in on), and, with --webhook-allow, matching a pattern in its canonical form
    (scheme://host[:port]/path, the port left out when it is the scheme's own)."""
    try:
        parts = urlsplit(url)
        parts.hostname  # noqa: B018 -- parsed lazily; an unbalanced [ or ] raises here or above
    except ValueError as exc:
        _refuse(field, url, f"is not a URL ({exc})")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        _refuse(field, url, "is not an http:// or https:// URL with a host")
    if "@" in parts.netloc:
        _refuse(field, url, "has a user name or password before the host, which webhook URLs may not have")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        _refuse(field, url, "has a port that is not a number from 0 to 65535")
    host = parts.hostname.lower()
    if own is not None and port == own[1] and (_is_loopback(host) or host.rstrip(".") == str(own[0]).lower()):
        _refuse(field, url, "is this mockserver itself: a webhook may not call the server that sends it")
    shown = f"[{host}]" if ":" in host else host
    canonical = f"{scheme}://{shown}{'' if port == (443 if scheme == 'https' else 80) else f':{port}'}{parts.path or '/'}"
    canonical += f"?{parts.query}" if parts.query else ""
    if allowed and not any(fnmatch.fnmatchcase(canonical, pattern) for pattern in allowed):
        _refuse(field, url, f"is not an allowed webhook target (--webhook-allow {' '.join(allowed)})")


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


@dataclass(eq=False)
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
    attempt: int = 0  # attempts made


@dataclass(frozen=True)
class Budgets:
    queue_bytes: int  # bodies of notifications not yet delivered (or given up on); past it new ones are dropped
    log_size: int  # attempts kept in the log
    log_bytes: int  # and their bodies' bytes
    reply_bytes: int  # of a receiver's reply, what is read; a longer reply is cut off (its connection closed)


# Every attempt carries this header with a token of this process; a request that comes in with it is one of this
# server's own deliveries (to itself, by whatever address or name) and is refused before it can do anything.
DELIVERY_HEADER = "X-Mockserver-Delivery"
PER_RECEIVER = 8  # attempts in flight to one receiver (scheme, host and port) at a time; the rest wait in its queue
ATTEMPT_COST = 512  # bytes an attempt's log entry costs beside the body


class Deliverer:
    """Deliveries wait in one queue per receiver, which has at most PER_RECEIVER attempts in flight: a hung or slow
    receiver holds its own queue, not the server. An attempt's timeout starts when it is sent, never while it waits its
    turn. Retries wait on a timer, not in a task. Everything is bounded in bytes (Budgets)."""

    def __init__(self, policies: dict[str, RetryPolicy], budgets: Budgets):
        self.token = secrets.token_hex(16)
        self.policies, self.budgets = policies, budgets
        self.log = BoundedLog(budgets.log_size, budgets.log_bytes)  # the attempts
        self.pending: dict[int, Delivery] = {}  # queued, in flight, or waiting to be retried
        self.queued_bytes = 0
        self._queues: dict[tuple, deque[Delivery]] = {}
        self._in_flight: dict[tuple, int] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task] = set()
        self._retries: dict[int, asyncio.TimerHandle] = {}
        self._idle = asyncio.Event()
        self._idle.set()
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))  # PER_RECEIVER is the limit

    def submit(self, env: str, api: str, item: dict, sign) -> None:
        """Deliver an outbox item ({id, subscription_id, url, topic, notification}) in the background."""
        body = dumps(item["notification"])
        delivery = Delivery(next(self._ids), env, api, self.policies[api], item["subscription_id"], item["url"], item["topic"],
                            item["id"], body, sign)
        if self.queued_bytes + len(body) > self.budgets.queue_bytes:
            self._record(delivery, 0, {}, None, f"not sent: the webhook queue holds {self.queued_bytes:,} bytes of notifications "
                         f"not yet delivered (--webhook-queue-bytes {self.budgets.queue_bytes:,})", time.perf_counter(), "dropped")
            log.warning("webhook %s to %s (%s) dropped: the queue is full", delivery.notification_id, delivery.url, delivery.topic)
            return
        self.pending[delivery.id] = delivery
        self.queued_bytes += len(body)
        self._idle.clear()
        self._enqueue(delivery)

    @staticmethod
    def _receiver(url: str) -> tuple:
        parts = urlsplit(url)
        return parts.scheme, parts.hostname, parts.port

    def _enqueue(self, delivery: Delivery) -> None:
        self._retries.pop(delivery.id, None)
        receiver = self._receiver(delivery.url)
        self._queues.setdefault(receiver, deque()).append(delivery)
        self._pump(receiver)

    def _pump(self, receiver: tuple) -> None:
        queue = self._queues.get(receiver)
        while queue and self._in_flight.get(receiver, 0) < PER_RECEIVER:
            delivery = queue.popleft()
            self._in_flight[receiver] = self._in_flight.get(receiver, 0) + 1
            task = asyncio.get_running_loop().create_task(self._send(receiver, delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        if not queue:
            self._queues.pop(receiver, None)

    async def _send(self, receiver: tuple, delivery: Delivery) -> None:
        try:
            delivery.attempt += 1
            ok = await self._attempt(delivery, delivery.attempt)
        finally:
            self._in_flight[receiver] -= 1
            if not self._in_flight[receiver]:
                del self._in_flight[receiver]
            self._pump(receiver)
        policy = delivery.policy
        if ok or delivery.attempt >= policy.max_attempts:
            self._finish(delivery)
        else:
            wait = policy.first_delay * policy.factor ** (delivery.attempt - 1)
            self._retries[delivery.id] = asyncio.get_running_loop().call_later(wait, self._enqueue, delivery)

    def _finish(self, delivery: Delivery) -> None:
        if self.pending.pop(delivery.id, None) is not None:
            self.queued_bytes -= len(delivery.body)
        if not self.pending:
            self._idle.set()

    async def _attempt(self, delivery: Delivery, attempt: int) -> bool:
        headers = {**delivery.sign(delivery.body), DELIVERY_HEADER: self.token}
        started = time.perf_counter()
        status, error = None, None
        try:
            async with self._session.post(delivery.url, data=delivery.body, headers=headers, allow_redirects=False,
                                          timeout=aiohttp.ClientTimeout(total=delivery.policy.timeout)) as resp:
                status = resp.status
                await self._read_reply(resp)
        except asyncio.TimeoutError:
            error = f"timed out after {delivery.policy.timeout:g}s"
        except aiohttp.ClientError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except OSError as exc:  # e.g. no file descriptors left: this attempt fails, the next may not
            error = f"{type(exc).__name__}: {exc}"
        ok = status is not None and 200 <= status < 300
        last = attempt == delivery.policy.max_attempts
        self._record(delivery, attempt, headers, status, error, started,
                     "delivered" if ok else "failed" if last else "retrying")
        if not ok and last:
            log.warning("webhook %s to %s (%s) gave up after %d attempts", delivery.notification_id, delivery.url, delivery.topic, attempt)
        return ok

    async def _read_reply(self, resp: aiohttp.ClientResponse) -> None:
        """Read the reply up to its budget (a receiver's reply says nothing the status does not); past it, stop: the
        connection is then closed rather than reused."""
        left = self.budgets.reply_bytes
        while left > 0 and await resp.content.read(min(left, 65536)):
            left = self.budgets.reply_bytes - resp.content.total_bytes

    def _record(self, delivery: Delivery, attempt: int, headers, status, error, started: float, outcome: str) -> None:
        self.log.add(lambda seq: {
            "seq": seq, "delivery_id": delivery.id, "env": delivery.env, "api": delivery.api,
            "subscription_id": delivery.subscription_id,
            "notification_id": delivery.notification_id, "url": delivery.url, "topic": delivery.topic, "attempt": attempt,
            "status": status, "error": error, "outcome": outcome, "time": format_datetime(datetime.now(timezone.utc)),
            "duration_ms": round((time.perf_counter() - started) * 1000, 3), "headers": headers, "body": delivery.body,
        }, ATTEMPT_COST + len(delivery.body))

    @property
    def dropped(self) -> int:
        """Attempts pushed out of the log."""
        return self.log.dropped

    def query(self, env=None, topic=None, subscription_id=None, since: int = 0, limit: int | None = None) -> list[dict]:
        """Matching attempts after `since` (a seq), the newest `limit` of them, oldest first."""
        found = self.log.select(lambda a: (not env or a["env"] == env) and (not topic or a["topic"] == topic)
                                and (not subscription_id or a["subscription_id"] == subscription_id), since, limit)
        return [{**a, "body": json.loads(a["body"])} for a in found]

    async def idle(self) -> None:
        """Wait until no delivery is pending (for tests and shutdown)."""
        await self._idle.wait()

    async def close(self, grace: float) -> None:
        """Let pending deliveries finish for up to `grace` seconds; log and record the rest as abandoned."""
        try:
            await asyncio.wait_for(self.idle(), grace)
        except asyncio.TimeoutError:
            pass
        for handle in self._retries.values():
            handle.cancel()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        for delivery in list(self.pending.values()):
            log.warning("webhook %s to %s (%s) abandoned at shutdown", delivery.notification_id, delivery.url, delivery.topic)
            self._record(delivery, 0, {}, None, "server shut down before delivery completed", time.perf_counter(), "abandoned")
        self.pending.clear()
        if self._session:
            await self._session.close()
