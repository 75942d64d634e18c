"""One frozen Settings, built from CLI flags and MOCKSERVER_* environment variables.

Every value is checked here, once, whichever way it came: a problem names the flag or the variable
it came from and what would be accepted, so a typo is an exit-2 message and never a traceback.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

ENV_PREFIX = "MOCKSERVER_"
LOG_FORMATS = ("text", "json")
MIB = 1024 * 1024
WEBHOOK_SCHEDULES = ("fast", "documented")
LOOPS = ("auto", "uvloop", "asyncio")
UPSTREAM_APIS = ("userflow", "frigade")


def _at_least(low):
    return {"low": low}


def _above(low):
    return {"above": low}


def upstream_urls(entries) -> dict[str, str]:
    """--upstream API=URL entries as {API: base URL without a trailing slash}; a ValueError says what is wrong."""
    urls: dict[str, str] = {}
    for entry in entries:
        api, _, url = entry.strip().partition("=")
        api, url = api.strip().lower(), url.strip()
        if api not in UPSTREAM_APIS or not url:
            raise ValueError(f"expected API=URL with API userflow or frigade, got {entry!r}")
        try:
            parts = urlsplit(url)
            parts.port  # a port that is not a number from 0 to 65535 raises here
        except ValueError:
            parts = urlsplit("")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{api}: expected an http:// or https:// URL with a host, got {url!r}")
        if "@" in parts.netloc:
            raise ValueError(f"{api}: the URL may have no user name or password (the client's own headers carry its key)")
        if parts.query or parts.fragment or url.endswith(("?", "#")):
            raise ValueError(f"{api}: the URL may have a path but no query or fragment, got {url!r}")
        if api in urls:
            raise ValueError(f"{api} is given twice")
        urls[api] = url.rstrip("/")
    return urls


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = field(default=8080, metadata={"low": 0, "high": 65535})
    seed: int = field(default=0, metadata=_at_least(0))
    fixtures: Path | None = None  # None: the built-in data set
    api_keys: tuple[str, ...] = field(default=(), metadata={"env": "API_KEY"})  # empty: every well-formed key is accepted
    strict: bool = False
    log_format: str = field(default="text", metadata={"choices": LOG_FORMATS})
    quiet: bool = False
    loop: str = field(default="auto", metadata={"choices": LOOPS})  # auto: uvloop when it is installed
    journal_size: int = field(default=1000, metadata=_at_least(1))
    journal_bytes: int = field(default=32 * MIB, metadata={"low": 1, "unit": "bytes"})
    max_body_bytes: int = field(default=1024 * 1024, metadata=_at_least(1))
    webhook_schedule: str = field(default="fast", metadata={"choices": WEBHOOK_SCHEDULES})
    webhook_retry_delay: float | None = field(default=None, metadata=_at_least(0))  # None: the schedule's
    webhook_retry_factor: float = field(default=2.0, metadata=_at_least(1))
    webhook_max_attempts: int | None = field(default=None, metadata=_at_least(1))  # None: the schedule's, per API
    webhook_timeout: float = field(default=15.0, metadata=_above(0))  # the reference: "a timeout of 15 seconds"
    webhook_log_size: int = field(default=1000, metadata=_at_least(1))
    webhook_log_bytes: int = field(default=16 * MIB, metadata={"low": 1, "unit": "bytes"})
    webhook_queue_bytes: int = field(default=32 * MIB, metadata={"low": 1, "unit": "bytes"})
    webhook_reply_bytes: int = field(default=64 * 1024, metadata={"low": 0, "unit": "bytes"})
    webhook_shutdown_grace: float = field(default=5.0, metadata=_at_least(0))
    scenarios: tuple[Path, ...] = field(default=(), metadata={"env": "SCENARIO"})
    scenario_bytes: int = field(default=256 * 1024, metadata={"low": 1, "unit": "bytes"})  # of one loaded through the control API
    record: Path | None = None
    rate_limit: str | None = None  # N/SECONDS, per environment
    latency_ms: int = field(default=0, metadata={"low": 0, "env": "LATENCY"})
    concurrency_limit: int = field(default=0, metadata=_at_least(0))  # 0: no limit
    state: Path | None = None
    state_interval: float = field(default=30.0, metadata=_above(0))  # seconds between saves of --state while running
    connection_timeout: float = field(default=15.0, metadata=_above(0))  # idle, headers, or a body, each at most this long
    max_connections: int = field(default=1024, metadata=_at_least(1))
    admin_token: str | None = None  # required on /__mock/* (but health) when set
    webhook_allow: tuple[str, ...] = ()  # URL patterns webhook targets must match; empty: any
    cors_origins: tuple[str, ...] = field(default=(), metadata={"env": "CORS_ORIGIN"})  # empty: * for Frigade, none for Userflow
    upstreams: tuple[str, ...] = field(default=(), metadata={"env": "UPSTREAM", "check": upstream_urls})  # API=URL: proxied
    upstream_timeout: float = field(default=30.0, metadata=_above(0))  # seconds for a whole exchange with the upstream
    upstream_max_bytes: int = field(default=32 * MIB, metadata={"low": 1, "unit": "bytes"})  # of an upstream's answer
    drift_size: int = field(default=1000, metadata=_at_least(1))  # violations kept in /__mock/drift

    @property
    def upstream(self) -> dict[str, str]:
        """The proxied APIs: API -> the base URL its requests are forwarded to."""
        return upstream_urls(self.upstreams)


def env_name(name: str) -> str:
    """The environment variable of a setting: MOCKSERVER_ + its flag's name."""
    meta = {f.name: f.metadata for f in fields(Settings)}[name]
    return ENV_PREFIX + meta.get("env", name.upper())


