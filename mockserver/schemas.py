"""Load schemas/, compile validators once, validate request bodies (and, in tests, responses)."""
from __future__ import annotations

import copy
import json
from importlib.resources import files

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from mockserver.attributes import parse_datetime
from mockserver.errors import InvalidRequest

BASE_URI = "https://mockserver.dev/schemas/"
MAX_REPORTED = 10

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time")
def _is_datetime(value) -> bool:
    """ISO 8601 with a date and a time, that stays within years 1 to 9999 in UTC (the same rule as stored times)."""
    return isinstance(value, str) and parse_datetime(value) is not None


def _walk_files(folder, prefix=""):
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.is_dir():
            yield from _walk_files(entry, f"{prefix}{entry.name}/")
        elif entry.name.endswith(".json"):
            yield prefix + entry.name, json.loads(entry.read_text(encoding="utf-8"))


def load_documents() -> dict[str, dict]:
    """Every schema document, keyed by its path below schemas/ (e.g. 'userflow/user.json')."""
    return dict(_walk_files(files("mockserver.schema_files")))


def _forbid_unknown_properties(schema):
    """--strict: each object marked "x-strict" (a request body object) rejects undeclared properties."""
    if isinstance(schema, dict):
        if schema.get("x-strict"):
            schema["unevaluatedProperties"] = False
        for value in schema.values():
            _forbid_unknown_properties(value)
    elif isinstance(schema, list):
        for value in schema:
            _forbid_unknown_properties(value)


def field_path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(error, root: str = "") -> str:
    """One line naming the field and the rule: 'attributes.plan: <message> (rule: type)'."""
    parts = list(error.absolute_path)
    custom = error.schema.get("x-messages", {}).get(error.validator) if isinstance(error.schema, dict) else None
    message = custom or error.message
    if error.validator == "required" and isinstance(error.instance, dict):
        parts.append(next(p for p in error.validator_value if p not in error.instance))
        message = custom or "is required"
    path = field_path([root, *parts] if root else parts) or "body"
    if custom and error.validator in ("pattern", "format", "const", "enum", "type"):
        shown = repr(error.instance)
        message += f" (got {shown if len(shown) <= 80 else shown[:77] + '...'})"
    return f"{path}: {message} (rule: {error.validator})"


class Schemas:
    """Validators for every document in schemas/, compiled once.

    With strict=True, request bodies (validate) also reject properties their schema does not declare;
    errors() always checks the documents as written (fixtures, responses).

    Request bodies are checked by jsonschema-rs first (about a microsecond); only a body it rejects goes
    through the Python validator, which words the problems and has the last word, so what is accepted
    and every message are exactly the Python validator's.
    """

    def __init__(self, strict: bool = False):
        self.documents = load_documents()
        self._validators = self._compile_all(self.documents)
        request_documents = self.documents
        if strict:
            request_documents = copy.deepcopy(self.documents)
            _forbid_unknown_properties(request_documents)
        self._request_validators = self._validators if not strict else self._compile_all(request_documents)
        self._fast = self._compile_fast(request_documents)

    @staticmethod
    def _compile_all(documents: dict) -> dict[str, Draft202012Validator]:
        registry = Registry().with_resources(
            (BASE_URI + name, Resource.from_contents(doc, default_specification=DRAFT202012)) for name, doc in documents.items())
        return {name: Draft202012Validator({"$ref": BASE_URI + name}, registry=registry, format_checker=FORMATS) for name in documents}

    @staticmethod
    def _compile_fast(documents: dict) -> dict:
        registry = jsonschema_rs.Registry([(BASE_URI + name, doc) for name, doc in documents.items()])
        return {name: jsonschema_rs.Draft202012Validator({"$ref": BASE_URI + name}, registry=registry, validate_formats=True,
                                                         formats={"date-time": _is_datetime})
                for name in documents}

    @staticmethod
    def _describe_all(validator, instance, root: str) -> list[str]:
        return [text for _, text in Schemas._located(validator, instance, root)]

    @staticmethod
    def _located(validator, instance, root: str = "") -> list[tuple[list, str]]:
        found = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
        return [(list(e.absolute_path), describe(e, root)) for e in found]

    def errors(self, name: str, instance, root: str = "") -> list[str]:
        return self._describe_all(self._validators[name], instance, root)

    def located_errors(self, name: str, instance) -> list[tuple[list, str]]:
        """Each problem with the path of the value it is about (for pointing at a line of a file)."""
        return self._located(self._validators[name], instance)

    def _fast_accepts(self, name: str, instance) -> bool:
        try:
            return self._fast[name].is_valid(instance)
        except (ValueError, OverflowError):  # what it cannot take (e.g. integers beyond 64 bits) the Python validator checks
            return False

    def validate(self, name: str, instance, root: str = "") -> None:
        """Check a request body (or parameter); raise InvalidRequest naming each failing field and rule."""
        if self._fast_accepts(name, instance):
            return
        problems = self._describe_all(self._request_validators[name], instance, root)
        if problems:
            more = len(problems) - MAX_REPORTED
            text = "; ".join(problems[:MAX_REPORTED]) + (f"; and {more} more" if more > 0 else "")
            raise InvalidRequest(f"Invalid {root or 'request body'}: {text}", details=problems)
