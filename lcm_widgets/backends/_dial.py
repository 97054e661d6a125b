"""Opening realtime sockets: URLs, credentials, token mint, handshake errors, reconnect delays.

:class:`Dialer` is the part of :class:`~.realtime.RealtimeBackend` that knows *how to get a
socket*: which URL, which credentials (a minted token in the query, an ``Authorization: Key``
header, or none), and how a refused handshake maps to a typed error. What flows over the
socket is :mod:`.realtime`'s business. The API key lives here, in a
:class:`~lcm_widgets.protocol.credentials.Secret`.
"""

from __future__ import annotations

import copy
import json
import random
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import ConnectionClosed, RemoteError
from ..protocol.credentials import Secret, TokenState, parse_token_response, token_body
from ..protocol.endpoints import AppId, realtime_url
from ..protocol.errors import http_error
from ._net import http_client, ws_options

if TYPE_CHECKING:  # pragma: no cover
    import httpx
    from websockets.asyncio.client import ClientConnection

__all__ = ["Dialer", "backoff"]


class Dialer:
    """Opens authenticated realtime sockets to one endpoint; mints and caches tokens.

    Tokens are minted lazily, on a connect that finds none or one past 90% of its lifetime
    (fal checks the token only at the handshake, so an open socket is never affected and an
    idle notebook never mints). ``mints`` counts tokens minted.
    """

    def __init__(self, app: AppId, *, ws_root: str, rest_url: str, key: str | None,
                 use_jwt: bool, path: str, max_buffering: int | None, token_expiration: int,
                 open_timeout: float) -> None:
        self.app, self.ws_root, self.rest_url = app, ws_root, rest_url.rstrip("/")
        self._key = Secret(key) if key else None
        self.use_jwt, self.path, self.max_buffering = use_jwt, path, max_buffering
        self.token_expiration, self.open_timeout = token_expiration, open_timeout
        self.token = TokenState()
        self.mints = 0
        self._http: httpx.AsyncClient | None = None

    def for_app(self, app: AppId) -> Dialer:
        """A dialer with these settings (key, auth, path, buffering) for another endpoint of
        the same app, e.g. its ``/inpainting``; it mints and caches its own tokens."""
        twin = copy.copy(self)
        twin.app, twin.token, twin.mints, twin._http = app, TokenState(), 0, None
        return twin

    @property
    def auth(self) -> str:
        """``"jwt"``, ``"key"`` or ``"none"``."""
        return "none" if self._key is None else ("jwt" if self.use_jwt else "key")

    @property
    def can_remint(self) -> bool:
        """True when a refused token can be replaced by minting a new one."""
        return self.auth == "jwt"

    def url(self, token: str | None = None) -> str:
        """The WebSocket URL (without a token unless one is given)."""
        return realtime_url(self.ws_root, self.app, path=self.path, token=token,
                              max_buffering=self.max_buffering)

    async def open(self) -> ClientConnection:
        """A connected socket. Raises :class:`~lcm_widgets.errors.Unauthorized`,
        ``ServerBusy`` or ``RemoteError`` for an HTTP answer to the upgrade (or the mint), and
        :class:`ConnectionClosed` (code 1006) when nothing answers."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus, WebSocketException

        headers: dict[str, str] = {}
        token = None
        if self.auth == "jwt":
            if not self.token.usable(time.monotonic()):
                await self._mint()
            token = self.token.token
        elif self._key is not None:
            headers["Authorization"] = f"Key {self._key.reveal()}"
        url = self.url(token)
        try:  # proxy (or direct: loopback, NO_PROXY) and CA bundle from the environment
            return await connect(url, additional_headers=headers,
                                 open_timeout=self.open_timeout, max_size=64 * 2**20,
                                 compression=None, user_agent_header="lcm-widgets (python)",
                                 **ws_options(url))
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
            if status in (401, 403):
                self.token.drop()
            raise http_error(status, _json_or_text(body), what="realtime handshake") from exc
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise ConnectionClosed(1006, f"could not connect to {self.url()}: {exc}") from exc

    async def _mint(self) -> None:
        import httpx

        assert self._key is not None
        url = f"{self.rest_url}/tokens/"
        try:
            resp = await self._client().post(
                url, json=token_body(self.app, self.token_expiration),
                headers={"Authorization": f"Key {self._key.reveal()}",
                         "Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise ConnectionClosed(1006, f"token request to {url} failed: {exc}") from exc
        body = _json_or_text(resp.text)
        if not resp.is_success:
            raise http_error(resp.status_code, body, what="token request")
        self.token.store(parse_token_response(body), time.monotonic(),
                         float(self.token_expiration))
        self.mints += 1

    async def fetch(self, url: str) -> bytes:
        """GET an image URL of a result (when the server answered with links)."""
        import httpx

        try:
            resp = await self._client().get(url)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise RemoteError("IMAGE_FETCH", f"could not fetch {url}: {exc}") from exc
        return resp.content

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = http_client(self.open_timeout)
        return self._http

    async def aclose(self) -> None:
        """Close the HTTP client (used for the mint and image fetches)."""
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()

    def __repr__(self) -> str:
        return f"Dialer(url={self.url()!r}, auth={self.auth!r})"


def _json_or_text(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def backoff(initial: float = 0.05, factor: float = 2.0, max_delay: float = 5.0,
            jitter: float = 0.5, rng: Callable[[], float] = random.random) -> Iterator[float]:
    """Reconnect delays: 0 first (a dropped socket is usually just an idle close), then
    ``initial * factor**n`` capped at ``max_delay``, each shortened by up to ``jitter`` (a
    fraction) at random so that many clients do not reconnect in step. Infinite; the caller
    owns the budget.
    """
    yield 0.0
    delay = initial
    while True:
        yield delay * (1.0 - jitter * rng())
        delay = min(max_delay, delay * factor)
