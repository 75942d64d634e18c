"""--state FILE: every environment saved atomically (write, then rename) and loaded at start-up.

A state file is written by this server and read back only by it: it holds the stores as Python
objects (pickle), so only point --state at files a mockserver wrote. A file that is not one, is
damaged, or was written by an incompatible version stops start-up; it is never replaced silently.
"""
from __future__ import annotations

import pickle
from pathlib import Path

from mockserver import __version__
from mockserver.files import write_atomically
from mockserver.frigade.store import FrigadeStore
from mockserver.userflow.store import UserflowStore

MAGIC = b"mockserver-state\n"
FORMAT = 1  # raise whenever the stores' shape changes


class StateError(Exception):
    """The state file cannot be used; the message names it."""


def save(path: Path, environments: dict) -> None:
    """Write {env key: (userflow store, frigade store)} to a temporary file beside `path`, then rename it over `path`."""
    payload = pickle.dumps({"format": FORMAT, "version": __version__,
                            "environments": {key: (env.userflow, env.frigade) for key, env in environments.items()}},
                           protocol=pickle.HIGHEST_PROTOCOL)
    write_atomically(path, MAGIC + payload)


def load(path: Path) -> dict | None:
    """{env key: (userflow store, frigade store)} from `path`; None when there is no file yet."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"{path}: cannot read the state file: {exc.strerror}") from None
    if not raw.startswith(MAGIC):
        raise StateError(f"{path}: not a mockserver state file (move it away or pass another --state)")
    try:
        data = pickle.loads(raw[len(MAGIC):])
    except Exception as exc:  # a damaged pickle can fail in many ways
        raise StateError(f"{path}: the state file is damaged and cannot be read ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found, writer = (data.get("format"), data.get("version", "?")) if isinstance(data, dict) else ("unknown", "?")
        raise StateError(f"{path}: state format {found} was written by mockserver {writer}; "
                         f"this mockserver {__version__} reads format {FORMAT}")
    environments = data.get("environments")
    if not isinstance(environments, dict) or not all(
            isinstance(u, UserflowStore) and isinstance(f, FrigadeStore) for u, f in environments.values()):
        raise StateError(f"{path}: the state file does not hold mockserver environments")
    return environments
