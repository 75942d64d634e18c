"""One bounded log for everything the server keeps of what happened: the journal, the webhook attempts, the drift."""
from __future__ import annotations

import itertools
import math
from collections import deque
from typing import Callable, TypeVar

T = TypeVar("T")


class BoundedLog:
    """Entries, oldest first, at most `size` of them and `budget` bytes (what add() is told each costs, an estimate):
    past either bound the oldest go, never the newest, counted in `dropped`. Every entry has a seq, its number among all
    ever added, so a reader can ask for only what came after the last one it saw."""

    def __init__(self, size: int, budget: float = math.inf):
        self._items: deque[tuple[int, int, object]] = deque()  # (seq, cost, entry)
        self.size, self.budget = max(size, 1), budget
        self.bytes = 0
        self.dropped = 0
        self._seqs = itertools.count(1)

    def add(self, make: Callable[..., T], cost: int = 0, *args) -> T:
        """Add the entry `make(seq, *args)` builds; then drop the oldest while a bound is passed."""
        seq = next(self._seqs)
        entry = make(seq, *args)
        self._items.append((seq, cost, entry))
        self.bytes += cost
        while len(self._items) > self.size or (self.bytes > self.budget and len(self._items) > 1):
            self.bytes -= self._items.popleft()[1]
            self.dropped += 1
        return entry

    def select(self, keep: Callable[[T], bool] | None = None, since: int = 0, limit: int | None = None) -> list:
        """The entries after `since` (a seq) that `keep` accepts, the newest `limit` of them, oldest first."""
        found = [entry for seq, _, entry in self._items if seq > since and (keep is None or keep(entry))]
        return found[-limit:] if limit else found

    def remove(self, drop: Callable[[T], bool]) -> int:
        """Remove the entries `drop` accepts (not counted as dropped); how many went."""
        before = len(self._items)
        self._items = deque(item for item in self._items if not drop(item[2]))
        self.bytes = sum(cost for _, cost, _ in self._items)
        return before - len(self._items)

    def __len__(self) -> int:
        return len(self._items)
