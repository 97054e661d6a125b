"""Test doubles for code built on lcm_widgets: a recording comm and an instant model.

* :class:`RecordingComm` tests widgets without a kernel or a browser (like ipywidgets'
  ``DummyComm``). Pass it to any ipywidgets/anywidget widget: ``w = Sketchpad(comm=
  RecordingComm())``. Everything the widget sends is recorded; :meth:`RecordingComm.deliver`
  plays a message from the browser through the real ipywidgets path (``comm.handle_msg`` →
  ``Widget._handle_msg`` → ``on_msg`` callbacks), with buffers as ``memoryview``, as the kernel
  hands them over.
* :class:`~lcm_widgets.backends.echo.EchoBackend` answers at once with the input image, and
  fails or hangs on request (``"!fail"``, ``"!hang"`` in the prompt).

::

    comm = RecordingComm()
    pad = Sketchpad(comm=comm)
    comm.deliver({"type": "hello", "v": 1, "view": "a"})
    content, buffers = comm.custom[-1]

Importing this module imports ``comm`` (installed with ipykernel), not anywidget.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from comm.base_comm import BaseComm

from .backends.echo import EchoBackend

__all__ = ["EchoBackend", "RecordingComm", "Sent"]


@dataclass(frozen=True)
class Sent:
    """One message the widget published: ``msg_type`` (``comm_msg``...), ``data``, buffers."""

    msg_type: str
    data: dict[str, Any]
    buffers: tuple[bytes, ...]


class RecordingComm(BaseComm):  # type: ignore[misc]
    """A comm that records what is sent and lets a test deliver browser messages. Thread-safe."""

    #: ipywidgets only sends when ``comm.kernel`` is not None.
    kernel = "recording"

    def __init__(self, **kwargs: Any) -> None:
        self._record_lock = threading.Lock()
        self.log: list[Sent] = []
        kwargs.setdefault("primary", False)  # no comm_open to a frontend
        super().__init__(**kwargs)

    def publish_msg(self, msg_type: str, data: Any = None, metadata: Any = None,
                    buffers: Any = None, **keys: Any) -> None:
        """Record instead of publishing (copies the buffers)."""
        copied = tuple(bytes(b) for b in (buffers or ()))
        with self._record_lock:
            self.log.append(Sent(msg_type, dict(data or {}), copied))

    def close(self, data: Any = None, metadata: Any = None, buffers: Any = None,
              deleting: bool = False) -> None:
        """Record a ``comm_close`` (once); there is no comm manager to unregister from."""
        if self._closed:
            return
        self._closed = True
        self.publish_msg("comm_close", data=data, metadata=metadata, buffers=buffers)

    @property
    def closed(self) -> bool:
        """True after :meth:`close` (``widget.close()``)."""
        return bool(self._closed)

    # ---- what the widget sent -----------------------------------------------------------

    @property
    def custom(self) -> list[tuple[dict[str, Any], tuple[bytes, ...]]]:
        """``(content, buffers)`` of every custom message (``widget.send``), oldest first."""
        with self._record_lock:
            return [(s.data["content"], s.buffers) for s in self.log
                    if s.msg_type == "comm_msg" and s.data.get("method") == "custom"]

    def custom_of(self, type_: str) -> list[tuple[dict[str, Any], tuple[bytes, ...]]]:
        """Custom messages whose ``content['type']`` is ``type_``."""
        return [(c, b) for c, b in self.custom if isinstance(c, Mapping) and c.get("type") == type_]

    @property
    def updates(self) -> list[dict[str, Any]]:
        """The ``state`` of every trait update the widget sent."""
        with self._record_lock:
            return [s.data.get("state", {}) for s in self.log
                    if s.msg_type == "comm_msg" and s.data.get("method") == "update"]

    def clear_log(self) -> None:
        """Forget what was recorded so far."""
        with self._record_lock:
            self.log.clear()

    # ---- what the browser sends ---------------------------------------------------------

    def deliver(self, content: Any, buffers: Iterable[bytes | bytearray | memoryview] = ()
                ) -> None:
        """Deliver a custom message from the browser (``model.send(content, _, buffers)``)."""
        self.handle_msg({
            "content": {"comm_id": self.comm_id, "data": {"method": "custom", "content": content}},
            "buffers": [memoryview(b) for b in buffers],
        })

    def deliver_state(self, state: dict[str, Any]) -> None:
        """Deliver trait changes from the browser (``model.set(...); model.save_changes()``)."""
        self.handle_msg({
            "content": {"comm_id": self.comm_id,
                        "data": {"method": "update", "state": state, "buffer_paths": []}},
            "buffers": [],
        })
