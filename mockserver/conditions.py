"""Condition filtering: the JSON `condition` parameter, checked against condition.json, evaluated per object."""
from __future__ import annotations

from mockserver.attributes import MISSING, parse_datetime
from mockserver.jsontext import loads
from mockserver.errors import InvalidRequest

MAX_MATCHES = 10_000


def parse(raw: str, schemas) -> dict:
    try:
        condition = loads(raw)
    except ValueError as exc:
        raise InvalidRequest(f"condition: not valid JSON ({exc})") from None
    schemas.validate("userflow/condition.json", condition, root="condition")
    return condition


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
        wanted = [wanted] if isinstance(wanted, str) else [str(w) for w in wanted]
        have = value if isinstance(value, list) else [value]
        result = all(w in have for w in wanted) if op.endswith("_all") else any(w in have for w in wanted)
        return result if op.startswith("includes") else not result
    target = c["value"]
    if op in ("eq", "ne"):
        pair = _comparable(value, target)
        equal = pair[0] == pair[1] if pair else value == target or (isinstance(value, list) and target in value)
        return equal if op == "eq" else not equal
    if op in ("contains", "not_contains", "starts_with", "ends_with"):
        if not isinstance(value, str) or not isinstance(target, str):
            return op == "not_contains"
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
