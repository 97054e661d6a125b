"""Table-driven tests of the sans-I/O pacer: event sequences in, expected actions out."""

from __future__ import annotations

import random
from typing import Any

import pytest

from lcm_widgets.pacing import (
    AckTimedOut,
    Action,
    DropStale,
    Pacer,
    ScheduleTick,
    SendResult,
    ShowStatus,
    StartRequest,
)

Event = tuple[Any, ...]


def feed(p: Pacer, ev: Event) -> list[Action]:
    """Apply one event tuple: (name, *args)."""
    name, *args = ev
    if name == "frame":  # key, digest
        return p.frame_arrived(*args)
    if name == "result":  # key, rid, now
        return p.result_arrived(*args)
    if name == "ack":  # rid, now
        return p.result_acked(*args)
    if name == "params":  # now
        return p.params_changed(*args)
    if name == "tick":  # now
        return p.tick(*args)
    if name == "error":  # key, text
        return p.backend_error(*args)
    if name == "dropped":  # key, why
        return p.request_dropped(*args)
    raise AssertionError(name)


def kinds(actions: list[Action]) -> list[Action | str]:
    """Actions with DropStale reduced to a comparable tuple-free form (why is checked apart)."""
    return [DropStale(a.key, "", a.rid) if isinstance(a, DropStale) else a for a in actions]


S, R, D, T, E, L = StartRequest, SendResult, DropStale, ScheduleTick, ShowStatus, AckTimedOut

