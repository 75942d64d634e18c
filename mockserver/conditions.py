"""Condition filtering: the JSON `condition` parameter, checked against condition.json, evaluated per object."""
from __future__ import annotations

import builtins
import functools
import operator

import orjson
from typing import Callable

from mockserver.attributes import MISSING, coerce, parse_datetime
from mockserver.errors import InvalidRequest, show
from mockserver.jsontext import loads

MAX_MATCHES = 10_000
STORED = "stored_as"  # prepare() notes the data type of the attribute a comparison reads


@functools.lru_cache(maxsize=256)  # the same condition comes again and again (paging through its matches)
def parse(raw: str, schemas) -> dict:
    """The condition `raw` (JSON text) as checked against condition.json; the same dict for the same text, read and
    never changed."""
    try:
        condition = loads(raw)
    except ValueError as exc:
        raise InvalidRequest(f"condition: not valid JSON ({exc})") from None
    schemas.validate("userflow/condition.json", condition, root="condition")
    return condition


COMPARED = ("eq", "ne", "gt", "gte", "lt", "lte", "between")


def prepare(condition: dict, type_of, where: str = "condition") -> dict:
    """The condition with each value in the data type of the attribute it is compared with (`type_of(attribute_name)`
    gives it, or None for an attribute never used): "10" against a number attribute is 10, 1664454896 against a
    datetime is that instant. A value that cannot be is a 400 naming it."""
    if condition["type"] == "clause":
        return {**condition, "conditions": [prepare(c, type_of, f"{where}.conditions[{i}]")
                                            for i, c in enumerate(condition["conditions"])]}
    data_type = type_of(condition["attribute_name"])
    if data_type in (None, "list") or condition["operator"] not in COMPARED:
        return condition
    prepared = {**condition, STORED: data_type}
    for field in ("value", "value2"):
        if field in condition:
            try:
                prepared[field] = coerce(condition[field], data_type, f"{where}.{field}")
            except InvalidRequest:
                raise InvalidRequest(f"{where}.{field}: {show(condition[field])} cannot be compared with "
                                     f"{condition['attribute_name']}, a {data_type} attribute") from None
    return prepared


def compile(condition: dict, read, cache: str | None = None, sample: list | None = None) -> Callable[[dict], bool]:
    """A prepared condition as one Python function of an object, written out and compiled once per distinct condition
    (a user scan then costs one call per user, not one per clause and comparison). `read(attribute_name)` is the
    key of the object's own attribute (a str), or a function giving the values of its related objects (any may match).
    Each comparison is its exact test (`_tester`); the common cases -- a number, a text, a stored datetime against a
    value of the same kind -- are also written inline, guarded so that anything else goes to the test. With `cache`
    (a name for `read`'s way of reading), a predicate that reads only the object itself is kept and reused. With a
    `sample` of the objects to be tested, each clause tests first what decides it most often on the sample (see
    _decisive_first)."""
    try:
        key = (orjson.dumps(condition, option=orjson.OPT_SORT_KEYS), cache) if cache else None
    except TypeError:  # an integer beyond 64 bits: compiled, not kept
        key = None
    predicate = _COMPILED.get(key) if key else None
    if predicate is not None:
        return predicate
    if sample:
        condition = _decisive_first(condition, read, sample)
    names: dict = {"M": MISSING, "NUMBERS": (int, float)}
    source = f"def predicate(obj):\n    A = obj['attributes']\n    return {_expression(condition, read, names)}\n"
    exec(_code(source).replace(), names)  # a code object of its own: the interpreter specializes code for one set of globals
    predicate = names.pop("predicate")  # its globals keep no reference back to it: freed without the collector
    if key and not any(name.startswith("g") for name in names):  # reads only the object itself: the same anywhere
        if len(_COMPILED) >= 512:
            _COMPILED.clear()
        _COMPILED[key] = predicate
    return predicate


_COMPILED: dict = {}  # (prepared condition, how it is read) -> its predicate, for conditions that read only the object


def _decisive_first(condition: dict, read, sample: list) -> dict:
    """The condition with each clause's conditions in the order that settles it soonest on `sample`: for `and`, the
    one failing most often first; for `or`, the one passing most often. Every test is a pure function of the object
    that cannot raise, so the order changes only how much of a clause is evaluated, never its answer."""
    if condition["type"] != "clause" or len(condition["conditions"]) < 2:
        return condition
    children = [_decisive_first(child, read, sample) for child in condition["conditions"]]
    passed = [sum(map(compile(child, read), sample)) for child in children]
    wanted = condition["operator"] == "and"  # and: the fewest passes first; or: the most
    order = sorted(range(len(children)), key=lambda i: passed[i] if wanted else -passed[i])
    return {**condition, "conditions": [children[i] for i in order]}


@functools.lru_cache(maxsize=512)
def _code(source: str):
    """A predicate's source compiled: the source names its values (c0, k0, t0 ...) and holds none, so conditions of one
    shape are compiled once, whatever they compare with (each predicate then runs a copy of its own)."""
    return builtins.compile(source, "<condition>", "exec")
