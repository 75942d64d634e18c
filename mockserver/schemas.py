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
from mockserver.errors import InvalidRequest, show

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


def missing_property(error) -> str:
    """The property a `required` error is about: jsonschema raises one error per missing property, naming it in its
    message (the first missing one, should that wording ever change)."""
    missing = [p for p in error.validator_value if p not in error.instance]
    return next((p for p in missing if error.message == f"{p!r} is a required property"), missing[0])


def describe(error, root: str = "") -> str:
    """One line naming the field and the rule: 'attributes.plan: <message> (rule: type)'."""
    parts = list(error.absolute_path)
    custom = error.schema.get("x-messages", {}).get(error.validator) if isinstance(error.schema, dict) else None
    message = custom or _json_quoted(error.message, error.instance)
    if error.validator == "required" and isinstance(error.instance, dict):
        parts.append(missing_property(error))
        message = custom or "is required"
    path = field_path([root, *parts] if root else parts) or "body"
    if custom and parts and error.validator in ("pattern", "format", "const", "enum", "type", "anyOf", "oneOf", "not"):
        message += f" (got {show(error.instance)})"
    return f"{path}: {message} (rule: {error.validator})"


def _json_quoted(message: str, instance) -> str:
    """jsonschema starts most messages with the value's Python repr (None, True); clients wrote JSON (null, true)."""
    shown = repr(instance)
    return show(instance, limit=10_000) + message[len(shown):] if message.startswith(shown) else message


TYPE_WORDS = {"string": "must be a string", "integer": "must be an integer number", "boolean": "must be a boolean value",
              "number": "must be a number conforming to the specified constraints", "object": "must be an object",
              "array": "must be an array", "null": "must be null"}


def class_validator(error, root: str = "") -> str:
    """The problem as NestJS's class-validator words it, the way Frigade answers: 'userId must be a string',
    'stepId should not be empty', 'property colour should not exist'; nested fields as 'data.steps.0.id'."""
    parts = [root, *error.absolute_path] if root else list(error.absolute_path)
    name = ".".join(map(str, parts))
    rule, value = error.validator, error.validator_value
    if rule in ("required", "dependentRequired") and isinstance(error.instance, dict):
        wanted = value if rule == "required" else next(v for k, v in value.items() if k in error.instance and
                                                       any(n not in error.instance for n in v))
        missing = next(p for p in wanted if p not in error.instance)
        return f"{'.'.join(map(str, [*parts, missing]))} should not be empty"
    if rule in ("unevaluatedProperties", "additionalProperties") and isinstance(error.instance, dict):
        declared = error.schema.get("properties", {})
        extra = next((k for k in error.instance if k not in declared), "")
        return f"property {'.'.join(map(str, [*parts, extra]))} should not exist"
    if rule == "type":
        kinds = [value] if isinstance(value, str) else [k for k in value if k != "null"]
        return f"{name} {' or '.join(TYPE_WORDS.get(k, 'must be ' + k) for k in kinds)}"
    if rule == "enum":
        return f"{name} must be one of the following values: {', '.join(map(str, value))}"
    if rule in ("minLength", "maxLength"):
        return f"{name} must be {'longer' if rule == 'minLength' else 'shorter'} than or equal to {value} characters"
    if rule in ("minimum", "maximum"):
        return f"{name} must not be {'less' if rule == 'minimum' else 'greater'} than {value}"
    if rule in ("minItems", "maxItems"):
        return f"{name} must contain {'at least' if rule == 'minItems' else 'no more than'} {value} elements"
    custom = error.schema.get("x-messages", {}).get(rule) if isinstance(error.schema, dict) else None
    return f"{name or 'body'} {custom or 'is invalid'}"


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
        self._fast_registry = jsonschema_rs.Registry([(BASE_URI + name, doc) for name, doc in request_documents.items()])
        self._fast: dict = {}  # name -> its jsonschema-rs validator, compiled when first used (start-up stays short)

    @staticmethod
    def _compile_all(documents: dict) -> dict[str, Draft202012Validator]:
        registry = Registry().with_resources(
            (BASE_URI + name, Resource.from_contents(doc, default_specification=DRAFT202012)) for name, doc in documents.items())
        return {name: Draft202012Validator({"$ref": BASE_URI + name}, registry=registry, format_checker=FORMATS) for name in documents}

    @staticmethod
    def _found(validator, instance) -> list:
        return sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])

    @staticmethod
    def _describe_all(validator, instance, root: str) -> list[str]:
        return [describe(e, root) for e in Schemas._found(validator, instance)]

    def errors(self, name: str, instance, root: str = "") -> list[str]:
        return self._describe_all(self._validators[name], instance, root)

    def problems(self, name: str, instance) -> list:
        """jsonschema's errors for a document as written (a fixture, an upstream's answer), in the order of where they
        are. A document the fast validator accepts has none (only a rejected one goes through the Python validator)."""
        if self._fast_accepts(name, instance):
            return []
        return self._found(self._validators[name], instance)

    def located_errors(self, name: str, instance) -> list[tuple[list, str]]:
        """Each problem with the path of the value it is about (for pointing at a line of a file)."""
        return [(list(e.absolute_path), describe(e)) for e in self.problems(name, instance)]

    def _fast_accepts(self, name: str, instance) -> bool:
        fast = self._fast.get(name)
        if fast is None:
            fast = self._fast[name] = jsonschema_rs.Draft202012Validator(
                {"$ref": BASE_URI + name}, registry=self._fast_registry, validate_formats=True, formats={"date-time": _is_datetime})
        try:
            return fast.is_valid(instance)
        except (ValueError, OverflowError):  # what it cannot take (e.g. integers beyond 64 bits) the Python validator checks
            return False

    def validate(self, name: str, instance, root: str = "") -> None:
        """Check a request body (or parameter); raise InvalidRequest naming each failing field and rule."""
        if self._fast_accepts(name, instance):
            return
        found = self._found(self._request_validators[name], instance)
        if found:
            problems = [describe(e, root) for e in found]
            more = len(problems) - MAX_REPORTED
            text = "; ".join(problems[:MAX_REPORTED]) + (f"; and {more} more" if more > 0 else "")
            raise InvalidRequest(f"Invalid {root or 'request body'}: {text}",
                                 details=list(dict.fromkeys(class_validator(e, root) for e in found)))
