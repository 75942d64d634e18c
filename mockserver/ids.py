"""Ids, secrets and tokens made at run time: each a hash of a material (the seed, or what an environment derives
from the seed, its key and its generation) and a counter. The same material gives the same ids on every run and
machine, two materials never give the same, and the whole state of a source is two numbers."""
from __future__ import annotations

import hashlib
import uuid


class Ids:
    __slots__ = ("material", "drawn")

    def __init__(self, material: int):
        self.material, self.drawn = material, 0

    def _bytes(self, size: int) -> bytes:
        self.drawn += 1
        return hashlib.blake2b(f"{self.material}:{self.drawn}".encode(), digest_size=size).digest()

    def uuid(self) -> str:
        return str(uuid.UUID(bytes=self._bytes(16), version=4))

    def token(self, alphabet: str, length: int) -> str:
        return "".join(alphabet[b % len(alphabet)] for b in self._bytes(length))

    def hex(self, digits: int) -> str:
        return self._bytes((digits + 1) // 2).hex()[:digits]

    def __getstate__(self):
        return self.material, self.drawn

    def __setstate__(self, state):
        self.material, self.drawn = state