_SYMBOLS = {"eq": "==", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def _expression(c: dict, read, names: dict) -> str:
    if c["type"] == "clause":
        parts = [f"({_expression(child, read, names)})" for child in c["conditions"]]
        joiner = " and " if c["operator"] == "and" else " or "
        return joiner.join(parts) or ("True" if c["operator"] == "and" else "False")
    i = len(names)
    names[f"t{i}"] = _tester(c)
    how = read(c["attribute_name"])
    if callable(how):
        names[f"g{i}"] = how
        return f"any(map(t{i}, g{i}(obj)))"
    names[f"k{i}"] = how
    value = f"(v := A.get(k{i}, M))"
    op, target = c["operator"], c.get("value")
    if op in _SYMBOLS and _number(target):
        names[f"c{i}"] = target
        return f"v {_SYMBOLS[op]} c{i} if {value}.__class__ in NUMBERS else t{i}(v)"
    if op in _SYMBOLS and c.get(STORED) == "datetime" and _canonical(target):
        names[f"c{i}"] = target
        # a datetime attribute stores only the canonical form: a text of its length is one
        return f"v {_SYMBOLS[op]} c{i} if {value}.__class__ is str and len(v) == 29 else t{i}(v)"
    if op in ("eq", "ne") and isinstance(target, str) and parse_datetime(target) is None:
        names[f"c{i}"] = target.casefold()
        return f"v.casefold() {_SYMBOLS[op]} c{i} if {value}.__class__ is str else t{i}(v)"
    return f"t{i}(A.get(k{i}, M))"


def _tester(c: dict) -> Callable[[object], bool]:
    """The test of one value (MISSING: the object has no such attribute) against one comparison."""
    op = c["operator"]
    if op == "empty":
        return _is_empty
    if op == "not_empty":
        return lambda value: not _is_empty(value)
    if op in ("true", "false"):
        wanted = op == "true"
        return lambda value: value is wanted
    absent = op in ("ne", "not_contains", "excludes_all", "excludes_any")  # the answer when the value is MISSING
    if op in ("includes_all", "includes_any", "excludes_all", "excludes_any"):
        wanted = c.get("values", c.get("value"))
        wanted = [_folded(wanted)] if isinstance(wanted, str) else [_folded(str(w)) for w in wanted]
        every, includes = op.endswith("_all"), op.startswith("includes")

        def listed(value) -> bool:
            if value is MISSING:
                return absent
            have = [_folded(v) for v in value] if isinstance(value, list) else [_folded(value)]
            result = all(w in have for w in wanted) if every else any(w in have for w in wanted)
            return result if includes else not result
        return listed
    if op in ("contains", "not_contains", "starts_with", "ends_with"):
        target = c["value"]
        folded = target.casefold() if isinstance(target, str) else None

        def text(value) -> bool:
            if value is MISSING:
                return absent
            if not isinstance(value, str) or folded is None:
                return op == "not_contains"
            value = value.casefold()
            if op == "starts_with":
                return value.startswith(folded)
            if op == "ends_with":
                return value.endswith(folded)
            return (folded in value) == (op == "contains")
        return text
    target, as_text = c["value"], c.get(STORED) == "datetime"
    if op in ("eq", "ne"):
        compare, folded, kind, want = _comparer(target, as_text), _folded(target), type(target), op == "eq"

        def equal(value) -> bool:
            if value is MISSING:
                return absent
            pair = compare(value)
            if pair:
                return (pair[0] == pair[1]) == want
            if isinstance(value, list):
                return (folded in [_folded(v) for v in value]) == want
            return (_folded(value) == folded and type(value) is kind) == want
        return equal
    if op == "between":
        as_text = as_text and _canonical(target) and _canonical(c["value2"])  # both bounds as text, or both as instants
        low_of, high_of = _comparer(target, as_text), _comparer(c["value2"], as_text)

        def between(value) -> bool:
            if value is MISSING:
                return False
            low, high = low_of(value), high_of(value)
            return bool(low and high) and low[1] <= low[0] <= high[1]
        return between
    compare, relation = _comparer(target, as_text), {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}[op]

    def ordered(value) -> bool:
        if value is MISSING:
            return False
        pair = compare(value)
        return bool(pair) and relation(pair[0], pair[1])
    return ordered


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _canonical(value) -> bool:
    """The one form a datetime attribute stores (2022-10-17T12:34:56.000+00:00, always valid: every value is coerced
    when written), so such texts of a datetime attribute sort as their instants."""
    return isinstance(value, str) and len(value) == 29 and value[23:] == "+00:00"


def _comparer(target, as_text: bool) -> Callable[[object], tuple | None]:
    """value -> (value, target) as numbers or as instants when both are one, else None ("not comparable"). The target's
    side is worked out once; with `as_text` (a datetime attribute) canonical values are compared as their text, which
    orders them as their instants."""
    if _number(target):
        return lambda value: (value, target) if _number(value) else None
    moment = parse_datetime(target)
    if moment is None:
        return lambda value: None
    as_text = as_text and _canonical(target)

    def instant(value):
        if as_text and _canonical(value):
            return value, target
        parsed = parse_datetime(value)
        return (parsed, moment) if parsed else None
    return instant


def _folded(value):
    """Strings compare without regard to case."""
    return value.casefold() if isinstance(value, str) else value


def _is_empty(value) -> bool:
    return value is MISSING or value is None or value == "" or value == []


def filter_count_guard(count: int) -> None:
    if count > MAX_MATCHES:
        raise InvalidRequest(f"condition: matches {count} records; condition filtering is limited to {MAX_MATCHES:,} matches, narrow it")
