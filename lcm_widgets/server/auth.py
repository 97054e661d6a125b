"""API keys and short-lived realtime tokens (docs/server.md, "Authentication").

Two kinds of credentials are accepted:

* **API keys** (``Authorization: Key <id:secret>``), loaded from ``LCM_WIDGETS_KEYS``
  (comma-separated), ``FAL_KEY`` (one key, or ``FAL_KEY_ID`` + ``FAL_KEY_SECRET``), a keys file
  (one key per line, ``#`` comments), or passed in directly.
* **Tokens** minted by ``POST /tokens/`` for an API key: a JWT (HS256) scoped to the apps in
  ``allowed_apps`` and valid for ``token_expiration`` seconds. The realtime WebSocket accepts
  one as the ``fal_jwt_token`` query parameter or as ``Authorization: Bearer <token>``. An entry
  is either the whole app id (``fal-ai/fast-lcm-diffusion``, which must match exactly) or the
  bare alias (``fast-lcm-diffusion``, meaning this server's app): a token minted for
  ``evil-owner/fast-lcm-diffusion`` is not valid here.

Tokens are signed with a per-server random secret, so they stop working when the server
restarts (clients mint a new one on their next connect).

**Owners.** Everything a request creates (queue jobs and their results, uploaded files) belongs
to its caller's :attr:`Principal.owner`: the id of the API key (the part before ``:``), the same
for a token minted with that key, and ``"anonymous"`` for everyone when auth is off. Routes read
it with :func:`owner_of` (it authenticates the request when no dependency did yet) and answer
404 to anyone else, as if the object did not exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import Unauthorized
from ..protocol.errors import UNAUTHORIZED

__all__ = [
    "KEYS_ENV",
    "MAX_TOKEN_EXPIRATION",
    "AuthError",
    "Authenticator",
    "Principal",
    "keys_from_env",
    "keys_from_file",
    "owner_of",
]

KEYS_ENV = "LCM_WIDGETS_KEYS"
MAX_TOKEN_EXPIRATION = 86_400


class AuthError(Unauthorized):
    """Credentials are missing, unknown, expired or scoped to another app.

    An :class:`~lcm_widgets.errors.Unauthorized`, so the error table answers it (HTTP 401);
    ``str()`` is the reason alone, which is what the client is told.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(UNAUTHORIZED.code, reason)
        self.args = (reason,)


@dataclass(frozen=True)
class Principal:
    """Who made a request: ``key_id`` is the part of the API key before ``:`` (for a token, the
    key it was minted with; ``"anonymous"`` when auth is off)."""

    key_id: str
    via: str  # "key", "token" or "anonymous"

    @property
    def owner(self) -> str:
        """The identity objects are stored under (jobs, results, uploaded files)."""
        return self.key_id


def owner_of(request: Any) -> str:
    """The owner id of ``request``'s caller (:attr:`Principal.owner`).

    Routes behind ``Depends(require_auth)`` have their principal on ``request.state`` already;
    otherwise this authenticates the request now and raises :class:`AuthError` (HTTP 401) for
    bad credentials. Compare it with the owner recorded on an object and answer 404 when they
    differ.
    """
    principal = getattr(request.state, "principal", None)
    if principal is None:
        state = request.app.state.lcm
        principal = state.auth.check_header(request.headers.get("authorization"),
                                            app_id=state.config.app_id)
        request.state.principal = principal
    return str(principal.owner)


def keys_from_env(environ: dict[str, str] | None = None) -> list[str]:
    """API keys from ``LCM_WIDGETS_KEYS`` (comma-separated) and ``FAL_KEY``/``FAL_KEY_ID``."""
    env = os.environ if environ is None else environ
    keys = [k.strip() for k in env.get(KEYS_ENV, "").split(",") if k.strip()]
    if env.get("FAL_KEY", "").strip():
        keys.append(env["FAL_KEY"].strip())
    elif env.get("FAL_KEY_ID") and env.get("FAL_KEY_SECRET"):
        keys.append(f"{env['FAL_KEY_ID']}:{env['FAL_KEY_SECRET']}")
    return keys


