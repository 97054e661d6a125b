"""The fal realtime codec, both directions: input frames, server frames, JSON text frames."""

from __future__ import annotations

import json

import msgpack
import pytest

from lcm_widgets.errors import ProtocolError
from lcm_widgets.protocol.fal import (
    ErrorFrame,
    ResultFrame,
    TimingsFrame,
    UnauthorizedFrame,
    UnknownFrame,
    data_uri,
    decode_frame,
    decode_input_frame,
    encode_input,
    encode_output,
    error_frame,
    timings_frame,
    unauthorized_frame,
)


def test_encode_input_is_msgpack_map_with_bin() -> None:
    """Inputs are one msgpack map; bytes travel as bin."""
    raw = encode_input({"prompt": "a", "image_url": b"\xff\xd8"})
    assert msgpack.unpackb(raw) == {"prompt": "a", "image_url": b"\xff\xd8"}


def test_decode_result_frame() -> None:
    """A binary frame is a result; request_id is read from it."""
    ev = decode_frame(msgpack.packb({"images": [], "seed": 1, "request_id": "r1"}))
    assert isinstance(ev, ResultFrame) and ev.request_id == "r1"
    assert decode_frame(msgpack.packb({"seed": 1})).request_id is None  # type: ignore[union-attr]


@pytest.mark.parametrize("frame", [b"\xc1", msgpack.packb([1, 2])])
def test_decode_bad_binary(frame: bytes) -> None:
    """Undecodable msgpack or a non-map is a ProtocolError."""
    with pytest.raises(ProtocolError, match="result frame"):
        decode_frame(frame)


def test_decode_text_frames() -> None:
    """Text frames: x-fal-error, Unauthorized, timings, and anything else."""
    err = decode_frame('{"type":"x-fal-error","error":"INTERNAL_ERROR","reason":"boom"}')
    assert isinstance(err, ErrorFrame) and (err.code, err.reason) == ("INTERNAL_ERROR", "boom")
    assert isinstance(decode_frame('{"status":"error","error":"Unauthorized"}'),
                      UnauthorizedFrame)
    other = decode_frame('{"status":"error","error":"BAD","detail":"why"}')
    assert isinstance(other, ErrorFrame) and other.reason == "why"
    tim = decode_frame('{"type":"x-fal-message","action":"timings","timing":0.25}')
    assert isinstance(tim, TimingsFrame) and tim.timing == 0.25
    for text in ("not json", "[1]", '{"type":"hello"}'):
        assert isinstance(decode_frame(text), UnknownFrame)


def test_data_uri_sniffs() -> None:
    """Raw bytes become a data URI with the sniffed type."""
    assert data_uri(b"\x89PNG\r\n\x1a\nxx").startswith("data:image/png;base64,")
    assert data_uri(b"RIFF0000WEBP").startswith("data:image/webp;base64,")
    assert data_uri(b"??").startswith("data:application/octet-stream;base64,")


def test_decode_input_frame_binary_and_text() -> None:
    """A binary frame holds one msgpack map, a text frame one JSON object; both give the
    same fields."""
    fields = {"prompt": "a", "seed": 1}
    assert decode_input_frame(msgpack.packb(fields), max_bytes=100) == fields
    assert decode_input_frame(json.dumps(fields), max_bytes=100) == fields


@pytest.mark.parametrize(("frame", "message"), [
    (b"\xc1", "message: must be one msgpack map, got 1 bytes that are not valid msgpack"),
    (msgpack.packb({"a": 1}) + msgpack.packb({"b": 2}),
     "message: must hold exactly one msgpack map, got several values in one frame"),
    (msgpack.packb([1, 2]), "message: must be a msgpack map of input fields, got list"),
    (msgpack.packb({1: "x"}), "message: map keys must be strings, got 1"),
    (b'{"prompt": "a"}', "message: a binary frame must hold msgpack, got JSON; send JSON as a "
                         "text frame"),
    ("not json", "message: a text frame must hold one JSON object of input fields, got 8 "
                 "bytes that are not JSON"),
    ("[1]", "message: must be a JSON object of input fields, got list"),
    (b"x" * 101, "message: must be at most 100 bytes, got 101"),
])
def test_decode_input_frame_refusals_say_what_the_frame_was(frame: bytes | str,
                                                           message: str) -> None:
    """Every refused frame is a ProtocolError (code INVALID_MESSAGE) naming what it was."""
    with pytest.raises(ProtocolError) as err:
        decode_input_frame(frame, max_bytes=100)
    assert str(err.value).startswith(message), str(err.value)


def test_server_frames_round_trip_through_the_client_decoder() -> None:
    """What the server encodes, the client decodes as the same kind of frame."""
    res = decode_frame(encode_output({"seed": 3, "request_id": "r"}))
    assert isinstance(res, ResultFrame) and res.request_id == "r"
    err = decode_frame(error_frame("VALIDATION_ERROR", "bad", request_id="q", detail=[]))
    assert isinstance(err, ErrorFrame) and (err.code, err.request_id) == ("VALIDATION_ERROR", "q")
    tim = decode_frame(timings_frame(0.5))
    assert isinstance(tim, TimingsFrame) and tim.timing == 0.5
    assert isinstance(decode_frame(unauthorized_frame("nope")), UnauthorizedFrame)
    assert decode_frame(error_frame("X", "y")).request_id is None  # type: ignore[union-attr]