# Each case: a list of (event, expected actions for that event). DropStale's `why` is ignored.
CASES: dict[str, list[tuple[Event, list[Action]]]] = {
    "first frame starts at once": [
        (("frame", 1, "a"), [S(1, 0)]),
    ],
    "result is sent and the ack timeout scheduled": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("result", 1, 10, 0.5), [R(1, 10), T(2.5)]),
        (("ack", 10, 0.6), []),
    ],
    "frames while busy: one pending slot, newest wins": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("frame", 2, "b"), []),
        (("frame", 3, "c"), [D(2, "")]),
        (("frame", 4, "d"), [D(3, "")]),
        (("result", 1, 1, 0.5), [R(1, 1), T(2.5), S(4, 0)]),
    ],
    "out-of-order frame is dropped": [
        (("frame", 5, "a"), [S(5, 0)]),
        (("frame", 4, "b"), [D(4, "")]),
        (("frame", 5, "b"), [D(5, "")]),
    ],
    "identical pixels after the result are skipped": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("result", 1, 1, 0.5), [R(1, 1), T(2.5)]),
        (("frame", 2, "a"), []),
    ],
    "identical to the request in flight: skip and drop the pending": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("frame", 2, "b"), []),
        (("frame", 3, "a"), [D(2, "")]),
        (("result", 1, 1, 0.5), [R(1, 1), T(2.5)]),
    ],
    "identical to the request in flight with nothing pending": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("frame", 2, "a"), []),
    ],
    "identical to the pending frame is skipped": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("frame", 2, "b"), []),
        (("frame", 3, "b"), []),
        (("result", 1, 1, 0.5), [R(1, 1), T(2.5), S(2, 0)]),
    ],
    "same pixels as the last finished one but pending differs: queued": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("result", 1, 1, 0.1), [R(1, 1), T(2.1)]),
        (("frame", 2, "b"), [S(2, 0)]),
        (("frame", 3, "c"), []),
        (("frame", 4, "a"), [D(3, "")]),
    ],
    "result waits for the ack; a newer one replaces it in the slot": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("frame", 2, "b"), []),
        (("result", 1, 1, 0.1), [R(1, 1), T(2.1), S(2, 0)]),
        (("frame", 3, "c"), [S(3, 0)] * 0),
        (("result", 2, 2, 0.2), [S(3, 0)]),
        (("frame", 4, "d"), []),
        (("result", 3, 3, 0.3), [D(2, "", 2), S(4, 0)]),
        (("ack", 1, 0.4), [R(3, 3), T(2.4)]),
        (("ack", 3, 0.5), []),
        (("result", 4, 4, 0.6), [R(4, 4), T(2.6)]),
    ],
    "ack for something else is ignored": [
        (("ack", 1, 0.0), []),
        (("frame", 1, "a"), [S(1, 0)]),
        (("result", 1, 1, 0.1), [R(1, 1), T(2.1)]),
        (("ack", 7, 0.2), []),
        (("ack", 1, 0.3), []),
        (("ack", 1, 0.4), []),
    ],
    "lost ack: given up after the timeout, the slot goes out": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("result", 1, 1, 0.1), [R(1, 1), T(2.1)]),
        (("frame", 2, "b"), [S(2, 0)]),
        (("result", 2, 2, 0.3), []),
        (("tick", 1.0), [T(2.1)]),
        (("tick", 2.1), [L(1, 1), R(2, 2), T(4.1)]),
        (("ack", 1, 2.2), []),  # the late ack of the given-up result 1 changes nothing
        (("tick", 4.2), [L(2, 2)]),
    ],
    "lost ack with an empty slot": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("result", 1, 1, 0.0), [R(1, 1), T(2.0)]),
        (("tick", 2.0), [L(1, 1)]),
        (("tick", 3.0), []),
    ],
    "acks are matched by result id: a re-render of the same frame waits for its own": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("result", 1, 1, 0.1), [R(1, 1), T(2.1)]),
        (("params", 0.2), [T(0.30000000000000004)]),
        (("tick", 0.35), [T(2.1), S(1, 1)]),
        (("result", 1, 2, 0.4), []),  # waits in the slot: result 1 is not acked yet
        (("tick", 2.1), [L(1, 1), R(1, 2), T(4.1)]),
        (("ack", 1, 2.2), []),  # result 1's late ack does not release result 2
        (("ack", 2, 2.3), []),
        (("tick", 4.1), []),  # acked: nothing times out
    ],
    "param edit re-renders the newest frame after the debounce": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("result", 1, 1, 0.1), [R(1, 1), T(2.1)]),
        (("ack", 1, 0.15), []),
        (("params", 0.2), [T(0.30000000000000004)]),
        (("params", 0.25), [T(0.35)]),
        (("tick", 0.3), [T(0.35)]),
        (("tick", 0.35), [S(1, 2)]),
        (("tick", 0.4), []),
    ],
    "param edit with no frame yet does nothing": [
        (("params", 0.0), [T(0.1)]),
        (("tick", 0.1), []),
        (("frame", 1, "a"), [S(1, 1)]),
    ],
    "param edit while the newest frame is in flight: re-render waits in the slot": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("params", 0.0), [T(0.1)]),
        (("tick", 0.1), []),
        (("result", 1, 1, 0.2), [R(1, 1), T(2.2), S(1, 1)]),
    ],
    "param re-render replaces a pending frame of the same key without loss": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("frame", 2, "b"), []),
        (("params", 0.0), [T(0.1)]),
        (("tick", 0.1), []),
        (("result", 1, 1, 0.2), [R(1, 1), T(2.2), S(2, 1)]),
    ],
    "frame during the debounce uses the new params; the re-render is skipped": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("result", 1, 1, 0.1), [R(1, 1), T(2.1)]),
        (("ack", 1, 0.12), []),
        (("params", 0.2), [T(0.30000000000000004)]),
        (("frame", 2, "b"), [S(2, 1)]),
        (("tick", 0.31), []),
    ],
    "a new frame replaces a pending param re-render of an older frame": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("params", 0.0), [T(0.1)]),
        (("tick", 0.1), []),
        (("frame", 2, "b"), [D(1, "")]),
        (("result", 1, 1, 0.2), [R(1, 1), T(2.2), S(2, 1)]),
    ],
    "backend error shows, frees the slot, starts the pending; next result clears": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("frame", 2, "b"), []),
        (("error", 1, "model exploded"), [E("model exploded"), S(2, 0)]),
        (("result", 2, 1, 0.3), [E(""), R(2, 1), T(2.3)]),
        (("frame", 3, "c"), [S(3, 0)]),
        (("result", 3, 2, 0.5), []),
    ],
    "after an error the same frame may be retried": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("error", 1, "boom"), [E("boom")]),
        (("frame", 2, "a"), [S(2, 0)]),
        (("error", 2, "boom"), [E("boom")]),
    ],
    "request dropped by the backend (superseded): slot freed quietly": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("frame", 2, "b"), []),
        (("dropped", 1, "superseded"), [D(1, ""), S(2, 0)]),
        (("dropped", 2, "superseded"), [D(2, "")]),
    ],
}


