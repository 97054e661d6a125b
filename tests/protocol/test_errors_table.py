"""The one error table: every code round-trips server exception → code → client exception."""

from __future__ import annotations

import pytest

from lcm_widgets.errors import (
    BackendError,
    ConnectionClosed,
    GenerationFailed,
    GenerationTimeout,
    InvalidImage,
    InvalidInput,
    LCMWidgetsError,
    ProtocolError,
    RemoteError,
    RemoteTimeout,
    ServerBusy,
    Unauthorized,
)
from lcm_widgets.protocol.errors import ERRORS, code_for, exception_for, http_error, row


@pytest.mark.parametrize(("exc", "code"), [
    (InvalidImage("image_url: bad"), "INVALID_IMAGE"),
    (InvalidInput("steps: bad"), "VALIDATION_ERROR"),
    (ProtocolError("message: bad"), "INVALID_MESSAGE"),
    (GenerationTimeout("slow", timeout=1.0), "GENERATION_TIMEOUT"),
    (GenerationFailed("boom"), "GENERATION_FAILED"),
    (BackendError("closed"), "GENERATION_FAILED"),
    (ServerBusy(429, "full"), "SERVER_BUSY"),
    (ValueError("a bug"), "INTERNAL_ERROR"),
    (KeyError("x"), "INTERNAL_ERROR"),
])
def test_code_for_picks_the_most_specific_row(exc: BaseException, code: str) -> None:
    """The server answers each exception with the most specific row's code."""
    assert code_for(exc).code == code


@pytest.mark.parametrize("entry", ERRORS, ids=[r.code for r in ERRORS])
def test_every_code_round_trips_to_its_exception(entry: object) -> None:
    """A client receiving a code raises that row's exception type, reason kept."""
    r = row(entry.code)  # type: ignore[attr-defined]
    assert r is entry
    exc = exception_for(r.code, "the reason", {"request_id": "q"})
    assert type(exc) is r.error and "the reason" in str(exc)
    if isinstance(exc, RemoteError):
        assert (exc.code, exc.reason) == (r.code, "the reason")
    # and what the server raised maps back onto the same row
    for raised in r.raised_by:
        if raised is not Exception:
            assert code_for(_instance(raised)).code == r.code


def _instance(cls: type[BaseException]) -> BaseException:
    if issubclass(cls, RemoteError):
        return cls("X", "y")
    if issubclass(cls, GenerationTimeout):
        return cls("slow", timeout=1.0)
    return cls("x")


def test_codes_are_unique_and_cover_the_tree() -> None:
    """One row per code; every client exception is an LCMWidgetsError."""
    codes = [r.code for r in ERRORS]
    assert len(codes) == len(set(codes))
    assert all(issubclass(r.error, LCMWidgetsError) for r in ERRORS)


def test_session_timeout_is_a_closed_connection_not_a_request_timeout() -> None:
    """fal's idle TIMEOUT ends the session (the client reconnects); GENERATION_TIMEOUT and a
    client's own REQUEST_TIMEOUT are the one RemoteTimeout: no answer in time."""
    idle = exception_for("TIMEOUT", "no inputs, reconnect when needed!")
    assert type(idle) is ConnectionClosed and idle.code == 1000
    gen = exception_for("GENERATION_TIMEOUT", "took longer than 5 s")
    assert type(gen) is RemoteTimeout and gen.code == "GENERATION_TIMEOUT"


def test_unknown_and_aliased_codes() -> None:
    """A code we do not know is a RemoteError carrying it; FORBIDDEN reads as UNAUTHORIZED."""
    e = exception_for("SOMETHING_NEW", "r", {"x": 1})
    assert type(e) is RemoteError and e.code == "SOMETHING_NEW" and e.payload == {"x": 1}
    assert type(exception_for("forbidden", "r")) is Unauthorized
    assert row("nope") is None


def test_validation_codes_keep_the_detail_list() -> None:
    """VALIDATION_ERROR becomes InvalidInput with the server's detail list and field."""
    detail = [{"loc": ["body", "strength"], "msg": "must be between 0.0 and 1.0, got 2.0",
               "type": "less_than_equal"}]
    e = exception_for("VALIDATION_ERROR", "strength: must be ...", {"detail": detail})
    assert isinstance(e, InvalidInput) and e.errors == detail and e.field == "strength"
    assert "strength: must be" in str(e)
    img = exception_for("INVALID_IMAGE", "image_url: could not decode", {})
    assert isinstance(img, InvalidImage) and "could not decode" in str(img)
    bad = exception_for("INVALID_MESSAGE", "message: must be one msgpack map")
    assert type(bad) is ProtocolError and "INVALID_MESSAGE" in str(bad)


def test_http_error_mapping() -> None:
    """422 → InvalidInput with the detail list; 401/403 → Unauthorized; 429 → ServerBusy;
    504 generation_timeout → RemoteTimeout; any other status → RemoteError."""
    detail = [{"loc": ["body", "num_inference_steps"], "msg": "must be between 1 and 50, got 80",
               "type": "less_than_equal"}]
    e = http_error(422, {"detail": detail})
    assert isinstance(e, InvalidInput) and e.errors == detail
    assert e.field == "num_inference_steps" and "got 80" in str(e)
    assert isinstance(http_error(422, {"detail": "plain"}), InvalidInput)
    assert isinstance(http_error(401, {"detail": "bad key"}), Unauthorized)
    assert isinstance(http_error(403, "no"), Unauthorized)
    busy = http_error(429, {"detail": "full", "error_type": "queue_full"}, what="submit")
    assert isinstance(busy, ServerBusy) and "submit refused for capacity: full" in str(busy)
    slow = http_error(504, {"detail": "took too long", "error_type": "generation_timeout"})
    assert type(slow) is RemoteTimeout and slow.code == 504
    e5 = http_error(500, {"detail": "kaput"})
    assert type(e5) is RemoteError and e5.code == 500 and "kaput" in e5.reason


def test_the_architecture_doc_shows_this_table() -> None:
    """docs/architecture.md, "The error table", lists every row with its code, exception,
    HTTP status and error_type, in the table's order."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    section = doc.split("## The error table", 1)[1].split("\n## ", 1)[0]
    rows = [[c.strip().strip("`") for c in line.strip("|").split("|")]
            for line in section.splitlines() if re.match(r"\| `[A-Z_]+` \|", line)]
    assert [(c[0], c[1], c[3], c[4]) for c in rows] == [
        (r.code, r.error.__name__, str(r.http_status or "–"), r.error_type or "–")
        for r in ERRORS]
