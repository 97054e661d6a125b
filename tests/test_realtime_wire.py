"""The sans-I/O core of the remote backends: ids, URLs, tokens, frames, slots, backoff."""

from __future__ import annotations

import json
import random

import msgpack
import pytest

from lcm_widgets.backends import _wire as w
from lcm_widgets.errors import (
    InvalidImage,
    InvalidInput,
    ProtocolError,
    RemoteError,
    RemoteTimeout,
    ServerBusy,
    Unauthorized,
)

# ------------------------------------------------------------------ endpoint ids and URLs


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
    """Endpoint ids split into namespace/owner/alias/path as fal's clients do (§1)."""
    a = w.AppId.parse(app)
    assert (a.base, a.full, a.alias) == (base, full, alias)


def test_app_id_rejects_single_segment() -> None:
    """A bare alias is refused with a message that shows the expected form."""
    with pytest.raises(InvalidInput, match="owner/alias"):
        w.AppId.parse("fast-lcm-diffusion")


def test_realtime_url_fal_and_local() -> None:
    """The realtime URL carries the token and max_buffering in the query (§3.1)."""
    app = w.AppId.parse("fal-ai/fast-lcm-diffusion")
    assert w.realtime_url(w.FAL_WS_URL, app, token="t.o.k", max_buffering=2) == (
        "wss://fal.run/fal-ai/fast-lcm-diffusion/realtime?fal_jwt_token=t.o.k&max_buffering=2")
    root = w.ws_base("http://127.0.0.1:8000/prefix/")
    assert root == "ws://127.0.0.1:8000/prefix"
    assert w.realtime_url(root, app) == "ws://127.0.0.1:8000/prefix/fal-ai/fast-lcm-diffusion/realtime"
    assert w.ws_base("https://h") == "wss://h"
    already = w.AppId.parse("fal-ai/fast-lcm-diffusion/realtime")
    assert w.realtime_url(root, already).count("/realtime") == 1


def test_ws_base_rejects_other_schemes() -> None:
    """base_url must be http(s) or ws(s)."""
    with pytest.raises(InvalidInput, match="base_url"):
        w.ws_base("ftp://x")


@pytest.mark.parametrize("bad", [0, 61, -1, 2.0, "2", True])
def test_max_buffering_validated(bad: object) -> None:
    """max_buffering outside 1..60 (or not an int) is a clear error."""
    with pytest.raises(InvalidInput, match="max_buffering: must be an integer between 1 and 60"):
        w.check_max_buffering(bad)  # type: ignore[arg-type]


def test_max_buffering_accepts_range() -> None:
    """1, 60 and None pass through."""
    assert [w.check_max_buffering(v) for v in (1, 60, None)] == [1, 60, None]


# ------------------------------------------------------------------ credentials and tokens


def test_key_from_env() -> None:
    """FAL_KEY wins; else FAL_KEY_ID:FAL_KEY_SECRET; else None (§2.1)."""
    assert w.key_from_env({"FAL_KEY": "a:b", "FAL_KEY_ID": "x"}) == "a:b"
    assert w.key_from_env({"FAL_KEY_ID": "i", "FAL_KEY_SECRET": "s"}) == "i:s"
    assert w.key_from_env({"FAL_KEY_ID": "i"}) is None


def test_secret_never_shows() -> None:
    """A Secret's repr and str hide the value."""
    s = w.Secret("id:very-secret")
    assert "very-secret" not in repr(s) + str(s) + repr([s])
    assert s.reveal() == "id:very-secret"


def test_token_body_is_alias_only() -> None:
    """The mint body lists only the alias, never owner or subpath (§2.2)."""
    app = w.AppId.parse("fal-ai/fast-lcm-diffusion/image-to-image")
    assert json.dumps(w.token_body(app, 120), separators=(",", ":")) == (
        '{"allowed_apps":["fast-lcm-diffusion"],"token_expiration":120}')


