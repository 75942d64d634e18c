"""Scenarios: expected requests (in order or any order, with counts), scripted responses and faults,
webhooks at a point in the script, and verification with a readable diff.

A request is offered to every scenario that applies to its environment. In `strict` order it can
consume only the first unfinished step; a request that matches a later step instead is recorded as
out of order. In `any` order it consumes the first unfinished step it matches. Webhook steps fire
as soon as every request step before them is finished.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from mockserver.environments import FRIGADE_KEY

FAULTS = ("connection_reset", "timeout", "empty_response")
CLOSEST = 3


@dataclass
class RequestView:
    """What a matcher looks at in a received request (or a journal entry)."""
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: object
    request_id: str = ""

    @classmethod
    def from_journal(cls, entry: dict) -> RequestView:
        query: dict[str, list[str]] = {}
        for key, value in parse_qsl(entry["query"], keep_blank_values=True):
            query.setdefault(key, []).append(value)
        return cls(entry["method"], entry["path"], query, {k.lower(): v for k, v in entry["request"]["headers"].items()},
                   entry["request"]["body"], entry["request_id"])


def _compile_path(pattern: str) -> re.Pattern:
    parts = re.split(r"(\{[^/{}]+\})", pattern)
    return re.compile("^" + "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts) + "$")


def _body_mismatches(expected, actual, where: str) -> list[str]:
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, got {_short(actual)}"]
        out = []
        for key, value in expected.items():
            if key not in actual:
                out.append(f"{where}.{key}: expected {_short(value)}, missing")
            else:
                out += _body_mismatches(value, actual[key], f"{where}.{key}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected a list of {len(expected)}, got {_short(actual)}"]
        return [m for i, (e, a) in enumerate(zip(expected, actual)) for m in _body_mismatches(e, a, f"{where}[{i}]")]
    if expected != actual or type(expected) is not type(actual):
        return [f"{where}: expected {_short(expected)}, got {_short(actual)}"]
    return []


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass
class Step:
    index: int  # 1-based, as people count steps
    request: dict | None = None
    response: dict | None = None
    webhook: dict | None = None
    times: int = 1
    consumed: int = 0
    consumed_by: list[str] = field(default_factory=list)
    error: str | None = None
    _path: re.Pattern | None = None

    def __post_init__(self):
        if self.request:
            self._path = _compile_path(self.request["path"])

    @property
    def done(self) -> bool:
        return self.consumed >= self.times

    def describe(self) -> str:
        if self.webhook:
            return f"webhook {self.webhook.get('topic') or self.webhook.get('type')}"
        return f"{self.request.get('method', 'ANY').upper()} {self.request['path']}"

    def mismatches(self, req: RequestView) -> list[str]:
        """Why `req` does not match this step's request matcher (empty when it does)."""
        m = self.request
        out = []
        if "method" in m and m["method"].upper() != req.method:
            out.append(f"method: expected {m['method'].upper()}, got {req.method}")
        if not self._path.match(req.path):
            out.append(f"path: expected {m['path']}, got {req.path}")
        for name, value in m.get("query", {}).items():
            wanted = [str(v) for v in value] if isinstance(value, list) else [str(value)]
            got = req.query.get(name, []) + req.query.get(name + "[]", [])
            if got != wanted:
                out.append(f"query.{name}: expected {_short(wanted if len(wanted) > 1 else wanted[0])}, got "
                           f"{_short(got if len(got) != 1 else got[0]) if got else 'nothing'}")
        for name, value in m.get("headers", {}).items():
            got = req.headers.get(name.lower())
            if got != value:
                out.append(f"headers.{name}: expected {_short(value)}, got {_short(got) if got is not None else 'nothing'}")
        if "body" in m:
            out += _body_mismatches(m["body"], req.body, "body")
        return out

    def progress(self) -> dict:
        return {"index": self.index, "kind": "webhook" if self.webhook else "request", "description": self.describe(),
                "times": self.times, "consumed": self.consumed, "remaining": max(self.times - self.consumed, 0),
                "consumed_by": list(self.consumed_by), "error": self.error}


def env_name(env: str | None) -> str | None:
    """An environment named by a Frigade key is the key's <id> (scenarios and the control API take either)."""
    match = FRIGADE_KEY.match(env or "")
    return match.group(2) if match else env


