"""Attribute operations (set, set_once, add, subtract, append, prepend, remove), data types and coercion."""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone

from mockserver.errors import InvalidRequest, show

OPERATIONS = ("set", "set_once", "add", "subtract", "append", "prepend", "remove")
_DATETIME_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")
MISSING = object()


def format_datetime(moment: datetime) -> str:
    """The one timestamp format of every Userflow object: 2022-10-17T12:34:56.000+00:00 (years zero-padded)."""
    return moment.astimezone(timezone.utc).isoformat(timespec="milliseconds")  # milliseconds cut, not rounded


_second, _second_text = None, ""  # the last whole second utc_now() formatted, and its text up to the seconds


def utc_now() -> str:
    """format_datetime of the current time, read off the clock in whole milliseconds; the date and time up to the
    second are formatted once a second (formatting a datetime costs a microsecond, more than the rest together)."""
    global _second, _second_text
    second, millis = divmod(time.time_ns() // 1_000_000, 1000)
    if second != _second:
        _second, _second_text = second, datetime.fromtimestamp(second, timezone.utc).isoformat()[:19]
    return f"{_second_text}.{millis:03d}+00:00"


def parse_datetime(value: str) -> datetime | None:
    if not isinstance(value, str) or not _DATETIME_SHAPE.match(value):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        moment.astimezone(timezone.utc)  # an offset can push it past year 1 or 9999
    except (ValueError, OverflowError):
        return None
    return moment


# A number given for a datetime is a Unix time: seconds below this (year 5138), milliseconds from it on (what
# JavaScript's Date.now() gives); either way it must land in years 1 to 9999.
MILLISECONDS_FROM = 100_000_000_000


def datetime_from_number(value, field: str) -> datetime:
    seconds = value if abs(value) < MILLISECONDS_FROM else value / 1000
    try:
        moment = datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise InvalidRequest(f"{field}: {show(value)} is not a time: a number is read as Unix seconds, or as milliseconds from "
                             f"{MILLISECONDS_FROM:,} on, and must fall in years 1 to 9999") from None
    return moment


def infer_type(value) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "list"
    return "datetime" if parse_datetime(value) else "string"


def _number_text(value) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def coerce(value, data_type: str, field: str):
    """The value as stored for an attribute of `data_type`, or a 400 naming the field."""
    def fail():
        raise InvalidRequest(f"{field}: {show(value)} cannot be stored as data type {data_type}")

    if data_type == "string":
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (int, float)):
            return _number_text(value)
        return value if isinstance(value, str) else fail()
    if data_type == "number":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                fail()
            return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
        fail()
    if data_type == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        fail()
    if data_type == "datetime":
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return format_datetime(datetime_from_number(value, field))
        moment = parse_datetime(value)
        return format_datetime(moment) if moment else fail()
    if data_type == "list":
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        fail()
    fail()


def _as_strings(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


class Update:
    """Attribute changes worked out in full before anything is written, so a 400 leaves no trace."""

    def __init__(self, attributes: dict, changes: dict, scope: str, definitions, field: str = "attributes"):
        self.scope = scope
        self.staged = dict(attributes)
        self.new_types: dict[str, str] = {}  # attributes without a definition yet: the data type each is defined with
        data_type = definitions.data_type
        for name, spec in changes.items():
            self._stage(name, spec if isinstance(spec, dict) else {"set": spec}, data_type(scope, name), field)
        self.changed = {}
        for name in changes:
            before, after = attributes.get(name, MISSING), self.staged.get(name, MISSING)
            if before != after or type(before) is not type(after):
                self.changed[name] = (before, after)

    def _stage(self, name: str, operation: dict, declared: str | None, field: str) -> None:
        op = next(iter(operation))  # exactly one operation (the schema's rule), with data_type before or after it
        if op == "data_type":
            op = next(o for o in OPERATIONS if o in operation)
        arg = operation[op]
        wanted = operation.get("data_type")
        if wanted and declared and wanted != declared:
            raise InvalidRequest(f"{field}.{name}: data_type {wanted} conflicts with the attribute's data type {declared}")
        current = self.staged.get(name, MISSING)
        if op == "set" or op == "set_once":
            if arg is None:
                if op == "set":
                    self.staged.pop(name, None)
                return
            if op == "set_once" and current is not MISSING:
                return
            data_type = wanted or declared or infer_type(arg)
            self.staged[name] = coerce(arg, data_type, f"{field}.{name}")
        elif op == "add" or op == "subtract":
            data_type = wanted or declared or "number"
            if data_type != "number":
                raise InvalidRequest(f"{field}.{name}: {op} only works on number attributes; this one is {data_type}")
            base = current if isinstance(current, (int, float)) and not isinstance(current, bool) else 0
            self.staged[name] = base + arg if op == "add" else base - arg
        else:
            data_type = wanted or declared or "list"
            if data_type != "list":
                raise InvalidRequest(f"{field}.{name}: {op} only works on list attributes; this one is {data_type}")
            base = list(current) if isinstance(current, list) else []
            values = list(dict.fromkeys(_as_strings(arg)))
            present = set(base)  # membership in sets: linear in the lists' lengths, never their product
            if op == "append":
                self.staged[name] = base + [v for v in values if v not in present]
            elif op == "prepend":
                self.staged[name] = [v for v in values if v not in present] + base
            else:
                removed = set(values)
                self.staged[name] = [v for v in base if v not in removed]
        if declared is None:
            self.new_types[name] = data_type

    def commit(self, attributes: dict, definitions) -> dict:
        """Write the staged values, defining the attributes first used here; return {name: (before, after)} of what changed."""
        for name, data_type in self.new_types.items():
            definitions.ensure(self.scope, name, data_type)
        attributes.clear()
        attributes.update(self.staged)
        return self.changed