@pytest.mark.parametrize(("body", "token"), [("jwt", "jwt"), ({"token": "a"}, "a"),
                                             ({"detail": "b"}, "b")])
def test_parse_token_response(body: object, token: str) -> None:
    """A JSON string, {token} or {detail} all carry the JWT."""
    assert w.parse_token_response(body) == token


def test_parse_token_response_rejects_other() -> None:
    """Anything else is a ProtocolError."""
    with pytest.raises(ProtocolError, match="token response"):
        w.parse_token_response({"nope": 1})


def test_token_state_refreshes_at_90_percent() -> None:
    """A token is used until 90% of its lifetime, then a new one is needed."""
    t = w.TokenState()
    assert not t.usable(0.0)
    t.store("tok", now=100.0, lifetime=120.0)
    assert t.usable(100.0) and t.usable(207.9)
    assert not t.usable(208.0)
    t.drop()
    assert not t.usable(101.0)


# ------------------------------------------------------------------ frames


def test_encode_input_is_msgpack_map_with_bin() -> None:
    """Inputs are one msgpack map; bytes travel as bin."""
    raw = w.encode_input({"prompt": "a", "image_url": b"\xff\xd8"})
    assert msgpack.unpackb(raw) == {"prompt": "a", "image_url": b"\xff\xd8"}


def test_decode_result_frame() -> None:
    """A binary frame is a result; request_id is read from it."""
    ev = w.decode_frame(msgpack.packb({"images": [], "seed": 1, "request_id": "r1"}))
    assert isinstance(ev, w.ResultFrame) and ev.request_id == "r1"
    assert w.decode_frame(msgpack.packb({"seed": 1})).request_id is None  # type: ignore[union-attr]


@pytest.mark.parametrize("frame", [b"\xc1", msgpack.packb([1, 2])])
def test_decode_bad_binary(frame: bytes) -> None:
    """Undecodable msgpack or a non-map is a ProtocolError."""
    with pytest.raises(ProtocolError, match="result frame"):
        w.decode_frame(frame)


def test_decode_text_frames() -> None:
    """Text frames: x-fal-error, Unauthorized, timings, and anything else (§3.3)."""
    err = w.decode_frame('{"type":"x-fal-error","error":"INTERNAL_ERROR","reason":"boom"}')
    assert isinstance(err, w.ErrorFrame) and (err.code, err.reason) == ("INTERNAL_ERROR", "boom")
    assert isinstance(w.decode_frame('{"status":"error","error":"Unauthorized"}'),
                      w.UnauthorizedFrame)
    other = w.decode_frame('{"status":"error","error":"BAD","detail":"why"}')
    assert isinstance(other, w.ErrorFrame) and other.reason == "why"
    tim = w.decode_frame('{"type":"x-fal-message","action":"timings","timing":0.25}')
    assert isinstance(tim, w.TimingsFrame) and tim.timing == 0.25
    for text in ("not json", "[1]", '{"type":"hello"}'):
        assert isinstance(w.decode_frame(text), w.UnknownFrame)


def test_error_for_types() -> None:
    """TIMEOUT → RemoteTimeout, UNAUTHORIZED → Unauthorized, others → RemoteError."""
    def mk(code: str) -> w.ErrorFrame:
        return w.ErrorFrame(code, "r", {})
    assert type(w.error_for(mk("TIMEOUT"))) is RemoteTimeout
    assert type(w.error_for(mk("UNAUTHORIZED"))) is Unauthorized
    e = w.error_for(mk("INTERNAL_ERROR"))
    assert type(e) is RemoteError and (e.code, e.reason) == ("INTERNAL_ERROR", "r")


