"""Files the server writes (--state, --record): checked at start-up, written atomically."""
from __future__ import annotations

import os
from pathlib import Path


class FileProblem(Exception):
    """A file the server must write cannot be: the message names the file and why."""


def _temporary(path: Path) -> Path:
    return path.with_name(path.name + ".tmp")


def check_writable(path: Path, option: str) -> None:
    """At start-up, so shutdown cannot fail on it: the file's folder takes a new file (tried, not guessed), and the
    file, when it exists, is a file."""
    if path.is_dir():
        raise FileProblem(f"{option} {path}: is a folder, not a file")
    probe = _temporary(path)
    try:
        probe.open("xb").close()
    except FileExistsError:  # left by a crash: write_atomically replaces it
        if not os.access(probe, os.W_OK):
            raise FileProblem(f"{option} {path}: cannot write {probe}") from None
        return
    except OSError as exc:
        raise FileProblem(f"{option} {path}: cannot write there ({exc.strerror or exc})") from None
    probe.unlink()


def write_atomically(path: Path, data: bytes | list[bytes]) -> None:
    """Write `data` (or its chunks, in order) to a temporary file beside `path`, flush it to disk, then rename it over
    `path`: a crash or a full disk never leaves half a file."""
    temporary = _temporary(path)
    try:
        with open(temporary, "wb") as out:
            for chunk in [data] if isinstance(data, bytes) else data:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise FileProblem(f"cannot write {path}: {exc.strerror or exc}") from None
