"""Endpoint ids, the URLs built from them, API keys and realtime tokens (pure)."""

from __future__ import annotations

import json

import pytest

from lcm_widgets.errors import InvalidInput, ProtocolError
from lcm_widgets.protocol.credentials import (
    Secret,
    TokenState,
    key_from_env,
    parse_token_response,
    token_body,
)
from lcm_widgets.protocol.endpoints import (
    FAL_WS_URL,
    AppId,
    check_max_buffering,
    realtime_url,
    ws_base,
)


@pytest.mark.parametrize(("app", "base", "full", "alias"), [
    ("fal-ai/fast-lcm-diffusion", "fal-ai/fast-lcm-diffusion", "fal-ai/fast-lcm-diffusion",
     "fast-lcm-diffusion"),
    ("fal-ai/fast-lcm-diffusion/image-to-image", "fal-ai/fast-lcm-diffusion",
     "fal-ai/fast-lcm-diffusion/image-to-image", "fast-lcm-diffusion"),
    ("/fal-ai/x/", "fal-ai/x", "fal-ai/x", "x"),
    ("12345-my-app", "12345/my-app", "12345/my-app", "my-app"),
    ("workflows/me/flow/sub", "workflows/me/flow", "workflows/me/flow/sub", "flow"),
])
def test_app_id_parse(app: str, base: str, full: str, alias: str) -> None:
    """Endpoint ids split into namespace/owner/alias/path as fal's clients do."""
    a = AppId.parse(app)
    assert (a.base, a.full, a.alias) == (base, full, alias)


def test_app_id_rejects_single_segment() -> None:
    """A bare alias is refused with a message that shows the expected form."""
    with pytest.raises(InvalidInput, match="owner/alias"):
        AppId.parse("fast-lcm-diffusion")


def test_realtime_url_fal_and_local() -> None:
    """The realtime URL carries the token and max_buffering in the query."""
    app = AppId.parse("fal-ai/fast-lcm-diffusion")
    assert realtime_url(FAL_WS_URL, app, token="t.o.k", max_buffering=2) == (
        "wss://fal.run/fal-ai/fast-lcm-diffusion/realtime?fal_jwt_token=t.o.k&max_buffering=2")
    root = ws_base("http://127.0.0.1:8000/prefix/")
    assert root == "ws://127.0.0.1:8000/prefix"
    assert realtime_url(root, app) == "ws://127.0.0.1:8000/prefix/fal-ai/fast-lcm-diffusion/realtime"
    assert ws_base("https://h") == "wss://h"
    already = AppId.parse("fal-ai/fast-lcm-diffusion/realtime")
    assert realtime_url(root, already).count("/realtime") == 1


def test_ws_base_rejects_other_schemes() -> None:
    """base_url must be http(s) or ws(s)."""
    with pytest.raises(InvalidInput, match="base_url"):
        ws_base("ftp://x")


@pytest.mark.parametrize("bad", [0, 61, -1, 2.0, "2", True])
def test_max_buffering_validated(bad: object) -> None:
    """max_buffering outside 1..60 (or not an int) is a clear error."""
    with pytest.raises(InvalidInput, match="max_buffering: must be an integer between 1 and 60"):
        check_max_buffering(bad)  # type: ignore[arg-type]


def test_max_buffering_accepts_range() -> None:
    """1, 60 and None pass through."""
    assert [check_max_buffering(v) for v in (1, 60, None)] == [1, 60, None]


def test_key_from_env() -> None:
    """FAL_KEY wins; else FAL_KEY_ID:FAL_KEY_SECRET; else None."""
    assert key_from_env({"FAL_KEY": "a:b", "FAL_KEY_ID": "x"}) == "a:b"
    assert key_from_env({"FAL_KEY_ID": "i", "FAL_KEY_SECRET": "s"}) == "i:s"
    assert key_from_env({"FAL_KEY_ID": "i"}) is None


def test_secret_never_shows() -> None:
    """A Secret's repr and str hide the value."""
    s = Secret("id:very-secret")
    assert "very-secret" not in repr(s) + str(s) + repr([s])
    assert s.reveal() == "id:very-secret"


def test_token_body_is_alias_only() -> None:
    """The mint body lists only the alias, never owner or subpath."""
    app = AppId.parse("fal-ai/fast-lcm-diffusion/image-to-image")
    assert json.dumps(token_body(app, 120), separators=(",", ":")) == (
        '{"allowed_apps":["fast-lcm-diffusion"],"token_expiration":120}')


@pytest.mark.parametrize(("body", "token"), [("jwt", "jwt"), ({"token": "a"}, "a"),
                                             ({"detail": "b"}, "b")])
def test_parse_token_response(body: object, token: str) -> None:
    """A JSON string, {token} or {detail} all carry the JWT."""
    assert parse_token_response(body) == token


def test_parse_token_response_rejects_other() -> None:
    """Anything else is a ProtocolError."""
    with pytest.raises(ProtocolError, match="token response"):
        parse_token_response({"nope": 1})


def test_token_state_refreshes_at_90_percent() -> None:
    """A token is used until 90% of its lifetime, then a new one is needed."""
    t = TokenState()
    assert not t.usable(0.0)
    t.store("tok", now=100.0, lifetime=120.0)
    assert t.usable(100.0) and t.usable(207.9)
    assert not t.usable(208.0)
    t.drop()
    assert not t.usable(101.0)