# The same rules with the default window of two results out unacked.
WINDOW_CASES: dict[str, list[tuple[Event, list[Action]]]] = {
    "two results go out before an ack; the third waits in the slot": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("result", 1, 1, 0.1), [R(1, 1), T(2.1)]),
        (("frame", 2, "b"), [S(2, 0)]),
        (("result", 2, 2, 0.2), [R(2, 2), T(2.2)]),
        (("frame", 3, "c"), [S(3, 0)]),
        (("result", 3, 3, 0.3), []),
        (("frame", 4, "d"), [S(4, 0)]),
        (("result", 4, 4, 0.4), [D(3, "", 3)]),  # newest wins in the slot
        (("ack", 2, 0.5), [R(4, 4), T(2.5)]),  # acks in any order free the window
        (("ack", 1, 0.6), []),
        (("ack", 4, 0.7), []),
    ],
    "each lost ack is given up on its own timeout": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("result", 1, 1, 0.0), [R(1, 1), T(2.0)]),
        (("frame", 2, "b"), [S(2, 0)]),
        (("result", 2, 2, 1.0), [R(2, 2), T(3.0)]),
        (("tick", 2.0), [L(1, 1), T(3.0)]),
        (("ack", 1, 2.1), []),  # too late: nothing waits for it now
        (("tick", 3.0), [L(2, 2)]),
    ],
    "a late ack of a given-up result does not free a slot twice": [
        (("frame", 1, "a"), [S(1, 0)]),
        (("result", 1, 1, 0.0), [R(1, 1), T(2.0)]),
        (("tick", 2.0), [L(1, 1)]),
        (("ack", 1, 2.5), []),
    ],
}


@pytest.mark.parametrize("steps", list(WINDOW_CASES.values()), ids=list(WINDOW_CASES))
def test_event_sequences_with_the_default_window(steps: list[tuple[Event, list[Action]]]) -> None:
    p = Pacer(debounce=0.1, ack_timeout=2.0)
    assert p.result_window == 2
    for i, (event, expected) in enumerate(steps):
        got = feed(p, event)
        assert kinds(got) == expected, f"step {i} {event}: {got}"
        assert len(p.unacked) <= 2
        # the oldest result out and its frame
        oldest = next(iter(p.unacked.items()), None)
        assert (p.awaiting_rid, p.awaiting_ack) == \
            ((None, None) if oldest is None else (oldest[0], oldest[1][0]))


@pytest.mark.parametrize("steps", list(CASES.values()), ids=list(CASES))
def test_event_sequences(steps: list[tuple[Event, list[Action]]]) -> None:
    """CASES spell the rules out with a window of one result."""
    p = Pacer(debounce=0.1, ack_timeout=2.0, result_window=1)
    for i, (event, expected) in enumerate(steps):
        got = feed(p, event)
        assert kinds(got) == expected, f"step {i} {event}: {got}"
        assert all(a.why for a in got if isinstance(a, DropStale))
    assert p.counters.max_in_flight <= 1
    assert p.counters.max_pending <= 1


