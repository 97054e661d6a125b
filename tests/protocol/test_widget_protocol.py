"""The protocol constants in js/protocol.js and lcm_widgets/protocol/widget.py agree, and the
pure parse/build functions behave."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lcm_widgets.errors import ProtocolError
from lcm_widgets.protocol import widget as proto

ROOT = Path(__file__).resolve().parents[2]
JS = ROOT / "js" / "protocol.js"
DOC = ROOT / "docs" / "widget-protocol.md"

_CONST = re.compile(r"^export const ([A-Z][A-Z0-9_]*) = (\"[^\"]*\"|-?\d+);$", re.M)


def js_constants() -> dict[str, object]:
    """``export const NAME = "str" | int;`` lines of protocol.js."""
    return {name: json.loads(value) for name, value in _CONST.findall(JS.read_text())}


def test_js_has_the_constants() -> None:
    """The parser finds the version, every message type and every reason."""
    consts = js_constants()
    assert consts["PROTOCOL_VERSION"] == 1
    assert {k for k in consts if k.startswith("MSG_")} == {
        "MSG_HELLO", "MSG_FRAME", "MSG_ACK", "MSG_TOOK", "MSG_RESULT", "MSG_SYNC",
        "MSG_CLEAR_CANVAS", "MSG_SET_BACKGROUND", "MSG_DIRECT", "MSG_RESTORE",
        "MSG_LOAD_FRAME", "MSG_CLEAR_MASK"}


@pytest.mark.parametrize("name,value", sorted(js_constants().items()))
def test_python_mirrors_js(name: str, value: object) -> None:
    """Every JS constant exists in protocol/widget.py with the same value."""
    assert getattr(proto, name) == value


def test_no_python_only_constants() -> None:
    """Python has no message type or reason that JS lacks."""
    js = js_constants()
    py = {k for k in vars(proto) if re.fullmatch(r"(MSG|REASON)_[A-Z_]+", k)}
    assert py <= set(js)
    assert set(proto.REASONS) == {v for k, v in js.items() if k.startswith("REASON_")}


def test_doc_names_every_message_type() -> None:
    """docs/widget-protocol.md documents every message type."""
    doc = DOC.read_text()
    for name, value in js_constants().items():
        if name.startswith("MSG_"):
            assert f"`{value}`" in doc, value


def test_parse_frame_minimal_fields_default() -> None:
    """mime, t_input and reason have defaults; received_at can be given."""
    f = proto.parse_frame({"type": "frame", "v": 1, "seq": 0, "width": 8, "height": 8},
                          [b"x"], received_at=5.0)
    assert (f.mime, f.t_input, f.reason, f.received_at, f.size) == ("image/jpeg", 0.0,
                                                                     "stroke", 5.0, 1)
    assert "data" not in repr(f)


def test_parse_frame_keeps_unknown_reasons() -> None:
    """A reason from a newer browser build is passed on as sent."""
    f = proto.parse_frame({"type": "frame", "v": 1, "seq": 1, "width": 8, "height": 8,
                           "reason": "future"}, [b"x"])
    assert f.reason == "future"


@pytest.mark.parametrize("content,text", [
    ({"type": "frame", "v": 1, "seq": 1, "width": 8, "height": 8}, "none"),
    ({"type": "frame", "v": 3, "seq": 1}, "protocol version must be 1, got 3"),
    ({"type": "frame", "seq": 1}, "protocol version must be 1, got None"),
    ({"type": "ack", "v": 1}, "expected type 'frame'"),
    ([], "must be a JSON object"),
])
def test_parse_frame_errors(content: object, text: str) -> None:
    """Errors say what is wrong."""
    with pytest.raises(ProtocolError, match=re.escape(text)):
        proto.parse_frame(content, [])


def test_parse_ack_and_hello() -> None:
    """rid/dropped/t_paint are optional in ack; hello's view is a string."""
    a = proto.parse_ack({"type": "ack", "v": 1, "seq": 2, "rid": 3, "t_paint": 4,
                         "dropped": True})
    assert (a.seq, a.rid, a.t_paint, a.dropped) == (2, 3, 4.0, True)
    b = proto.parse_ack({"type": "ack", "v": 1, "seq": 2})
    assert b.rid == -1 and b.t_paint > 0 and not b.dropped
    assert proto.parse_hello({"type": "hello", "v": 1, "view": 7}).view == "7"
    assert proto.parse_hello({"type": "hello", "v": 1}).view == ""
    with pytest.raises(ProtocolError, match="t_paint: must be a number"):
        proto.parse_ack({"type": "ack", "v": 1, "seq": 2, "t_paint": float("nan")})


def test_kernel_messages() -> None:
    """The builders give the documented shapes."""
    assert proto.took_message(3, 12.5) == {"type": "took", "v": 1, "seq": 3, "t": 12.5}
    t = proto.took_message(3)["t"]  # default: the kernel's epoch-ms clock now
    assert abs(t - proto.now_ms()) < 60_000
    assert proto.clear_canvas_message() == {"type": "clear_canvas", "v": 1}
    assert proto.set_background_message("image/png") == {"type": "set_background", "v": 1,
                                                         "mime": "image/png"}
    meta: proto.ResultMeta = {"seq": 1, "rid": 2, "mime": "image/jpeg", "width": 8,
                              "height": 8, "timings_ms": None, "params": None}
    assert proto.result_message(meta) == {"type": "result", "v": 1, **meta}
    assert proto.load_frame_message(4, "image/jpeg", 8, 16) == {
        "type": "load_frame", "v": 1, "seq": 4, "mime": "image/jpeg", "width": 8, "height": 16}
    assert proto.clear_mask_message() == {"type": "clear_mask", "v": 1}
    assert set(proto.KERNEL_MESSAGES) == {"took", "result", "sync", "clear_canvas",
                                          "set_background", "direct", "load_frame",
                                          "clear_mask"}


def test_parse_restore() -> None:
    """``restore`` carries a result id and its params (a JSON object); anything else is a
    ProtocolError naming the field."""
    r = proto.parse_restore({"type": "restore", "v": 1, "rid": 3, "params": {"seed": 5}})
    assert (r.rid, r.params) == (3, {"seed": 5})
    with pytest.raises(ProtocolError, match=r"restore\.params: must be a JSON object"):
        proto.parse_restore({"type": "restore", "v": 1, "rid": 3, "params": [1]})
    with pytest.raises(ProtocolError, match="missing field 'params'"):
        proto.parse_restore({"type": "restore", "v": 1})
