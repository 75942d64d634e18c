"""Fixture files: YAML or JSON, one file or a folder of them, checked against schemas/fixtures.json."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from mockserver.documents import DocumentError, check, kind_of

BUILTIN = "default.yaml"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DocumentError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def load(path: Path | None, schemas) -> dict:
    """The merged fixture document: `generate` counts from the last file that sets them, object lists concatenated."""
    if path is None:
        sources = [(BUILTIN, files("mockserver.fixture_files").joinpath(BUILTIN).read_text(encoding="utf-8"))]
    elif path.is_dir():
        sources = [(str(p), _read(p)) for p in sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml", ".json"))]
    elif path.is_file():
        sources = [(str(path), _read(path))]
    else:
        raise DocumentError(f"{path}: no such fixture file or folder")
    merged: dict = {"generate": {}, "users": [], "groups": [], "events": [], "segments": [],
                    "frigade": {"generate": {}, "flows": [], "webhooks": []}}
    seen_flows: dict = {}
    for name, text in sources:
        doc, problems = check(name, text, schemas, seen_flows)
        if kind_of(doc) == "scenario":
            raise DocumentError(f"{name}: is a scenario (it has steps), not fixtures: load it with --scenario")
        if problems:
            raise DocumentError("\n".join(problems))
        doc = doc or {}
        merged["generate"].update(doc.get("generate", {}))
        for key in ("users", "groups", "events", "segments"):
            merged[key].extend(doc.get(key, []))
        frigade = doc.get("frigade", {})
        merged["frigade"]["generate"].update(frigade.get("generate", {}))
        for key in ("flows", "webhooks"):
            merged["frigade"][key].extend(frigade.get(key, []))
    return merged