COUNTER_CASES: list[tuple[str, list[Event], dict[str, int]]] = [
    ("flurry", [("frame", k, str(k)) for k in range(1, 6)],
     {"frames_in": 5, "started": 1, "dropped_frames": 3, "max_pending": 1, "max_in_flight": 1}),
    ("skips", [("frame", 1, "a"), ("result", 1, 1, 0), ("frame", 2, "a"),
               ("frame", 3, "a")], {"skipped": 2, "results_sent": 1, "completed": 1}),
    ("slot", [("frame", 1, "a"), ("result", 1, 1, 0), ("frame", 2, "b"),
              ("result", 2, 2, 0), ("frame", 3, "c"), ("result", 3, 3, 0), ("ack", 1, 0)],
     {"dropped_results": 1, "max_result_slot": 1, "results_sent": 2, "acked": 1}),
    ("errors", [("frame", 1, "a"), ("error", 1, "x")], {"errors": 1, "completed": 0}),
    ("timeouts", [("frame", 1, "a"), ("result", 1, 1, 0), ("tick", 5)],
     {"ack_timeouts": 1, "acked": 1}),
    ("rerenders", [("frame", 1, "a"), ("params", 0), ("tick", 1)], {"rerenders": 1}),
]


@pytest.mark.parametrize(("events", "expected"), [(e, x) for _, e, x in COUNTER_CASES],
                         ids=[n for n, _, _ in COUNTER_CASES])