def keys_from_file(path: str | os.PathLike[str]) -> list[str]:
    """One key per line; blank lines and ``#`` comments are skipped."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def app_alias(app_id: str) -> str:
    """The alias of an endpoint id: ``fast-lcm-diffusion`` of ``fal-ai/fast-lcm-diffusion``
    (``workflows/`` and ``comfy/`` ids have one more level)."""
    parts = app_id.strip("/").split("/")
    if len(parts) < 2:
        return parts[0]
    return parts[2] if parts[0] in {"workflows", "comfy"} and len(parts) > 2 else parts[1]


def app_matches(entry: object, app_id: str) -> bool:
    """Whether an ``allowed_apps`` entry names ``app_id``: the whole id, exactly (owner
    included), or the bare alias (no ``/``), which means this server's app."""
    if not isinstance(entry, str):
        return False
    entry = entry.strip("/")
    if "/" in entry:
        return entry == app_id.strip("/")
    return entry == app_alias(app_id)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Authenticator:
    """Checks API keys and mints/verifies app-scoped tokens.

    ``enabled=False`` accepts every request (``--no-auth``); tokens can still be minted so that
    clients that always mint one keep working.
    """

    def __init__(self, keys: Iterable[str] = (), *, enabled: bool = True,
                 secret: bytes | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._keys = {k for k in keys if k}
        self.enabled = enabled
        self._secret = secret or secrets.token_bytes(32)
        self._clock = clock
        if enabled and not self._keys:
            raise ValueError(
                "auth is on but no API keys are configured; set LCM_WIDGETS_KEYS or FAL_KEY, "
                "pass --keys-file, or turn auth off with --no-auth")

    @property
    def key_count(self) -> int:
        """How many API keys are configured."""
        return len(self._keys)

    # -- API keys -------------------------------------------------------------------------

    def check_key(self, key: str) -> Principal:
        """The principal for an API key; raises :class:`AuthError` when it is unknown."""
        # compare against every key so the time taken does not depend on which one matched
        ok = False
        for known in self._keys:
            ok |= hmac.compare_digest(known.encode(), key.encode())
        if not ok:
            raise AuthError("unknown API key")
        return Principal(key_id=key.split(":", 1)[0], via="key")

    def secret_of(self, key_id: str) -> str | None:
        """The whole API key (``id:secret``) whose id is ``key_id`` (webhook signing), or None."""
        for known in sorted(self._keys):
            if known.split(":", 1)[0] == key_id:
                return known
        return None

    def check_header(self, authorization: str | None, *, app_id: str | None = None) -> Principal:
        """Authenticate an ``Authorization: Key …`` or ``Bearer <token>`` header.

        A token must allow ``app_id`` when one is given. Raises :class:`AuthError`.
        """
        if not self.enabled:
            return Principal(key_id="anonymous", via="anonymous")
        if not authorization:
            raise AuthError("missing credentials; send 'Authorization: Key <id:secret>'")
        scheme, _, value = authorization.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "key" and value:
            return self.check_key(value)
        if scheme.lower() == "bearer" and value:
            return self.verify_token(value, app_id=app_id)
        raise AuthError("Authorization header must be 'Key <id:secret>' or 'Bearer <token>', "
                        f"got scheme {scheme!r}")

    # -- tokens ---------------------------------------------------------------------------

    def mint(self, principal: Principal, allowed_apps: list[str], expiration: int) -> str:
        """A signed token for ``allowed_apps`` (aliases) valid for ``expiration`` seconds."""
        now = int(self._clock())
        claims = {"sub": principal.key_id, "allowed_apps": list(allowed_apps), "iat": now,
                  "exp": now + int(expiration), "jti": secrets.token_hex(8)}
        return self._sign(claims)

    def _sign(self, claims: dict[str, Any]) -> str:
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(sig)}"

    def verify_token(self, token: str, *, app_id: str | None = None) -> Principal:
        """Check a token's signature, expiry and scope (``app_id``, the whole endpoint id);
        raises :class:`AuthError`."""
        if not self.enabled:
            return Principal(key_id="anonymous", via="anonymous")
        parts = token.split(".")
        if len(parts) != 3:
            raise AuthError("malformed token; mint one with POST /tokens/")
        header, payload, sig = parts
        expected = hmac.new(self._secret, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        try:
            given = _unb64(sig)
            claims = json.loads(_unb64(payload))
        except (ValueError, json.JSONDecodeError):
            raise AuthError("malformed token; mint one with POST /tokens/") from None
        if not hmac.compare_digest(expected, given):
            raise AuthError("invalid token signature (minted by another server, or the "
                            "server restarted); mint a new one with POST /tokens/")
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int):
            raise AuthError("malformed token claims")
        if claims["exp"] <= self._clock():
            raise AuthError("token expired; mint a new one with POST /tokens/")
        apps = claims.get("allowed_apps") or []
        if app_id is not None and not (isinstance(apps, list)
                                       and any(app_matches(a, app_id) for a in apps)):
            raise AuthError(f"token is not valid for app {app_id!r} (allowed_apps={apps})")
        return Principal(key_id=str(claims.get("sub", "")), via="token")

    def sign_claims_for_tests(self, claims: dict[str, Any]) -> str:
        """Sign arbitrary claims (tests use it to build expired tokens)."""
        return self._sign(claims)
