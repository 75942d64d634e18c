"""Strict JSON decoding shared by request bodies and query parameters."""
import json


def _reject_constant(name):
    raise ValueError(f"{name} is not valid JSON")


def loads(text: str):
    """json.loads that refuses NaN and Infinity, which are not JSON."""
    return json.loads(text, parse_constant=_reject_constant)