def test_counters(events: list[Event], expected: dict[str, int]) -> None:
    p = Pacer(result_window=1)
    for ev in events:
        feed(p, ev)
    counters = p.counters.as_dict()
    assert {k: counters[k] for k in expected} == expected
    assert counters["dropped"] == counters["dropped_frames"] + counters["dropped_results"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"debounce": -1}, "debounce: must be at least 0 seconds, got -1"),
    ({"ack_timeout": 0}, "ack_timeout: must be more than 0 seconds, got 0"),
    ({"result_window": 0}, "result_window: must be a whole number from 1 to 16, got 0"),
    ({"result_window": 2.5}, "result_window: must be a whole number from 1 to 16, got 2.5"),
])
def test_bad_settings_name_field_limit_value(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Pacer(**kwargs)


@pytest.mark.parametrize("event", [("result", 1, 1, 0.0), ("error", 1, "x"),
                                   ("dropped", 1, "x")])
def test_finishing_a_request_that_is_not_in_flight_is_a_clear_error(event: Event) -> None:
    with pytest.raises(ValueError, match="key: no request in flight for frame 1"):
        feed(Pacer(), event)


def test_busy_property() -> None:
    p = Pacer()
    assert not p.busy
    p.frame_arrived(1, "a")
    assert p.busy


@pytest.mark.parametrize("window", [1, 2, 3])
@pytest.mark.parametrize("seed", range(20))
def test_random_sequences_keep_the_invariants(seed: int, window: int) -> None:
    """A random driver that behaves like the Studio: never more than one request in flight or
    pending, at most ``window`` results awaiting their acks, sent frames never go back, every
    frame accounted."""
    rng = random.Random(seed)
    p = Pacer(debounce=0.05, ack_timeout=0.5, result_window=window)
    now, key, rid = 0.0, 0, 0
    in_flight: int | None = None
    sent: list[int] = []
    waiting: list[tuple[int, int]] = []  # (key, rid) sent and not acked, oldest first
    for _ in range(300):
        now += rng.random() * 0.05
        roll = rng.random()
        if roll < 0.45:
            key += 1
            acts = p.frame_arrived(key, rng.choice("abcd"))
        elif roll < 0.65 and in_flight is not None:
            rid += 1
            acts = (p.backend_error(in_flight, "x") if rng.random() < 0.1
                    else p.result_arrived(in_flight, rid, now))
            in_flight = None
        elif roll < 0.8 and waiting:
            acked = waiting.pop(rng.randrange(len(waiting)))  # acks come in any order
            acts = p.result_acked(acked[1], now)
        elif roll < 0.85:
            acts = p.params_changed(now)
        else:
            acts = p.tick(now)
        for a in acts:
            if isinstance(a, StartRequest):
                assert in_flight is None
                in_flight = a.key
            elif isinstance(a, AckTimedOut):
                waiting.remove((a.key, a.rid))
            elif isinstance(a, SendResult):
                assert len(waiting) < window  # the window is never exceeded
                sent.append(a.key)
                waiting.append((a.key, a.rid))
        assert (p.in_flight is None) == (in_flight is None)
        assert sorted(p.unacked) == sorted(r for _, r in waiting)
    assert sent == sorted(sent)
    c = p.counters
    assert c.max_in_flight <= 1 and c.max_pending <= 1 and c.max_result_slot <= 1


def test_max_counters_count_events_not_slots() -> None:
    """The high-water marks come from event accounting, so they could show a broken rule: a
    second request started while one is in flight reads 2 (it is not ``max(x, 1)``)."""
    p = Pacer()
    p.frame_arrived(1, "a")
    assert p.counters.max_in_flight == 1
    p._start(2, ("b", 0))  # what a bug that ignored the in-flight request would do
    assert p.counters.max_in_flight == 2
    p = Pacer()
    p.frame_arrived(1, "a")
    p.frame_arrived(2, "b")
    p.pending = None  # a bug that forgot the pending frame without dropping it
    p.frame_arrived(3, "c")
    assert p.counters.max_pending == 2
    p = Pacer(result_window=1)
    p.frame_arrived(1, "a")
    p.result_arrived(1, 1, 0.0)
    p.frame_arrived(2, "b")
    p.result_arrived(2, 2, 0.0)
    p.result_slot = None  # a bug that lost the parked result without dropping it
    p.frame_arrived(3, "c")
    p.result_arrived(3, 3, 0.0)
    assert p.counters.max_result_slot == 2


def test_auto_ack_sends_every_result_without_waiting() -> None:
    """With auto_ack each result goes out at once, counts as acked, and no ack timer runs."""
    p = Pacer(auto_ack=True)
    assert p.frame_arrived(1, "a") == [S(1, 0)]
    assert p.frame_arrived(2, "b") == []
    assert p.result_arrived(1, 1, 0.1) == [R(1, 1), S(2, 0)]
    assert p.result_arrived(2, 2, 0.2) == [R(2, 2)]
    assert p.awaiting_rid is None and not p.unacked and p.result_slot is None
    assert p.tick(10.0) == []
    c = p.counters
    assert (c.results_sent, c.acked, c.ack_timeouts, c.dropped_results) == (2, 2, 0, 0)
    assert p.result_acked(2, 0.3) == []  # nothing waits for an ack


def test_rerender_pending_until_the_debounce_tick() -> None:
    """rerender_pending is True from a param edit until its debounced tick ran."""
    p = Pacer(debounce=0.1)
    assert not p.rerender_pending
    p.params_changed(0.0)
    assert p.rerender_pending
    p.tick(0.05)
    assert p.rerender_pending
    p.tick(0.1)
    assert not p.rerender_pending


def test_a_frame_after_an_edit_replaces_the_due_rerender() -> None:
    """A frame that arrives during an edit's debounce is rendered with the new params, so the
    re-render is dropped: after a failed request it does not run (and fail) a second time."""
    p = Pacer(debounce=0.1)
    p.frame_arrived(1, "a")
    p.result_arrived(1, 1, 0.0)
    p.result_acked(1, 0.0)
    p.params_changed(0.0)
    assert p.frame_arrived(2, "b") == [S(2, 1)]
    assert not p.rerender_pending
    assert p.backend_error(2, "boom") == [E("boom")]
    assert p.tick(0.2) == []
    assert p.counters.started == 2 and p.counters.rerenders == 0
