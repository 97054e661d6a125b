"""Seeded noise, drawn once per seed and replayed: the draws of a live session cost nothing.

While a person draws, the Studio keeps the seed fixed, so every frame draws the very same
standard-normal tensors from a generator seeded the same way: the VAE posterior sample, the
img2img ``add_noise`` noise, one noise per LCM step. On a CPU each 64x64x4 draw costs about
0.2 ms (a few launches on a GPU), a frame needs three to five of them, and they are identical
from frame to frame. A :class:`NoiseTape` records the draws of one seed the first time they are
asked for and hands back the same tensors afterwards; a :class:`NoiseCursor` walks one frame
through a tape. The values are exactly those of a fresh ``torch.Generator(device).manual_seed(
seed)`` drawing the same shapes and dtypes in the same order (the tape re-records itself when a
frame asks for a different sequence), so results do not depend on the cache.

Replayed tensors are shared between frames: **nothing may modify them in place** (the lean loop
never does; ``tests/backends/local/test_noise.py`` checks that repeated frames stay identical).
"""

from __future__ import annotations

from typing import Any

from .cache import LRU

__all__ = ["NoiseCursor", "NoiseTape", "NoiseTapes"]


class NoiseTape:
    """The standard-normal draws of one generator seeded with ``seed`` on ``device``.

    Its length is bounded by the longest sequence a frame asks for (the schema allows at most
    50 steps, so about 52 draws of one latent each)."""

    def __init__(self, torch: Any, seed: int, device: Any) -> None:
        self._torch = torch
        self.seed = seed
        self.device = device
        self._keys: list[tuple[tuple[int, ...], Any]] = []
        self._values: list[Any] = []
        self._gen = torch.Generator(device).manual_seed(seed)

    def __len__(self) -> int:
        return len(self._keys)

    def _restart(self, keys: list[tuple[tuple[int, ...], Any]]) -> None:
        """A fresh generator, and the draws for ``keys`` recorded again from it."""
        self._gen = self._torch.Generator(self.device).manual_seed(self.seed)
        self._keys, self._values = [], []
        for key in keys:
            self._record(key)

    def _record(self, key: tuple[tuple[int, ...], Any]) -> Any:
        shape, dtype = key
        t = self._torch.randn(shape, generator=self._gen, device=self.device, dtype=dtype)
        self._keys.append(key)
        self._values.append(t)
        return t

    def draw(self, before: list[tuple[tuple[int, ...], Any]], shape: tuple[int, ...],
             dtype: Any) -> Any:
        """The draw of ``shape`` and ``dtype`` that follows the draws ``before`` (``(shape,
        dtype)`` pairs, in order) of a fresh generator.

        A recorded draw is returned as it is; a new one is drawn and recorded; a sequence that
        departs from the recorded one (another step count, size or dtype) restarts the tape
        from the seed and records ``before`` again."""
        key = (tuple(shape), dtype)
        i = len(before)
        if self._keys[:i] != before:
            self._restart(before)
        elif i < len(self._keys):
            if self._keys[i] == key:
                return self._values[i]
            self._restart(before)
        return self._record(key)


class NoiseCursor:
    """One frame's walk through a :class:`NoiseTape`; stands in for a ``torch.Generator`` in
    :func:`~.loop.randn` (which calls :meth:`normal`)."""

    def __init__(self, tape: NoiseTape) -> None:
        self.tape = tape
        self.device = tape.device
        self._keys: list[tuple[tuple[int, ...], Any]] = []

    def normal(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """The next standard-normal draw of this frame (shared: do not modify it)."""
        t = self.tape.draw(self._keys, shape, dtype)
        self._keys.append((tuple(shape), dtype))
        return t


class NoiseTapes:
    """The tapes of the most recently used ``size`` (seed, device) pairs. Not thread-safe:
    :class:`~.backend.LocalLCM` uses it under its model lock."""

    def __init__(self, torch: Any, size: int = 16) -> None:
        self._torch = torch
        self._tapes: LRU[tuple[int, str], NoiseTape] = LRU(size)

    def cursor(self, seed: int, device: Any) -> NoiseCursor:
        """A cursor at the start of ``seed``'s tape on ``device`` (made on first use)."""
        dev = self._torch.device(device)
        tape = self._tapes.get_or_make((seed, str(dev)),
                                       lambda: NoiseTape(self._torch, seed, dev))
        return NoiseCursor(tape)

    def clear(self) -> None:
        """Drop every tape."""
        self._tapes.clear()
