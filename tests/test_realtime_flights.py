"""The realtime client's sans-I/O flow control: lanes, newest wins per lane, the send window,
resends after a lost connection; and the reconnect delays."""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from lcm_widgets.backends._dial import backoff
from lcm_widgets.backends._flights import Flights


@dataclass(eq=False)
class Req:
    request_id: str


def sent_ids(f: Flights[Req]) -> list[str]:
    """Send everything the window allows; the ids, in send order."""
    out = []
    while (r := f.next_to_send()) is not None:
        out.append(r.request_id)
    return out


def test_callers_without_a_lane_are_all_served_within_the_window() -> None:
    """Each call without a lane is its own caller: nothing is replaced, at most ``window``
    are sent at once, and every answer lets the next one out, in arrival order."""
    f: Flights[Req] = Flights(window=2)
    reqs = [Req(f"r{i}") for i in range(5)]
    for r in reqs:
        assert f.submit(r, lane=r) is None
    assert sent_ids(f) == ["r0", "r1"] and f.sent == 2 and f.waiting == 3
    assert f.finish("r1") is reqs[1]
    assert sent_ids(f) == ["r2"]
    assert f.finish("r0") is reqs[0] and f.finish("r2") is reqs[2]
    assert sent_ids(f) == ["r3", "r4"]
    assert f.max_sent == 2
    assert f.finish("nope") is None


def test_newest_wins_within_a_lane_only() -> None:
    """A lane holds one in flight and one pending; a newer call on it replaces the pending one.
    Another lane is untouched."""
    f: Flights[Req] = Flights(window=8)
    a1, a2, a3, b1 = Req("a1"), Req("a2"), Req("a3"), Req("b1")
    assert f.submit(a1, "a") is None
    assert sent_ids(f) == ["a1"]
    assert f.submit(a2, "a") is None  # waits behind a1
    assert f.submit(b1, "b") is None
    assert f.submit(a3, "a") is a2  # replaced
    assert "a2" not in f and "a3" in f
    assert sent_ids(f) == ["b1"]  # lane a stays at one in flight
    assert f.finish("a1") is a1
    assert sent_ids(f) == ["a3"]


def test_a_lost_connection_resends_each_lanes_newest() -> None:
    """After a lost connection the sent requests go out again first, in send order; a lane with
    a newer pending request resends that one and its old one is reported superseded."""
    f: Flights[Req] = Flights(window=8)
    a1, a2, b1, c1 = Req("a1"), Req("a2"), Req("b1"), Req("c1")
    f.submit(a1, "a")
    f.submit(b1, "b")
    assert sent_ids(f) == ["a1", "b1"]
    f.submit(a2, "a")
    f.submit(c1, "c")
    assert sent_ids(f) == ["c1"]
    assert f.connection_lost() == [(a1, a2)]
    assert sent_ids(f) == ["a2", "b1", "c1"]


def test_withdraw_unsend_and_clear() -> None:
    """A caller that gives up leaves nothing behind unless its request was sent; a send that
    failed goes out first next time; clear hands back everything held."""
    f: Flights[Req] = Flights(window=1)
    x, y, z = Req("x"), Req("y"), Req("z")
    f.submit(x, "l")
    assert sent_ids(f) == ["x"]
    f.submit(y, "l")
    f.submit(z, z)
    assert not f.withdraw(x)  # sent: its answer will come and be ignored
    assert f.withdraw(y) and "y" not in f  # pending behind x
    assert f.withdraw(z) and "z" not in f  # ready, not sent
    f.unsend(x)
    assert f.sent == 0 and sent_ids(f) == ["x"]
    w = Req("w")
    f.submit(w, w)
    assert f.clear() == [x, w] and f.sent == 0 and f.waiting == 0 and sent_ids(f) == []


def test_refusals() -> None:
    """A window below 1 and a request id already held are refused with the value named."""
    with pytest.raises(ValueError, match="window: must be at least 1, got 0"):
        Flights(window=0)
    f: Flights[Req] = Flights(window=1)
    f.submit(Req("same"), 1)
    with pytest.raises(ValueError, match="request_id: 'same' is already in flight"):
        f.submit(Req("same"), 2)


def test_backoff_grows_caps_and_jitters() -> None:
    """0 first, then exponential growth with jitter, capped at max_delay."""
    rng = random.Random(1)
    g = backoff(initial=0.1, factor=2.0, max_delay=1.0, jitter=0.5, rng=rng.random)
    delays = [next(g) for _ in range(10)]
    assert delays[0] == 0.0
    bounds = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0]
    for d, hi in zip(delays[1:], bounds, strict=True):
        assert hi * 0.5 <= d <= hi
    exact = backoff(initial=0.1, factor=3.0, max_delay=10.0, jitter=0.0)
    assert [round(next(exact), 6) for _ in range(4)] == [0.0, 0.1, 0.3, 0.9]


def test_a_lanes_request_not_yet_sent_is_replaced_in_place() -> None:
    """While a lane's request waits for room (or a connection), a newer one takes its turn
    and the older is superseded: a lane never holds two unsent requests."""
    f: Flights[Req] = Flights(window=1)
    busy, a1, a2 = Req("busy"), Req("a1"), Req("a2")
    f.submit(busy, busy)
    assert sent_ids(f) == ["busy"]
    assert f.submit(a1, "a") is None
    assert f.submit(a2, "a") is a1 and "a1" not in f
    f.finish("busy")
    assert sent_ids(f) == ["a2"]
    f.connection_lost()
    a3 = Req("a3")
    assert f.submit(a3, "a") is a2  # a2 is unsent again after the loss: a3 replaces it
    assert sent_ids(f) == ["a3"]
