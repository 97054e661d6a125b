"""A small LRU mapping: every per-request cache of :class:`~.backend.LocalLCM` is bounded."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["LRU"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A mapping that keeps the ``size`` most recently used entries and drops the oldest.

    Used for everything :class:`~.backend.LocalLCM` caches per request parameter (prompt
    embeddings, w-embeddings, schedules, reused buffers), so that a long-running server whose
    clients vary prompts, guidance, steps or strength freely keeps bounded memory. Not
    thread-safe: LocalLCM uses its caches under its model lock.
    """

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"size: must be at least 1, got {size}")
        self.size = size
        self._d: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value for ``key`` (now the most recently used), or None."""
        value = self._d.get(key)
        if value is not None:
            self._d.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> V:
        """Store ``value`` as the most recently used, drop the oldest beyond ``size``; returns
        ``value``."""
        self._d[key] = value
        self._d.move_to_end(key)
        while len(self._d) > self.size:
            self._d.popitem(last=False)
        return value

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        """The cached value for ``key``, or ``make()`` stored under it."""
        value = self.get(key)
        return self.put(key, make()) if value is None else value

    def keys(self) -> list[K]:
        """The keys, oldest first."""
        return list(self._d)

    def values(self) -> list[V]:
        """The values, oldest first (reading them changes no order)."""
        return list(self._d.values())

    def pop(self, key: K) -> V | None:
        """Remove ``key``; its value, or None."""
        return self._d.pop(key, None)

    def clear(self) -> None:
        """Drop every entry."""
        self._d.clear()

    def __contains__(self, key: object) -> bool:
        return key in self._d

    def __len__(self) -> int:
        return len(self._d)
