"""The realtime WebSocket: fal's realtime protocol, server side (docs/server.md, "Realtime
WebSocket"; the frames are :mod:`lcm_widgets.protocol.fal`).

``ws://HOST/{owner}/{alias}[/{path}]/realtime?fal_jwt_token=…&max_buffering=N``

* Auth: a token from ``POST /tokens/`` in ``fal_jwt_token``, or ``Authorization: Key|Bearer``.
  Bad credentials: the upgrade is accepted, ``{"status":"error","error":"Unauthorized"}`` is
  sent as text, then the socket closes with 1008, so ``@fal-ai/client`` drops its token and
  mints a new one on the next ``send``.
* Each binary frame is one msgpack map (an :class:`~lcm_widgets.schema.Input`); a text frame
  holding one JSON object is accepted too (the hand-written clients of fal's 2023 blog send
  ``JSON.stringify(input)``), and its result goes back as a JSON text frame with the images as
  ``data:`` URIs. JSON inside a binary frame is refused with a reason that says so. Frames queue in
  a deque of ``max_buffering`` (1..60, default ``ServerConfig.default_buffering``) that drops
  the oldest; the shared :class:`~.scheduler.Scheduler` serves sessions round-robin.
* Each result is a binary msgpack map with ``request_id`` copied from the input; optionally
  followed by ``{"type":"x-fal-message","action":"timings","timing":s}`` (``emit_timings``).
* A bad frame (not msgpack or JSON, not a map, a schema error, a bad or huge image) or a failed
  generation answers ``{"type":"x-fal-error","error":CODE,"reason":…}`` and the session goes on.
  The code is the exception's row of the error table (:mod:`lcm_widgets.protocol.errors`); a
  field error also carries the REST 422 ``detail`` list.
* No input for ``session_timeout`` seconds: queued work finishes, then ``x-fal-error``
  ``TIMEOUT`` is sent and the socket closes with 1000.
* A bad ``max_buffering`` answers ``INVALID_PARAMETER`` and closes with 1008; a path with no
  realtime endpoint answers ``NOT_FOUND`` and closes with 1008.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from ..errors import InvalidInput, ProtocolError
from ..protocol.endpoints import MAX_BUFFERING_RANGE
from ..protocol.errors import INVALID_PARAMETER, NOT_FOUND, TIMEOUT
from ..protocol.fal import (
    decode_input_frame,
    encode_output,
    encode_output_json,
    error_frame,
    timings_frame,
    unauthorized_frame,
)
from ..schema import Output
from .answers import error_frame_for
from .auth import AuthError
from .files import publish
from .inputs import validate_request
from .scheduler import WorkItem
from .state import ServerState
from .storage import input_resolver

__all__ = ["realtime_endpoint", "reject_unknown"]

TIMEOUT_REASON = "no inputs, reconnect when needed!"

# ("bytes", msgpack result) | ("result", JSON result text) | ("text", s) | ("close", (code, why))
_Out = tuple[str, Any]


def _close_reason(text: str) -> str:
    return text.encode()[:120].decode(errors="ignore")  # close reasons are ≤123 bytes


async def reject_unknown(ws: WebSocket, path: str, app_id: str, *, also: str = "") -> None:
    """A WebSocket to a path we do not serve: say so in-band, then close 1008 (``also``: the
    realtime paths of every app, on a multi-app server)."""
    await ws.accept()
    served = also or (f"/{app_id}/realtime and /{app_id}/image-to-image/realtime")
    await ws.send_text(error_frame(
        NOT_FOUND.code, f"no realtime endpoint at /{path}; this server serves {served}"))
    await ws.close(1008, _close_reason("not found"))


async def realtime_endpoint(ws: WebSocket, state: ServerState, subpath: str) -> None:
    """Serve one realtime session on ``ws`` until the client leaves or it times out."""
    try:
        token = ws.query_params.get("fal_jwt_token")
        if token:
            principal = state.auth.verify_token(token, app_id=state.config.app_id)
        else:
            principal = state.auth.check_header(ws.headers.get("authorization"),
                                                app_id=state.config.app_id)
    except AuthError as exc:
        await ws.accept()
        await ws.send_text(unauthorized_frame(str(exc)))
        await ws.close(1008, _close_reason(f"Unauthorized: {exc}"))
        return
    raw = ws.query_params.get("max_buffering")
    buffering = state.config.default_buffering
    if raw is not None:
        lo, hi = MAX_BUFFERING_RANGE
        try:
            buffering = int(raw)
            ok = lo <= buffering <= hi
        except ValueError:
            ok = False
        if not ok:
            await ws.accept()
            await ws.send_text(error_frame(
                INVALID_PARAMETER.code, f"max_buffering: must be a whole number between {lo} "
                f"and {hi}, got {raw!r}"))
            await ws.close(1008, _close_reason("invalid max_buffering"))
            return
    await ws.accept()
    await Session(ws, state, subpath, buffering, owner=principal.key_id).run()


class Session:
    """One realtime connection: a reader (this task), a lane on the scheduler, a writer."""

    def __init__(self, ws: WebSocket, state: ServerState, subpath: str, buffering: int, *,
                 owner: str = "anonymous") -> None:
        self.ws = ws
        self.state = state
        self.subpath = subpath
        self.buffering = buffering
        state.sessions_total += 1
        self.lane = state.scheduler.open_lane(f"session-{state.sessions_total}", buffering)
        self.base_url = state.base_url(str(ws.base_url))
        self._resolve_url = input_resolver(ws, owner)  # the session's uploaded files
        self._outbox: deque[_Out] = deque()
        self._out_max = max(4, 2 * buffering)
        self._out_ready = asyncio.Event()
        self._pending = 0  # frames queued or running for this session
        self._idle = asyncio.Event()
        self._idle.set()
        self.closed = False

    async def run(self) -> None:
        """Read frames until disconnect or idle timeout."""
        st = self.state
        st.sessions += 1
        writer = asyncio.get_running_loop().create_task(self._write())
        try:
            while True:
                try:
                    msg = await asyncio.wait_for(self.ws.receive(), st.config.session_timeout)
                except TimeoutError:
                    await self._idle.wait()  # queued work finishes first
                    self._send("text", error_frame(TIMEOUT.code, TIMEOUT_REASON))
                    self._send("close", (1000, "timeout"))
                    with contextlib.suppress(Exception):
                        await writer
                    return
                if msg["type"] == "websocket.disconnect":
                    return
                if msg.get("bytes") is not None:
                    self._on_frame(msg["bytes"])
                elif msg.get("text") is not None:
                    self._on_frame(msg["text"])
        except WebSocketDisconnect:
            return
        finally:
            self.closed = True
            st.sessions -= 1
            st.scheduler.close_lane(self.lane)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer  # also retrieves a send error (the client went away)

    def _on_frame(self, data: bytes | str) -> None:
        """One input frame: a binary msgpack map, or a text frame holding a JSON object (whose
        result goes back as JSON text, images as data URIs)."""
        as_json = isinstance(data, str)
        request_id: str | None = None
        try:
            fields = decode_input_frame(data, max_bytes=self.state.config.max_message_bytes)
            rid = fields.get("request_id")
            request_id = rid if isinstance(rid, str) and rid else None
            inp = validate_request(fields, subpath=self.subpath,
                                   limits=self.state.config.image_limits,
                                   files=self.state.files, resolve_url=self._resolve_url,
                                   schema=self.state.schema)
        except (ProtocolError, InvalidInput) as exc:  # InvalidImage is an InvalidInput
            self._send("text", error_frame_for(exc, request_id))
            return
        item = WorkItem(inp=inp, deliver=lambda res, el: self._deliver(inp, res, el, as_json))
        self._pending += 1
        self._idle.clear()
        dropped = self.state.scheduler.push(self.lane, item)
        if dropped is not None:
            self.state.frames_dropped += 1
            self._done_one()

    def _done_one(self) -> None:
        self._pending -= 1
        if self._pending <= 0:
            self._pending = 0
            self._idle.set()

    def _deliver(self, inp: Any, result: Output | BaseException, elapsed: float,
                 as_json: bool = False) -> None:
        self._done_one()
        if self.closed:
            return
        rid = inp.request_id or None
        if isinstance(result, BaseException):
            self._send("text", error_frame_for(result, rid))
            return
        try:
            if as_json:  # the blog's clients read timings.inference
                out = publish(result, sync_mode=True, files=self.state.files,
                              base_url=self.base_url, request_id=rid,
                              num_inference_steps=inp.num_inference_steps, inference_s=elapsed,
                              drop=self.state.schema.output_drop)
                self._send("result", encode_output_json(out))
            else:  # the msgpack path stays as lean as it was
                out = publish(result, sync_mode=inp.sync_mode, files=self.state.files,
                              base_url=self.base_url, request_id=rid,
                              drop=self.state.schema.output_drop)
                self._send("bytes", encode_output(out))
        except Exception as exc:
            self._send("text", error_frame_for(
                exc, rid, reason=f"could not encode the output: {exc}"))
            return
        if self.state.config.emit_timings:
            self._send("text", timings_frame(elapsed))

    def _send(self, kind: str, value: Any) -> None:
        if len(self._outbox) >= self._out_max and kind in ("bytes", "result"):
            # the client reads slower than we generate: drop the oldest unsent result
            for i, (k, _v) in enumerate(self._outbox):
                if k in ("bytes", "result"):
                    del self._outbox[i]
                    break
        self._outbox.append((kind, value))
        self._out_ready.set()

    async def _write(self) -> None:
        while True:
            await self._out_ready.wait()
            self._out_ready.clear()
            while self._outbox:
                kind, value = self._outbox.popleft()
                if kind == "bytes":
                    await self.ws.send_bytes(value)
                elif kind in ("text", "result"):
                    await self.ws.send_text(value)
                else:
                    code, reason = value
                    await self.ws.close(code, reason)
                    return
