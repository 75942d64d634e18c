"""--state FILE: what each environment changed, saved atomically, loaded at start-up.

An environment is saved against the seed: its layers are pickled with the seed's containers as references
(pickle's persistent ids), so the file holds only the changes. The file records the seed's identity (the
seed, the fixtures, the format); a server started with other data refuses it rather than apply changes to
data they were not made to. A save pickles again only the environments that changed since the last one,
each in one go between requests, writes nothing when nothing changed, and writes the file in a thread,
so the event loop is never held for longer than one environment's pickling.

A state file is written by this server and read back only by it (pickle): only point --state at files a
mockserver wrote. A file that is not one, is damaged, was written by an incompatible version or for other
data stops start-up; it is never replaced silently.
"""
from __future__ import annotations

import asyncio
import hashlib
import io
import json
import pickle
from pathlib import Path

from mockserver import __version__
from mockserver.environments import Environment, Environments
from mockserver.files import write_atomically
from mockserver.layers import EMPTY, Layer, Seeded
from mockserver.lists import Collection

MAGIC = b"mockserver-state\n"
FORMAT = 2  # raise whenever the stores' shape changes
CHECKED_AT_ONCE = 500  # unchanged environments looked at between two turns of the event loop


class StateError(Exception):
    """The state file cannot be used; the message names it."""


def seed_identity(seed: int, fixtures: dict) -> str:
    """What a state file's changes were made against: the seed, the fixtures and the format."""
    text = json.dumps([FORMAT, seed, fixtures], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _seed_references(environments: Environments) -> dict[int, tuple[str, object]]:
    """id(part) -> (its name, it) for every part of the seed a fork refers to: the stores and their parts (a fork reads
    what it has not touched through them), each container's data, and each collection (whose indexes forks read)."""
    found: dict[int, tuple[str, object]] = {id(EMPTY): ("EMPTY", EMPTY)}

    def walk(part: Seeded, path: str) -> None:
        found[id(part)] = (path, part)
        for name, value in vars(part).items():
            where = f"{path}.{name}"
            if isinstance(value, Layer):
                found[id(value.own)] = (where, value.own)
            elif isinstance(value, Collection):
                found[id(value)] = (where, value)
                found[id(value.items.own)] = (f"{where}.items", value.items.own)
            elif isinstance(value, Seeded):
                walk(value, where)

    walk(environments.userflow, "userflow")
    walk(environments.frigade, "frigade")
    return found


class StateFile:
    def __init__(self, path: Path, environments: Environments, identity: str):
        self.path, self.environments, self.identity = path, environments, identity
        references = _seed_references(environments)
        self._names = {key: name for key, (name, _) in references.items()}
        self._objects = {name: obj for name, obj in references.values()}
        self._pickled: dict[str, tuple[object, int, bytes]] = {}  # key -> (its Changes, their count then, the pickle)
        self._stale = True  # the file on disk is not what _pickled holds

    # -- one environment ------------------------------------------------------------------------------------------------
    def _dumps(self, env: Environment) -> bytes:
        out = io.BytesIO()
        pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = lambda obj: self._names.get(id(obj))
        pickler.dump(env)
        return out.getvalue()

    def _loads(self, blob: bytes) -> Environment:
        unpickler = pickle.Unpickler(io.BytesIO(blob))
        unpickler.persistent_load = self._objects.__getitem__
        return unpickler.load()

    # -- the file -----------------------------------------------------------------------------------------------------
    async def save(self) -> bool:
        """Write the file if any environment changed since the last save (or went away); True when it wrote."""
        envs = self.environments.all()
        changed = self._stale or bool(self._pickled.keys() - envs.keys())
        for n, (key, env) in enumerate(envs.items()):
            cached = self._pickled.get(key)
            if cached is None or cached[0] is not env.changes or cached[1] != env.changes.count:
                self._pickled[key] = (env.changes, env.changes.count, self._dumps(env))
                changed = True
                await asyncio.sleep(0)  # requests go in between environments
            elif n % CHECKED_AT_ONCE == 0:
                await asyncio.sleep(0)
        if not changed:
            return False
        for key in self._pickled.keys() - envs.keys():
            del self._pickled[key]
        entries = list(self._pickled.items())
        self._stale = True  # until the file is written
        await asyncio.to_thread(self._write, entries, self.environments.generation)
        self._stale = False
        return True

    def _write(self, entries: list, generation: int) -> None:
        """The file, in a thread: the header, then each environment's pickle."""
        header = {"format": FORMAT, "version": __version__, "identity": self.identity, "generation": generation,
                  "environments": [(key, len(blob)) for key, (_, _, blob) in entries]}
        write_atomically(self.path, [MAGIC, pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL), *(blob for _, (_, _, blob) in entries)])

    def load(self) -> None:
        """The environments the file holds, restored; nothing when there is no file yet."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StateError(f"{self.path}: cannot read the state file: {exc.strerror}") from None
        if not raw.startswith(MAGIC):
            raise StateError(f"{self.path}: not a mockserver state file (move it away or pass another --state)")
        stream = io.BytesIO(raw)
        stream.seek(len(MAGIC))
        try:
            header = pickle.load(stream)
        except Exception as exc:  # a damaged pickle can fail in many ways
            raise StateError(f"{self.path}: the state file is damaged and cannot be read ({type(exc).__name__}: {exc})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            found, writer = (header.get("format"), header.get("version", "?")) if isinstance(header, dict) else ("unknown", "?")
            raise StateError(f"{self.path}: state format {found} was written by mockserver {writer}; "
                             f"this mockserver {__version__} reads format {FORMAT}")
        if header.get("identity") != self.identity:
            raise StateError(f"{self.path}: the state was saved for other data (another --seed or --fixtures); start with the "
                             f"seed and fixtures it was saved with, or pass another --state")
        restored = {}
        try:
            for key, size in header["environments"]:
                blob = stream.read(size)
                env = self._loads(blob)
                if not isinstance(env, Environment) or env.key != key:
                    raise StateError(f"{self.path}: the state file does not hold mockserver environments")
                restored[key] = env
                self._pickled[key] = (env.changes, env.changes.count, blob)
        except StateError:
            raise
        except Exception as exc:
            raise StateError(f"{self.path}: the state file is damaged and cannot be read ({type(exc).__name__}: {exc})") from None
        self.environments.restore(restored, header["generation"])
        self._stale = False