@dataclass
class Scenario:
    name: str
    steps: list[Step]
    env: str | None = None
    order: str = "strict"
    rate_limit: dict | None = None
    source: str = "api"
    violations: list[str] = field(default_factory=list)

    @classmethod
    def from_document(cls, doc: dict, source: str) -> Scenario:
        """From a document already checked against schemas/scenario.json."""
        steps = [Step(i, s.get("request"), s.get("response"), s.get("webhook"), s.get("times", 1)) for i, s in enumerate(doc["steps"], 1)]
        scenario = cls(doc["name"], steps, env_name(doc.get("env")), doc.get("order", "strict"), doc.get("rate_limit"), source)
        first_request = next((s.index for s in steps if s.request), None)
        if scenario.env is None and any(s.webhook and (first_request is None or s.index < first_request) for s in steps):
            raise ValueError("a webhook step before the first request step needs the scenario's env (there is no request to take it from)")
        return scenario

    def applies_to(self, env: str) -> bool:
        return self.env is None or self.env == env

    @property
    def met(self) -> bool:
        return not self.violations and all(s.done and not s.error for s in self.steps)

    def offer(self, req: RequestView) -> Step | None:
        """The request step this request consumes, if any."""
        pending = [s for s in self.steps if s.request and not s.done]
        if self.order == "strict":
            current = next((s for s in self.steps if not s.done), None)
            if current is not None and current.request and not current.mismatches(req):
                return self._consume(current, req)
            later = next((s for s in pending if s is not current and not s.mismatches(req)), None)
            if later is not None:
                self.violations.append(f"out of order: {req.method} {req.path} ({req.request_id}) matched step {later.index} "
                                       f"({later.describe()}) while step {current.index} ({current.describe()}) was still expected")
            return None
        step = next((s for s in pending if not s.mismatches(req)), None)
        return self._consume(step, req) if step else None

    @staticmethod
    def _consume(step: Step, req: RequestView) -> Step:
        step.consumed += 1
        step.consumed_by.append(req.request_id)
        return step

    def ready_webhooks(self) -> list[Step]:
        """Webhook steps whose preceding request steps are all finished; they count as consumed once returned."""
        ready = []
        for step in self.steps:
            if step.request and not step.done:
                break
            if step.webhook and not step.done:
                step.consumed = 1
                ready.append(step)
        return ready

    def progress(self) -> dict:
        return {"name": self.name, "env": self.env, "order": self.order, "rate_limit": self.rate_limit, "source": self.source,
                "met": self.met, "steps": [s.progress() for s in self.steps], "violations": list(self.violations)}

    def report(self, received: list[RequestView]) -> str:
        """What was expected and what came instead, closest received requests first."""
        if self.met:
            return f"Scenario {self.name!r}: every expectation was met ({len(self.steps)} steps)."
        lines = [f"Scenario {self.name!r} is not met:"]
        for step in self.steps:
            if step.error:
                lines.append(f"  step {step.index} ({step.describe()}): {step.error}")
            if step.done:
                continue
            left = step.times - step.consumed
            lines.append(f"  step {step.index} ({step.describe()}): expected {left} more time{'s' if left != 1 else ''}"
                         f" (received {step.consumed} of {step.times})")
            if step.request:
                scored = sorted(((len(step.mismatches(r)), i, r) for i, r in enumerate(received)), key=lambda t: (t[0], -t[1]))
                near = [(r, step.mismatches(r)) for n, _, r in scored if n][:CLOSEST]
                if not near:
                    lines.append("    no other requests were received")
                for r, problems in near:
                    lines.append(f"    closest: {r.method} {r.path}{' (' + r.request_id + ')' if r.request_id else ''}")
                    lines += [f"      {p}" for p in problems]
        lines += [f"  {v}" for v in self.violations]
        return "\n".join(lines)


class Scenarios:
    """The loaded scenarios, by name, in load order."""

    def __init__(self):
        self.by_name: dict[str, Scenario] = {}

    def add(self, scenario: Scenario) -> None:
        self.by_name.pop(scenario.name, None)  # a scenario with the same name replaces it (and goes last)
        self.by_name[scenario.name] = scenario

    def get(self, name: str) -> Scenario | None:
        return self.by_name.get(name)

    def remove(self, name: str) -> bool:
        return self.by_name.pop(name, None) is not None

    def offer(self, env: str, req: RequestView) -> tuple[dict | None, list[tuple[Scenario, Step]]]:
        """Offer a request to every scenario of its environment: (the scripted response, if any; webhook steps now due)."""
        response, webhooks = None, []
        for scenario in self.by_name.values():
            if not scenario.applies_to(env):
                continue
            step = scenario.offer(req)
            if step is None:
                continue
            if response is None and step.response:
                response = {**step.response, "scenario": scenario.name, "step": step.index}
            webhooks += [(scenario, hook) for hook in scenario.ready_webhooks()]
        return response, webhooks
