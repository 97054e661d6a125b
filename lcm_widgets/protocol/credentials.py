"""Credentials: API keys that never print themselves, and realtime tokens.

Pure: no I/O. A key comes from ``FAL_KEY`` (or ``FAL_KEY_ID`` + ``FAL_KEY_SECRET``) and is sent
as ``Authorization: Key <key>``; a realtime token is minted at ``POST {rest}/tokens/`` with the
app's *alias* only and put in the socket URL as ``fal_jwt_token`` (docs/remote.md,
"Authentication").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ..errors import ProtocolError
from .endpoints import AppId

__all__ = ["Secret", "TokenState", "key_from_env", "parse_token_response", "token_body"]


class Secret:
    """A string that never shows itself in ``repr()``/``str()`` (API keys stay in the kernel)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one header or body that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def key_from_env(environ: dict[str, str] | None = None) -> str | None:
    """``FAL_KEY``, else ``FAL_KEY_ID:FAL_KEY_SECRET``, else None."""
    env = os.environ if environ is None else environ
    if env.get("FAL_KEY"):
        return env["FAL_KEY"]
    if env.get("FAL_KEY_ID") and env.get("FAL_KEY_SECRET"):
        return f"{env['FAL_KEY_ID']}:{env['FAL_KEY_SECRET']}"
    return None


def token_body(app: AppId, expiration: int) -> dict[str, Any]:
    """The ``POST /tokens/`` body: the alias only, never owner or path."""
    return {"allowed_apps": [app.alias], "token_expiration": expiration}


def parse_token_response(body: Any) -> str:
    """The JWT from a token response: a JSON string, or ``{"token"|"detail": str}``."""
    if isinstance(body, str) and body:
        return body
    if isinstance(body, dict):
        for k in ("token", "detail"):
            if isinstance(body.get(k), str) and body[k]:
                return str(body[k])
    raise ProtocolError(f"token response: expected a JSON string, got {str(body)[:120]!r}")


@dataclass
class TokenState:
    """A realtime token and when to replace it.

    The token is used for new connections until 90% of its lifetime has passed (as fal's JS
    client does); an open socket is never affected, since the token is checked only at the
    handshake. ``now`` is any monotonic clock in seconds.
    """

    token: str | None = None
    minted_at: float = 0.0
    lifetime: float = 120.0

    def store(self, token: str, now: float, lifetime: float) -> None:
        self.token, self.minted_at, self.lifetime = token, now, lifetime

    def usable(self, now: float) -> bool:
        """True while a token exists and is younger than 90% of its lifetime."""
        return self.token is not None and now < self.minted_at + 0.9 * self.lifetime

    def drop(self) -> None:
        self.token = None
