"""A REST client for fal-style endpoints: the sync run and the queue.

docs/remote.md ("REST and queue: HttpBackend") shows it in use.

:class:`HttpBackend` is a :class:`~lcm_widgets.backends.base.Backend` whose ``generate`` is one
``POST {run}/{app}``. It also exposes the queue: :meth:`~HttpBackend.submit`,
:meth:`~HttpBackend.status`, :meth:`~HttpBackend.iter_status` (SSE, falling back to polling),
:meth:`~HttpBackend.result`, :meth:`~HttpBackend.cancel`, and :meth:`~HttpBackend.subscribe`
(submit, wait, fetch). It works against fal.ai and against ``lcm_widgets.server``.

Errors map at the boundary (:mod:`lcm_widgets.protocol.errors`): 422 → :class:`~lcm_widgets.errors.InvalidInput`
whose ``errors`` is the server's ``detail`` list; 401/403 → ``Unauthorized``; 429 →
``ServerBusy``; any other non-2xx → ``RemoteError(status, detail)``; a transport failure →
``ConnectionClosed`` (timeouts → ``RemoteTimeout``), with the httpx error as ``__cause__``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from .._extras import need
from ..errors import ConnectionClosed, ProtocolError, RemoteTimeout, Unauthorized
from ..protocol.credentials import Secret, key_from_env
from ..protocol.endpoints import FAL_QUEUE_URL, FAL_RUN_URL, AppId
from ..protocol.errors import http_error
from ..protocol.fal import data_uri
from ..runtime.loop import run_sync
from ..schema import Input, Output, parse_input
from ._net import http_client
from .base import BackendInfo

if TYPE_CHECKING:  # pragma: no cover
    import httpx

__all__ = ["HttpBackend", "QueueHandle", "QueueStatus"]

TERMINAL = "COMPLETED"


@dataclass(frozen=True)
class QueueHandle:
    """What ``submit`` returns: the request id and the server's URLs for it."""

    request_id: str
    status_url: str = ""
    response_url: str = ""
    cancel_url: str = ""
    queue_position: int | None = None


@dataclass(frozen=True)
class QueueStatus:
    """One queue status: ``IN_QUEUE`` (with ``queue_position``), ``IN_PROGRESS``, ``COMPLETED``.

    ``logs`` is a list of ``{message, level, source, timestamp}`` (or None when not asked for);
    ``error`` is set when a completed request failed. ``raw`` is the whole JSON answer.
    """

    status: str
    queue_position: int | None = None
    logs: list[dict[str, Any]] | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    error_type: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data: Any) -> QueueStatus:
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            raise ProtocolError(f"queue status: expected an object with 'status', got "
                                f"{str(data)[:120]!r}")
        return cls(status=data["status"], queue_position=data.get("queue_position"),
                   logs=data.get("logs"), metrics=data.get("metrics") or {},
                   error=data.get("error"), error_type=data.get("error_type"), raw=data)

    @property
    def done(self) -> bool:
        return self.status == TERMINAL


