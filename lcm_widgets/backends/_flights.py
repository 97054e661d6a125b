"""Sans-I/O flow control of one realtime socket: lanes, newest wins per lane, a send window.

:class:`~.realtime.RealtimeBackend` pipelines the requests of all its callers on one socket
and matches answers by request id. This module decides *what goes out next*; it opens nothing,
awaits nothing and reads no clock, so its rules are tested by calling it
(``tests/test_realtime_flights.py``):

* **Every caller is served.** Each request belongs to a *lane*. A call made without one has a
  lane of its own, so concurrent callers (a Studio and a Compare sharing the backend) never
  replace each other's requests.
* **Newest wins within a lane.** A lane holds one request in flight and one pending; a newer
  request on the same lane replaces the pending one (or the one in flight, while that one has
  not gone out yet: waiting for room, or for a new connection), which the caller learns as
  :class:`~lcm_widgets.errors.Superseded`. A caller streaming frames on one lane keeps the
  server at one frame of its own, and no queue grows.
* **A window bounds the socket.** At most ``window`` requests are sent and unanswered at once
  (the server buffers at most ``max_buffering`` frames of a session and drops the oldest
  beyond it); lanes whose request waits for room go out in the order they became ready.
* **A lost connection resends**, lane by lane, only the newest request of each lane; the older
  in-flight one of a lane that has a newer pending request is superseded by it.

Items are opaque apart from their ``request_id`` (unique among the items held).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

__all__ = ["Flights"]


class _HasId(Protocol):
    request_id: str


T = TypeVar("T", bound=_HasId)


class _Lane(Generic[T]):
    __slots__ = ("in_flight", "pending")

    def __init__(self) -> None:
        self.in_flight: T | None = None
        self.pending: T | None = None


class Flights(Generic[T]):
    """The requests of one socket: see the module docstring for the rules."""

    def __init__(self, window: int) -> None:
        if window < 1:
            raise ValueError(f"window: must be at least 1, got {window}")
        self.window = window
        self._lanes: dict[Hashable, _Lane[T]] = {}
        self._lane_of: dict[str, Hashable] = {}  # request id → lane, for every item held
        self._ready: deque[Hashable] = deque()  # lanes whose in-flight item is not sent yet
        self._sent: dict[str, T] = {}  # sent and unanswered, in send order
        self.max_sent = 0  # high-water mark of len(sent), counted at every send

    # ------------------------------------------------------------------ queries
    @property
    def sent(self) -> int:
        """Requests sent and not answered."""
        return len(self._sent)

    @property
    def waiting(self) -> int:
        """Requests held and not sent (ready to go, or pending behind their lane's)."""
        return len(self._lane_of) - len(self._sent)

    def __contains__(self, request_id: object) -> bool:
        return request_id in self._lane_of

    def is_sent(self, request_id: str) -> bool:
        """True when ``request_id`` went out and is not answered yet."""
        return request_id in self._sent

    def oldest_sent(self) -> T | None:
        """The first request sent and not answered (what an answer without an id answers)."""
        return next(iter(self._sent.values()), None)

    # ------------------------------------------------------------------ events
    def submit(self, item: T, lane: Hashable) -> T | None:
        """A new request on ``lane``; returns the request it superseded, if any."""
        if item.request_id in self._lane_of:
            raise ValueError(f"request_id: {item.request_id!r} is already in flight")
        slot = self._lanes.setdefault(lane, _Lane())
        self._lane_of[item.request_id] = lane
        if slot.in_flight is None:
            slot.in_flight = item
            self._ready.append(lane)
            return None
        if slot.in_flight.request_id not in self._sent:  # not out yet: the newer takes its turn
            old_ready, slot.in_flight = slot.in_flight, item
            del self._lane_of[old_ready.request_id]
            return old_ready
        old, slot.pending = slot.pending, item
        if old is not None:
            del self._lane_of[old.request_id]
        return old

    def next_to_send(self) -> T | None:
        """The next request to send now, or None (nothing ready, or the window is full)."""
        if len(self._sent) >= self.window or not self._ready:
            return None
        lane = self._ready.popleft()
        item = self._lanes[lane].in_flight
        assert item is not None  # a ready lane has an in-flight item
        self._sent[item.request_id] = item
        self.max_sent = max(self.max_sent, len(self._sent))
        return item

    def unsend(self, item: T) -> None:
        """Sending ``item`` failed (the socket closed under it): it goes out first next time."""
        if self._sent.pop(item.request_id, None) is not None:
            self._ready.appendleft(self._lane_of[item.request_id])

    def finish(self, request_id: str) -> T | None:
        """The sent request ``request_id`` was answered (result or error); returns it, or None
        when no such request is sent. Its lane's pending request becomes ready."""
        item = self._sent.pop(request_id, None)
        if item is None:
            return None
        self._advance(self._lane_of.pop(request_id))
        return item

    def withdraw(self, item: T) -> bool:
        """Forget a request its caller gave up on, unless it was sent (an answer to it will
        come and is ignored). True when it was withdrawn."""
        lane = self._lane_of.get(item.request_id)
        if lane is None or item.request_id in self._sent:
            return False
        slot = self._lanes[lane]
        del self._lane_of[item.request_id]
        if slot.pending is item:
            slot.pending = None
            return True
        self._ready.remove(lane)  # it was the lane's in-flight item, ready but not sent
        self._advance(lane)
        return True

    def _advance(self, lane: Hashable) -> None:
        """``lane``'s in-flight request is gone: its pending one (if any) is ready next."""
        slot = self._lanes[lane]
        slot.in_flight, slot.pending = slot.pending, None
        if slot.in_flight is None:
            del self._lanes[lane]
        else:
            self._ready.append(lane)

    def connection_lost(self) -> list[tuple[T, T]]:
        """Everything sent is unanswered for good: each such lane resends its newest request
        (first, in send order). Returns ``(old, newer)`` for every in-flight request that a
        newer pending request of its lane superseded."""
        superseded: list[tuple[T, T]] = []
        lanes: list[Hashable] = []
        for rid in self._sent:
            lane = self._lane_of[rid]
            slot = self._lanes[lane]
            if slot.pending is not None:
                assert slot.in_flight is not None
                superseded.append((slot.in_flight, slot.pending))
                del self._lane_of[slot.in_flight.request_id]
                slot.in_flight, slot.pending = slot.pending, None
            lanes.append(lane)
        self._sent.clear()
        self._ready.extendleft(reversed(lanes))
        return superseded

    def clear(self) -> list[T]:
        """Forget everything; returns every request held (sent ones first)."""
        held = list(self._sent.values())
        for slot in self._lanes.values():
            held += [i for i in (slot.in_flight, slot.pending)
                     if i is not None and i.request_id not in self._sent]
        self._lanes.clear()
        self._lane_of.clear()
        self._ready.clear()
        self._sent.clear()
        return held
