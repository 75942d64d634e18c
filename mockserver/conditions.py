"""Condition filtering: the JSON `condition` parameter, checked against condition.json, evaluated per object."""
from __future__ import annotations

from mockserver.attributes import MISSING, coerce, parse_datetime
from mockserver.errors import InvalidRequest, show
from mockserver.jsontext import loads

MAX_MATCHES = 10_000


def parse(raw: str, schemas) -> dict:
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
    prepared = dict(condition)
    for field in ("value", "value2"):
        if field in condition:
            try:
                prepared[field] = coerce(condition[field], data_type, f"{where}.{field}")
            except InvalidRequest:
                raise InvalidRequest(f"{where}.{field}: {show(condition[field])} cannot be compared with "
                                     f"{condition['attribute_name']}, a {data_type} attribute") from None
    return prepared


def matches(condition: dict, values_of) -> bool:
    """`values_of(attribute_name)` gives the candidate values (one per related object); any may match."""
    if condition["type"] == "clause":
        results = (matches(child, values_of) for child in condition["conditions"])
        return all(results) if condition["operator"] == "and" else any(results)
    return any(_test(condition, value) for value in values_of(condition["attribute_name"]))


def _comparable(a, b):
    """Numbers compare as numbers, datetimes as instants, anything else not at all."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) and not isinstance(b, bool):
        return a, b
    left, right = parse_datetime(a), parse_datetime(b)
    if left and right:
        return left, right
    return None


def _folded(value):
    """Strings compare without regard to case."""
    return value.casefold() if isinstance(value, str) else value


def _is_empty(value) -> bool:
    return value is MISSING or value is None or value == "" or value == []


def _test(c: dict, value) -> bool:
    op = c["operator"]
    if op == "empty":
        return _is_empty(value)
    if op == "not_empty":
        return not _is_empty(value)
    if op in ("true", "false"):
        return value is (op == "true")
    if value is MISSING:
        return op in ("ne", "not_contains", "excludes_all", "excludes_any")
    if op in ("includes_all", "includes_any", "excludes_all", "excludes_any"):
        wanted = c.get("values", c.get("value"))
        wanted = [_folded(wanted)] if isinstance(wanted, str) else [_folded(str(w)) for w in wanted]
        have = [_folded(v) for v in value] if isinstance(value, list) else [_folded(value)]
        result = all(w in have for w in wanted) if op.endswith("_all") else any(w in have for w in wanted)
        return result if op.startswith("includes") else not result
    target = c["value"]
    if op in ("eq", "ne"):
        pair = _comparable(value, target)
        if pair:
            equal = pair[0] == pair[1]
        elif isinstance(value, list):
            equal = _folded(target) in [_folded(v) for v in value]
        else:
            equal = _folded(value) == _folded(target) and type(value) is type(target)
        return equal if op == "eq" else not equal
    if op in ("contains", "not_contains", "starts_with", "ends_with"):
        if not isinstance(value, str) or not isinstance(target, str):
            return op == "not_contains"
        value, target = value.casefold(), target.casefold()
        if op == "starts_with":
            return value.startswith(target)
        if op == "ends_with":
            return value.endswith(target)
        return (target in value) == (op == "contains")
    if op == "between":
        low, high = _comparable(value, target), _comparable(value, c["value2"])
        return bool(low and high) and low[1] <= low[0] <= high[1]
    pair = _comparable(value, target)
    if not pair:
        return False
    left, right = pair
    return {"gt": left > right, "gte": left >= right, "lt": left < right, "lte": left <= right}[op]


def filter_count_guard(count: int) -> None:
    if count > MAX_MATCHES:
        raise InvalidRequest(f"condition: matches {count} records; condition filtering is limited to {MAX_MATCHES:,} matches, narrow it")