def test_error_for_validation_keeps_detail() -> None:
    """Our server's VALIDATION_ERROR becomes InvalidInput with its detail list and reason."""
    detail = [{"loc": ["body", "strength"], "msg": "must be between 0.0 and 1.0, got 2.0",
               "type": "less_than_equal"}]
    e = w.error_for(w.ErrorFrame("VALIDATION_ERROR", "strength: must be ...",
                                 {"detail": detail}))
    assert isinstance(e, InvalidInput) and e.errors == detail and e.field == "strength"
    assert "strength: must be" in str(e)
    img = w.error_for(w.ErrorFrame("INVALID_IMAGE", "image_url: could not decode", {}))
    assert isinstance(img, InvalidImage) and "could not decode" in str(img)


def test_http_error_mapping() -> None:
    """422 → InvalidInput with the detail list; 401/403 → Unauthorized; 429 → ServerBusy."""
    detail = [{"loc": ["body", "num_inference_steps"], "msg": "must be between 1 and 50, got 80",
               "type": "less_than_equal"}]
    e = w.http_error(422, {"detail": detail})
    assert isinstance(e, InvalidInput) and e.errors == detail
    assert e.field == "num_inference_steps" and "got 80" in str(e)
    assert isinstance(w.http_error(422, {"detail": "plain"}), InvalidInput)
    assert isinstance(w.http_error(401, {"detail": "bad key"}), Unauthorized)
    assert isinstance(w.http_error(403, "no"), Unauthorized)
    assert isinstance(w.http_error(429, {"detail": "full"}), ServerBusy)
    e5 = w.http_error(500, {"detail": "kaput"})
    assert type(e5) is RemoteError and e5.code == 500 and "kaput" in e5.reason


def test_data_uri_sniffs() -> None:
    """Raw bytes become a data URI with the sniffed type."""
    assert w.data_uri(b"\x89PNG\r\n\x1a\nxx").startswith("data:image/png;base64,")
    assert w.data_uri(b"RIFF0000WEBP").startswith("data:image/webp;base64,")
    assert w.data_uri(b"??").startswith("data:application/octet-stream;base64,")


# ------------------------------------------------------------------ slots


def test_slots_one_in_flight_newest_wins() -> None:
    """A submit while one is in flight fills the pending slot; a newer one replaces it."""
    s: w.Slots[str] = w.Slots()
    assert s.submit("a") == ("a", None)
    assert s.submit("b") == (None, None)
    assert s.submit("c") == (None, "b")
    assert (s.in_flight, s.pending) == ("a", "c")
    assert s.finish() == ("a", "c")
    assert s.finish() == ("c", None)
    assert s.finish() == (None, None)


def test_slots_collapse_keeps_newest() -> None:
    """After a drop only the newest request is resent."""
    s: w.Slots[str] = w.Slots()
    s.submit("a")
    assert s.collapse() is None and s.in_flight == "a"
    s.submit("b")
    assert s.collapse() == "a"
    assert (s.in_flight, s.pending) == ("b", None)


def test_slots_withdraw_and_clear() -> None:
    """A pending request can be withdrawn; clear empties both slots."""
    s: w.Slots[str] = w.Slots()
    s.submit("a")
    s.submit("b")
    assert not s.withdraw("a") and s.withdraw("b") and s.pending is None
    s.submit("c")
    assert s.clear() == ["a", "c"] and s.clear() == []


# ------------------------------------------------------------------ backoff


def test_backoff_grows_caps_and_jitters() -> None:
    """0 first, then exponential growth with jitter, capped at max_delay."""
    rng = random.Random(1)
    g = w.backoff(initial=0.1, factor=2.0, max_delay=1.0, jitter=0.5, rng=rng.random)
    delays = [next(g) for _ in range(10)]
    assert delays[0] == 0.0
    bounds = [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0, 1.0]
    for d, hi in zip(delays[1:], bounds, strict=True):
        assert hi * 0.5 <= d <= hi
    exact = w.backoff(initial=0.1, factor=3.0, max_delay=10.0, jitter=0.0)
    assert [round(next(exact), 6) for _ in range(4)] == [0.0, 0.1, 0.3, 0.9]
