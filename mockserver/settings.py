"""One frozen Settings, built from CLI flags and MOCKSERVER_* environment variables."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields
from pathlib import Path

ENV_PREFIX = "MOCKSERVER_"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8080
    seed: int = 0
    fixtures: Path | None = None  # None: the built-in data set
    api_keys: tuple[str, ...] = ()  # empty: every well-formed key is accepted
    strict: bool = False
    log_format: str = "text"
    quiet: bool = False
    journal_size: int = 1000
    max_body_bytes: int = 1024 * 1024
    webhook_retry_delay: float = 0.1
    webhook_retry_factor: float = 2.0
    webhook_max_attempts: int = 5
    webhook_timeout: float = 5.0
    webhook_log_size: int = 1000
    webhook_shutdown_grace: float = 5.0
    scenarios: tuple[Path, ...] = ()
    record: Path | None = None
    rate_limit: str | None = None  # N/SECONDS, per environment
    latency_ms: int = 0
    concurrency_limit: int = 0  # 0: no limit
    state: Path | None = None
    state_interval: float = 30.0  # seconds between saves of --state while running
    admin_token: str | None = None  # required on /__mock/* (but health) when set
    webhook_allow: tuple[str, ...] = ()  # URL patterns webhook targets must match; empty: any


def _parse(name: str, raw: str):
    kind = {f.name: f.type for f in fields(Settings)}[name]
    if kind == "int":
        return int(raw)
    if kind == "float":
        return float(raw)
    if kind == "bool":
        if raw.lower() not in ("1", "true", "yes", "on", "0", "false", "no", "off", ""):
            raise ValueError(f"{ENV_PREFIX}{name.upper()}: expected true or false, got {raw!r}")
        return raw.lower() in ("1", "true", "yes", "on")
    if kind == "tuple[str, ...]":
        return tuple(part for part in raw.split(",") if part)
    if kind == "Path | None":
        return Path(raw) if raw else None
    if kind == "tuple[Path, ...]":
        return tuple(Path(part) for part in raw.split(",") if part)
    if kind == "str | None":
        return raw or None
    return raw


def settings_from(options: dict, environ: dict[str, str] | None = None) -> Settings:
    """Flags win over environment variables, which win over defaults."""
    environ = os.environ if environ is None else environ
    values = {}
    for f in fields(Settings):
        env_name = ENV_PREFIX + {"api_keys": "API_KEY", "scenarios": "SCENARIO", "latency_ms": "LATENCY"}.get(f.name, f.name.upper())
        given = options.get(f.name)
        if given is not None and given is not False and given != [] and given != ():
            values[f.name] = given
        elif env_name in environ:
            values[f.name] = _parse(f.name, environ[env_name])
    for name in ("api_keys", "scenarios", "webhook_allow"):
        if name in values:
            values[name] = tuple(values[name])
    return Settings(**values)
