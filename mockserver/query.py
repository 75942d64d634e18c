"""Query-string access with the API's rules: repeated single values are errors, `x` and `x[]` merge."""
from __future__ import annotations

from multidict import MultiDictProxy

from mockserver.errors import InvalidRequest

LIST_PARAMS = ("limit", "starting_after", "order_by")


class Query:
    def __init__(self, query: MultiDictProxy, allowed: tuple[str, ...], strict: bool):
        self.raw = query
        self.allowed = allowed
        if strict:
            unknown = sorted({k.removesuffix("[]") for k in query} - set(allowed))
            if unknown:
                raise InvalidRequest(f"Unknown query parameter: {', '.join(unknown)} (--strict is on)")

    def one(self, name: str) -> str | None:
        values = self.raw.getall(name, []) + self.raw.getall(name + "[]", [])
        if len(values) > 1:
            raise InvalidRequest(f"{name}: given {len(values)} times, expected one value")
        return values[0] if values else None

    def many(self, name: str) -> list[str]:
        if not self.raw:
            return []
        values = self.raw.getall(name, []) + self.raw.getall(name + "[]", [])
        return [v for value in values for v in (value.split(",") if name == "expand" else [value]) if v]

    def required(self, name: str) -> str:
        value = self.one(name)
        if not value:
            raise InvalidRequest(f"{name}: is required")
        return value

    def items(self) -> list[tuple[str, str]]:
        """The recognised parameters as the client sent them, in order."""
        return [(k, v) for k, v in self.raw.items() if k.removesuffix("[]") in self.allowed]
