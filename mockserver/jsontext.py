"""JSON in and out: strict decoding of request bodies and parameters, fast compact encoding of responses."""
import json

import orjson

MAX_DEPTH = 64


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def _depth(value) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def loads(text: str):
    """json.loads that refuses NaN, Infinity and nesting deeper than MAX_DEPTH (which no Userflow body needs)."""
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    if _depth(value) > MAX_DEPTH:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    return value


def dumps(payload) -> bytes:
    """Compact UTF-8 JSON; orjson where it can (it refuses integers beyond 64 bits, which json takes)."""
    try:
        return orjson.dumps(payload)
    except TypeError:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def without_nulls(value):
    """Explicit nulls of optional fields dropped: generated clients and read-modify-write send `"groups": null` for "not
    given". An attribute map keeps its nulls, where null means unset."""
    if isinstance(value, dict):
        return {k: v if k == "attributes" else without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value
