"""Record and replay: the journal written as a scenario, and scenario files loaded at start-up."""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qsl

from mockserver import proxy
from mockserver.documents import DocumentError, dump, load_scenario
from mockserver.files import write_atomically
from mockserver.scenarios import Scenarios

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
VOLATILE_KEYS = {"created_at", "createdAt", "modifiedAt", "time", "lastActionAt", "request_id"}


def _stable(value):
    """The value without what changes from run to run (timestamps and generated ids) and without secrets."""
    if isinstance(value, dict):
        return {k: _stable(v) for k, v in value.items()
                if k not in VOLATILE_KEYS and not proxy.is_secret(k) and not (isinstance(v, str) and UUID.match(v))}
    if isinstance(value, list):
        return [_stable(v) for v in value]
    return value


def scenario_from_journal(entries: list[dict], name: str = "recorded", replayed=()) -> dict:
    """A strict-order scenario expecting the journaled requests again; the stateful mock answers them, but for the APIs
    in `replayed` (proxied to the real service) each step carries the answer received, as a scripted response."""
    steps, credentials = [], proxy.credentials(entries) if replayed else set()
    for entry in entries:
        if entry["env"] is None:  # refused before it reached an environment (no key, /favicon.ico): not a call to expect
            continue
        request = {"method": entry["method"],
                   "path": "/".join("{id}" if UUID.match(part) else part for part in entry["path"].split("/"))}
        query: dict = {}
        for key, value in parse_qsl(entry["query"], keep_blank_values=True):
            if key not in VOLATILE_KEYS and not proxy.is_secret(key) and not UUID.match(value):
                query.setdefault(key, []).append(value)
        if query:
            request["query"] = {k: v[0] if len(v) == 1 else v for k, v in query.items()}
        body = entry["request"]["body"]
        if body not in (None, ""):
            request["body"] = _stable(body)
        answer = proxy.recorded_response(entry, credentials) if entry["api"] in replayed else None
        steps.append({"request": request, **({"response": answer} if answer else {})})
    return {"name": name, "order": "strict", "steps": steps}


def write(path: Path, scenario: dict) -> None:
    write_atomically(path, dump(scenario, as_json=path.suffix == ".json").encode("utf-8"))


def load_scenarios(paths, schemas) -> Scenarios:
    """The --scenario files; any problem stops start-up with every file:line listed."""
    scenarios, problems = Scenarios(), []
    for path in paths:
        try:
            scenarios.add(load_scenario(str(path), Path(path).read_text(encoding="utf-8"), schemas, str(path)))
        except OSError as exc:
            problems.append(f"{path}: cannot read: {exc.strerror}")
        except UnicodeDecodeError as exc:
            problems.append(f"{path}: not UTF-8 text (byte {exc.start})")
        except DocumentError as exc:
            problems.append(str(exc))
    if problems:
        raise DocumentError("\n".join(problems))
    return scenarios