class HttpBackend:
    """Generate through ``POST {run}/{app}``; submit and follow requests through the queue.

    Args:
        app: endpoint id, ``owner/alias[/path]``.
        base_url: our server's ``http(s)://host:port``; None means ``https://fal.run``.
        key: API key (``Authorization: Key …``). For fal.ai it defaults to ``FAL_KEY`` (or
            ``FAL_KEY_ID:FAL_KEY_SECRET``); for a self-hosted server it must be given, or None
            for a ``--no-auth`` server.
        queue_base_url: the queue's root; default ``https://queue.fal.run`` for fal.ai, and
            ``{base_url}/queue`` for ``lcm_widgets.server``.
        timeout: seconds for one HTTP call (a sync run includes the model's time).
        sync_mode: the ``sync_mode`` sent when the input leaves it unset.
        poll_interval: seconds between status polls when the SSE stream is not available.
    """

    def __init__(self, app: str = "fal-ai/fast-lcm-diffusion", *, base_url: str | None = None,
                 key: str | None = None, queue_base_url: str | None = None,
                 timeout: float = 120.0, sync_mode: bool = True,
                 poll_interval: float = 0.1) -> None:
        need("remote", "httpx", what="HttpBackend")
        self.app = AppId.parse(app)
        if key is None and base_url is None:
            key = key_from_env()
            if key is None:
                raise Unauthorized("MISSING_KEY", "no fal API key: pass key=... or set FAL_KEY "
                                   "(or FAL_KEY_ID and FAL_KEY_SECRET)")
        self._key = Secret(key) if key else None
        self.base_url = (base_url or FAL_RUN_URL).rstrip("/")
        if queue_base_url is None:
            queue_base_url = FAL_QUEUE_URL if base_url is None else f"{self.base_url}/queue"
        self.queue_base_url = queue_base_url.rstrip("/")
        self.timeout, self.sync_mode, self.poll_interval = timeout, sync_mode, poll_interval
        self._client: httpx.AsyncClient | None = None
        self._info = BackendInfo(name="http", model=self.app.full, device="remote", remote=True,
                                 extra={"url": self.run_url},
                                 app=f"{self.app.owner}/{self.app.alias}")

    # ------------------------------------------------------------------ URLs

    @property
    def info(self) -> BackendInfo:
        return self._info

    @property
    def run_url(self) -> str:
        return f"{self.base_url}/{self.app.full}"

    def _requests_url(self, request_id: str, suffix: str = "") -> str:
        return f"{self.queue_base_url}/{self.app.base}/requests/{request_id}{suffix}"

    def __repr__(self) -> str:
        auth = "key" if self._key is not None else "none"
        return (f"HttpBackend(app={self.app.full!r}, base_url={self.base_url!r}, "
                f"queue_base_url={self.queue_base_url!r}, auth={auth!r})")

    # ------------------------------------------------------------------ sync run

    async def generate(self, inp: Input | dict[str, Any]) -> Output:
        """One sync ``POST {run}/{app}`` (``{app}/inpainting`` for an input with ``mask_url``:
        fal serves the mask there only); returns the parsed output."""
        parsed = parse_input(inp)
        resp = await self._request("POST", f"{self.base_url}/{self._app_for(parsed).full}",
                                   json=self._body(parsed), what="run")
        return _output(resp)

    def generate_sync(self, inp: Input | dict[str, Any], timeout: float | None = None) -> Output:
        """``generate`` from synchronous code, on the library's loop."""
        return run_sync(self.generate(inp), timeout)

    # ------------------------------------------------------------------ queue

    async def submit(self, inp: Input | dict[str, Any], *, webhook_url: str | None = None
                     ) -> QueueHandle:
        """Queue one request (on ``{app}/inpainting`` for an input with ``mask_url``); returns
        its :class:`QueueHandle` at once."""
        params = {"fal_webhook": webhook_url} if webhook_url else None
        parsed = parse_input(inp)
        resp = await self._request("POST", f"{self.queue_base_url}/{self._app_for(parsed).full}",
                                   json=self._body(parsed), params=params, what="submit")
        data = _json(resp)
        if not isinstance(data, dict) or not isinstance(data.get("request_id"), str):
            raise ProtocolError(f"submit: expected an object with 'request_id', got "
                                f"{str(data)[:120]!r}")
        return QueueHandle(request_id=data["request_id"], status_url=data.get("status_url", ""),
                           response_url=data.get("response_url", ""),
                           cancel_url=data.get("cancel_url", ""),
                           queue_position=data.get("queue_position"))

    async def status(self, request_id: str, *, logs: bool = True) -> QueueStatus:
        """The request's current :class:`QueueStatus`."""
        resp = await self._request("GET", self._requests_url(request_id, "/status"),
                                   params={"logs": int(logs)}, what="status")
        return QueueStatus.from_json(_json(resp))

    async def iter_status(self, request_id: str, *, logs: bool = True,
                          interval: float | None = None) -> AsyncIterator[QueueStatus]:
        """Yield statuses until ``COMPLETED`` (included): the SSE stream, else polling."""
        try:
            async for st in self._stream_status(request_id, logs):
                yield st
                if st.done:
                    return
        except _NoStream:
            pass
        while True:
            st = await self.status(request_id, logs=logs)
            yield st
            if st.done:
                return
            await asyncio.sleep(self.poll_interval if interval is None else interval)

    async def result(self, request_id: str) -> Output:
        """The output of a completed request (the server answers 400 while it is not done)."""
        resp = await self._request("GET", self._requests_url(request_id), what="result")
        return _output(resp)

    async def cancel(self, request_id: str) -> str:
        """Ask to cancel; returns the server's status (``CANCELLATION_REQUESTED``,
        ``ALREADY_COMPLETED``...)."""
        client = self._ensure_client()
        url = self._requests_url(request_id, "/cancel")
        resp = await self._send(client.request("PUT", url, headers=self._headers()), url)
        body = _json_or_text(resp)
        if isinstance(body, dict) and isinstance(body.get("status"), str) and (
                resp.is_success or resp.status_code in (400, 404, 409)):
            return str(body["status"])
        if not resp.is_success:
            raise http_error(resp.status_code, body, what="cancel")
        return "CANCELLATION_REQUESTED"

    async def subscribe(self, inp: Input | dict[str, Any], *, logs: bool = False,
                        on_status: Callable[[QueueStatus], Awaitable[None] | None] | None = None
                        ) -> Output:
        """Submit, follow the status to the end (calling ``on_status``), return the output."""
        handle = await self.submit(inp)
        async for st in self.iter_status(handle.request_id, logs=logs):
            if on_status is not None:
                maybe = on_status(st)
                if asyncio.iscoroutine(maybe):
                    await maybe
        return await self.result(handle.request_id)

    async def aclose(self) -> None:
        """Close the HTTP client. Safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # ------------------------------------------------------------------ plumbing

    def _app_for(self, inp: Input) -> AppId:
        return self.app.for_input(inp.is_inpainting)

    def _body(self, inp: Input | dict[str, Any]) -> dict[str, Any]:
        parsed = parse_input(inp)
        body = parsed.model_dump(exclude_unset=True)
        for name in ("image_url", "mask_url"):  # JSON has no bytes: send a data URI
            if isinstance(body.get(name), bytes):
                body[name] = data_uri(body[name])
        body.setdefault("sync_mode", self.sync_mode)
        return body

    def _headers(self) -> dict[str, str]:
        h = {"Accept": "application/json", "User-Agent": "lcm-widgets (python)"}
        if self._key is not None:
            h["Authorization"] = f"Key {self._key.reveal()}"
        return h

    def _ensure_client(self) -> httpx.AsyncClient:
        if self._client is None:  # proxies, CA bundle and connect retries from the environment
            self._client = http_client(self.timeout)
        return self._client

    async def _request(self, method: str, url: str, *, what: str, **kwargs: Any
                       ) -> httpx.Response:
        client = self._ensure_client()
        resp = await self._send(client.request(method, url, headers=self._headers(), **kwargs),
                                url)
        if not resp.is_success:
            raise http_error(resp.status_code, _json_or_text(resp), what=what)
        return resp

    @staticmethod
    async def _send(call: Awaitable[httpx.Response], url: str) -> httpx.Response:
        import httpx

        try:
            return await call
        except httpx.TimeoutException as exc:
            raise RemoteTimeout("HTTP_TIMEOUT", f"{url}: no answer in time ({exc!r})") from exc
        except httpx.HTTPError as exc:
            raise ConnectionClosed(1006, f"{url}: {exc or type(exc).__name__}") from exc

    async def _stream_status(self, request_id: str, logs: bool) -> AsyncIterator[QueueStatus]:
        import httpx

        client = self._ensure_client()
        url = self._requests_url(request_id, "/status/stream")
        try:
            async with client.stream("GET", url, params={"logs": int(logs)},
                                     headers={**self._headers(), "Accept": "text/event-stream"}
                                     ) as resp:
                if resp.status_code in (404, 405):
                    raise _NoStream
                if not resp.is_success:
                    await resp.aread()
                    raise http_error(resp.status_code, _json_or_text(resp), what="status")
                async for line in resp.aiter_lines():
                    if line.startswith("data:"):
                        yield QueueStatus.from_json(json.loads(line[5:].strip()))
        except httpx.HTTPError as exc:  # a broken stream: the caller falls back to polling
            raise _NoStream from exc


class _NoStream(Exception):
    """The server has no SSE status stream (or it broke): poll instead."""


def _json(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError as exc:
        raise ProtocolError(f"{resp.request.url}: expected JSON, got {resp.text[:120]!r}"
                            ) from exc


def _json_or_text(resp: httpx.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text


def _output(resp: httpx.Response) -> Output:
    data = _json(resp)
    try:
        out = Output.model_validate(data)
    except ValidationError as exc:
        raise ProtocolError(f"{resp.request.url}: not a fast-lcm-diffusion output ({exc})"
                            ) from exc
    if out.request_id is None and resp.headers.get("x-fal-request-id"):
        out.request_id = resp.headers["x-fal-request-id"]
    return out
