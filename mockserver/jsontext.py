"""JSON in and out: strict decoding of request bodies and parameters, fast compact encoding of responses."""
import json
import math
import re

import orjson

MAX_DEPTH = 64


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


SURROGATE = re.compile("[\ud800-\udfff]")


class Unusable(ValueError):
    """JSON that parses but holds what no client means and no JSON encoder can write back: a lone surrogate (invalid
    Unicode) or a number beyond a float (1e400, read as infinity)."""


def _field(path: list) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" if i else str(p) for i, p in enumerate(path)) or "body"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")  # a message must itself be valid Unicode


def _clean(node, level: int) -> bool:
    """Whether nothing in `node` is a problem check() names: the quick answer for nearly every body."""
    kind = type(node)
    if kind is str:
        return node.isascii() or not SURROGATE.search(node)
    if kind is dict:
        if level > MAX_DEPTH:
            return False
        for key, child in node.items():
            if not (_clean(key, level) and _clean(child, level + 1)):
                return False
        return True
    if kind is list:
        if level > MAX_DEPTH:
            return False
        for child in node:
            if not _clean(child, level + 1):
                return False
        return True
    if kind is float:
        return math.isfinite(node)
    return kind is int or kind is bool or node is None  # anything else (a subclass): check() decides


def check(value) -> None:
    """Depth, then the values: ValueError (Unusable) naming the first field that cannot be kept."""
    if _clean(value, 1):
        return
    stack = [(value, 1, [])]
    while stack:
        node, level, path = stack.pop()
        if isinstance(node, str):
            if SURROGATE.search(node):
                raise Unusable(f"{_field(path)}: invalid Unicode (a lone surrogate, \\u{ord(SURROGATE.search(node).group()):04x})")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise Unusable(f"{_field(path)}: a number too large to represent (it would be infinite)")
        elif isinstance(node, (dict, list)):
            if level > MAX_DEPTH:
                raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if isinstance(key, str) and SURROGATE.search(key):
                    raise Unusable(f"{_field(path + [key])}: invalid Unicode in a name (a lone surrogate)")
                stack.append((child, level + 1, path + [key]))


class _Infinite(ValueError):
    """A number beyond a float: decoding stops, and check() names where it is."""


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _Infinite(text)
    return value


# made once: json.loads with an option builds a new decoder on every call
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_LENIENT = json.JSONDecoder(parse_constant=_reject_constant)  # reads an infinite number, for check() to name its field


def loads(text: str):
    """json.loads that refuses NaN, Infinity, nesting deeper than MAX_DEPTH (which no Userflow body needs), lone
    surrogates and numbers beyond a float: whatever is stored can be answered back as valid JSON.

    The walk through the value (check) is needed only where the text can hold what it looks for: a lone surrogate
    comes from a \\u escape or is in the text itself (a query string's undecodable bytes, as aiohttp's Python parser
    keeps them), and nesting deeper than MAX_DEPTH needs more brackets than that."""
    try:
        try:
            value = _DECODER.decode(text)
        except _Infinite:
            value = _LENIENT.decode(text)  # the same text, read again for check() to name the field
        else:
            if ("\\u" not in text and (text.isascii() or not SURROGATE.search(text))
                    and text.count("{") + text.count("[") <= MAX_DEPTH):
                return value
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None
    check(value)
    return value


def dumps(payload) -> bytes:
    """Compact UTF-8 JSON; orjson where it can (it refuses integers beyond 64 bits, which json takes). Never NaN or
    Infinity, which are not JSON."""
    try:
        return orjson.dumps(payload)
    except TypeError:  # a big integer, or a lone surrogate that came in through a URL: written, never a 500
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode("utf-8", "replace")


def without_nulls(value):
    """Explicit nulls of optional fields dropped: generated clients and read-modify-write send `"groups": null` for "not
    given". An attribute map keeps its nulls, where null means unset."""
    if isinstance(value, dict):
        return {k: v if k == "attributes" else without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value
