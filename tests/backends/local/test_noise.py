"""Seeded noise tapes: replayed draws are exactly a fresh generator's, in any sequence."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

from lcm_widgets.backends.local.loop import randn  # noqa: E402
from lcm_widgets.backends.local.noise import NoiseTapes  # noqa: E402

LAT = (1, 4, 8, 8)


def fresh(seed: int, keys: list[tuple[tuple[int, ...], Any]]) -> list[Any]:
    g = torch.Generator("cpu").manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=dtype) for shape, dtype in keys]


def walk(tapes: NoiseTapes, seed: int, keys: list[tuple[tuple[int, ...], Any]]) -> list[Any]:
    cur = tapes.cursor(seed, "cpu")
    return [cur.normal(shape, dtype) for shape, dtype in keys]


def same(a: list[Any], b: list[Any]) -> bool:
    return len(a) == len(b) and all(torch.equal(x, y) and x.dtype == y.dtype
                                    for x, y in zip(a, b, strict=True))


def test_replay_is_exact_and_shared() -> None:
    """The second frame gets the very tensors of the first, equal to a fresh generator's."""
    tapes = NoiseTapes(torch)
    keys = [(LAT, torch.float32)] * 3
    first = walk(tapes, 7, keys)
    second = walk(tapes, 7, keys)
    assert same(first, fresh(7, keys))
    assert all(a is b for a, b in zip(first, second, strict=True))
    assert not torch.equal(walk(tapes, 8, keys)[0], first[0])


@pytest.mark.parametrize("second", [
    [(LAT, torch.float32)] * 5,                                      # longer: extends
    [(LAT, torch.float32)],                                          # shorter: a prefix
    [(LAT, torch.float32), ((1, 4, 16, 16), torch.float32)],         # another size midway
    [((1, 4, 16, 16), torch.float32)] * 2,                           # another size first
    [(LAT, torch.float32), (LAT, torch.float64), (LAT, torch.float32)],  # another dtype
])
def test_other_sequences_restart_from_the_seed(second: list[Any]) -> None:
    """A frame that asks for another sequence gets a fresh generator's values, and the frame
    after it (back to the first sequence) too."""
    tapes = NoiseTapes(torch)
    first = [(LAT, torch.float32)] * 3
    walk(tapes, 3, first)
    assert same(walk(tapes, 3, second), fresh(3, second))
    assert same(walk(tapes, 3, first), fresh(3, first))


def test_interleaved_cursors_of_one_seed() -> None:
    """Two samples with the same seed in one batch (a grid row) draw alike, interleaved."""
    tapes = NoiseTapes(torch)
    keys = [(LAT, torch.float32)] * 3
    a, b = tapes.cursor(5, "cpu"), tapes.cursor(5, "cpu")
    got_a, got_b = [], []
    for shape, dtype in keys:
        got_a.append(a.normal(shape, dtype))
        got_b.append(b.normal(shape, dtype))
    assert same(got_a, fresh(5, keys)) and same(got_b, fresh(5, keys))


def test_randn_mixes_generators_and_cursors_and_bounds() -> None:
    """randn stacks one draw per generator or cursor; the tape set keeps the newest seeds."""
    tapes = NoiseTapes(torch, size=2)
    gens = [tapes.cursor(1, "cpu"), torch.Generator("cpu").manual_seed(2)]
    out = randn((2, 4, 8, 8), gens, "cpu", torch.float32)
    assert torch.equal(out[0:1], fresh(1, [(LAT, torch.float32)])[0])
    assert torch.equal(out[1:2], fresh(2, [(LAT, torch.float32)])[0])
    for seed in (1, 2, 3):
        walk(tapes, seed, [(LAT, torch.float32)])
    assert len(tapes._tapes._d) == 2
    tapes.clear()
    assert len(tapes._tapes._d) == 0