def flag_name(name: str) -> str:
    return "--" + {"api_keys": "api-key", "scenarios": "scenario", "latency_ms": "latency", "cors_origins": "cors-origin",
                   "upstreams": "upstream"}.get(
        name, name.replace("_", "-"))


def _parse(kind: str, raw: str):
    """A variable's text as a value of the setting's type; ValueError says what was expected."""
    if kind.endswith(" | None"):
        if raw == "":
            return None
        kind = kind.removesuffix(" | None")
    if kind == "int":
        try:
            return int(raw)
        except ValueError:
            raise ValueError(f"expected a whole number, got {raw!r}") from None
    if kind == "float":
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"expected a number, got {raw!r}") from None
    if kind == "bool":
        if raw.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            raise ValueError(f"expected true or false, got {raw!r}")
        return raw.lower() in ("1", "true", "yes", "on")
    if kind == "tuple[str, ...]":
        return tuple(part for part in raw.split(",") if part)
    if kind == "Path":
        return Path(raw)
    if kind == "tuple[Path, ...]":
        return tuple(Path(part) for part in raw.split(",") if part)
    return raw


def parse_bytes(text: str) -> int:
    """A size: bytes, or with a suffix K, M or G (KiB, MiB, GiB): 64K, 32M."""
    number, unit = text.strip(), 1
    for suffix, factor in (("KIB", 1024), ("MIB", MIB), ("GIB", 1024 * MIB), ("K", 1024), ("M", MIB), ("G", 1024 * MIB), ("B", 1)):
        if number.upper().endswith(suffix):
            number, unit = number[:-len(suffix)].strip(), factor
            break
    try:
        return int(number) * unit
    except ValueError:
        raise ValueError(f"expected a size such as 65536, 64K or 32M, got {text!r}") from None


def _check(meta, value) -> None:
    """The setting's own rule: a range, or a list of choices."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"expected a finite number, got {value!r}")
    if "choices" in meta and value not in meta["choices"]:
        raise ValueError(f"expected one of {', '.join(meta['choices'])}, got {value!r}")
    if "low" in meta and value < meta["low"]:
        raise ValueError(f"must be at least {meta['low']}" + (f" and at most {meta['high']}" if "high" in meta else "")
                         + f", got {value!r}")
    if "high" in meta and value > meta["high"]:
        raise ValueError(f"must be at most {meta['high']}, got {value!r}")
    if "above" in meta and not value > meta["above"]:
        raise ValueError(f"must be above {meta['above']}, got {value!r}")
    if "check" in meta:
        meta["check"](value)


def settings_from(options: dict, environ: dict[str, str] | None = None) -> Settings:
    """Flags win over environment variables, which win over defaults. A value that breaks its setting's rule is a
    ValueError naming the flag or variable it came from."""
    environ = os.environ if environ is None else environ
    values = {}
    for f in fields(Settings):
        given = options.get(f.name)
        if given is not None and given != [] and given != ():
            source, value = flag_name(f.name), tuple(given) if isinstance(given, list) else given
        elif env_name(f.name) in environ:
            source = env_name(f.name)
            try:
                value = parse_bytes(environ[source]) if f.metadata.get("unit") == "bytes" else _parse(f.type, environ[source])
            except ValueError as exc:
                raise ValueError(f"{source}: {exc}") from None
        else:
            continue
        if value is not None:
            try:
                _check(f.metadata, value)
            except ValueError as exc:
                raise ValueError(f"{source}: {exc}") from None
        values[f.name] = value
    return Settings(**values)
