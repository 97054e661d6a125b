"""Sketchpad message handling through a recording comm (real ipywidgets path, no kernel)."""

from __future__ import annotations

import io
import logging
import threading
from typing import Any

import pytest
import traitlets
from PIL import Image

from lcm_widgets.errors import InvalidImage, InvalidInput
from lcm_widgets.protocol.widget import Ack, Frame
from lcm_widgets.testing import RecordingComm
from lcm_widgets.widgets.sketchpad import Sketchpad


def jpeg(color: str = "red", size: tuple[int, int] = (64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG")
    return buf.getvalue()


def frame_msg(seq: int = 1, **over: Any) -> dict[str, Any]:
    msg = {"type": "frame", "v": 1, "seq": seq, "width": 64, "height": 48,
           "mime": "image/jpeg", "t_input": 1000.5, "reason": "stroke"}
    msg.update(over)
    return msg


@pytest.fixture
def comm() -> RecordingComm:
    return RecordingComm()


@pytest.fixture
def pad(comm: RecordingComm) -> Sketchpad:
    return Sketchpad(comm=comm)


def test_frame_reaches_callback_and_took_is_sent_first(pad: Sketchpad, comm: RecordingComm
                                                       ) -> None:
    """A frame message gives the callback a Frame with the bytes and fields, after took(seq)."""
    got: list[tuple[Frame, int]] = []
    pad.on_frame(lambda f: got.append((f, len(comm.custom_of("took")))))
    data = jpeg()
    comm.deliver(frame_msg(7), [data])
    assert len(got) == 1
    frame, tooks_before_callback = got[0]
    assert tooks_before_callback == 1
    # took carries the kernel's clock at the copy (bench-live relates the two clocks by it)
    assert comm.custom_of("took") == [({"type": "took", "v": 1, "seq": 7,
                                        "t": frame.received_at}, ())]
    assert (frame.seq, frame.data, frame.width, frame.height) == (7, data, 64, 48)
    assert (frame.mime, frame.t_input, frame.reason) == ("image/jpeg", 1000.5, "stroke")
    assert isinstance(frame.data, bytes)
    assert frame.received_at > 0
    assert pad.frame == data
    assert pad.last_frame == frame
    img = pad.frame_image()
    assert img is not None and img.size == (64, 48)


@pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
def test_frame_buffer_types(pad: Sketchpad, comm: RecordingComm, wrap: Any) -> None:
    """bytes, bytearray and memoryview buffers are copied into bytes."""
    got: list[Frame] = []
    pad.on_frame(got.append)
    comm.deliver(frame_msg(), [wrap(b"\xff\xd8abc")])
    assert got[0].data == b"\xff\xd8abc" and type(got[0].data) is bytes


def test_frame_bytes_survive_the_buffer_changing(pad: Sketchpad) -> None:
    """The handler copies the memoryview: later writes to the buffer do not change the frame."""
    buf = bytearray(b"\xff\xd8abc")
    pad._handle_msg({"content": {"data": {"method": "custom", "content": frame_msg()}},
                     "buffers": [memoryview(buf)]})
    buf[:] = b"xxxxx"
    assert pad.frame == b"\xff\xd8abc"


@pytest.mark.parametrize("content,buffers", [
    (frame_msg(seq=None), [b"x"]),
    ({k: v for k, v in frame_msg().items() if k != "seq"}, [b"x"]),
    (frame_msg(), []),
    (frame_msg(), [b""]),
    (frame_msg(), ["not binary"]),
    (frame_msg(seq=-1), [b"x"]),
    (frame_msg(seq="3"), [b"x"]),
    (frame_msg(seq=True), [b"x"]),
    (frame_msg(width=0), [b"x"]),
    (frame_msg(mime="text/html"), [b"x"]),
    (frame_msg(reason=5), [b"x"]),
    (frame_msg(t_input="now"), [b"x"]),
    (frame_msg(v=2), [b"x"]),
    ({"type": "ack", "v": 1}, []),
    ({"type": "ack", "v": 1, "seq": 1, "rid": "x"}, []),
    ({"type": "nonsense", "v": 1}, []),
    ({"no": "type"}, []),
    (["a", "list"], []),
    ("a string", []),
    (None, None),
])
def test_malformed_messages_are_ignored(pad: Sketchpad, comm: RecordingComm,
                                        caplog: pytest.LogCaptureFixture, content: Any,
                                        buffers: Any) -> None:
    """Malformed or unknown messages log a warning, send nothing and never raise."""
    got: list[Any] = []
    pad.on_frame(got.append)
    pad.on_ack(lambda *a: got.append(a))
    with caplog.at_level(logging.WARNING, logger="lcm_widgets.widgets.sketchpad"):
        pad._handle_msg({"content": {"data": {"method": "custom", "content": content}},
                         "buffers": buffers})
    assert got == []
    assert comm.custom == []
    assert any("Sketchpad" in r.getMessage() for r in caplog.records)


def test_integer_valued_floats_are_accepted(pad: Sketchpad, comm: RecordingComm) -> None:
    """JSON numbers like 3.0 count as whole numbers."""
    comm.deliver(frame_msg(seq=3.0, width=64.0), [b"\xff\xd8"])
    assert comm.custom_of("took")[0][0]["seq"] == 3


def test_anywidget_command_messages_pass_silently(pad: Sketchpad, comm: RecordingComm,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    """anywidget's own command envelope ({kind: ...}) is not ours and not warned about."""
    with caplog.at_level(logging.WARNING):
        comm.deliver({"kind": "anywidget-command", "id": "1", "name": "x", "msg": None})
    assert caplog.records == []


def test_callback_errors_are_logged_not_raised(pad: Sketchpad, comm: RecordingComm,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """A raising callback does not stop the others or reach the kernel."""
    seen: list[int] = []

    def bad(frame: Frame) -> None:
        raise RuntimeError("boom")

    pad.on_frame(bad)
    pad.on_frame(lambda f: seen.append(f.seq))
    with caplog.at_level(logging.ERROR):
        comm.deliver(frame_msg(2), [b"\xff\xd8"])
    assert seen == [2]
    assert "boom" in caplog.text


def test_on_frame_remove(pad: Sketchpad, comm: RecordingComm) -> None:
    """remove=True unregisters a callback."""
    got: list[Frame] = []
    pad.on_frame(got.append)
    pad.on_frame(got.append, remove=True)
    comm.deliver(frame_msg(), [b"\xff\xd8"])
    assert got == []


def test_send_result_sends_content_and_buffer(pad: Sketchpad, comm: RecordingComm) -> None:
    """send_result sends a result message with the image as the one buffer."""
    data = jpeg("blue", (80, 40))
    rid = pad.send_result(4, data, timings_ms={"inference": 12}, params={"seed": 3})
    assert rid == 1
    [(content, buffers)] = comm.custom_of("result")
    assert content == {"type": "result", "v": 1, "seq": 4, "rid": 1, "mime": "image/jpeg",
                       "width": 80, "height": 40, "timings_ms": {"inference": 12.0},
                       "params": {"seed": 3}}
    assert buffers == (data,)
    assert pad.send_result(5, memoryview(data), mime="image/png", width=1, height=2) == 2
    content, _ = comm.custom_of("result")[-1]
    assert (content["mime"], content["width"], content["height"]) == ("image/png", 1, 2)


@pytest.mark.parametrize("args,kwargs,field", [
    ((-1, b"x"), {"width": 1, "height": 1}, "seq"),
    ((True, b"x"), {"width": 1, "height": 1}, "seq"),
    ((1, b""), {"width": 1, "height": 1}, "data"),
    ((1, b"x"), {"mime": "text/plain", "width": 1, "height": 1}, "mime"),
    ((1, b"not an image"), {}, "data"),
])
def test_send_result_rejects_bad_arguments(pad: Sketchpad, args: Any, kwargs: Any,
                                           field: str) -> None:
    """Bad arguments raise InvalidInput naming the field."""
    with pytest.raises(InvalidInput) as err:
        pad.send_result(*args, **kwargs)
    assert err.value.field == field
    assert str(err.value).startswith(field)


def test_hello_syncs_newest_frame_and_result(pad: Sketchpad, comm: RecordingComm) -> None:
    """hello → sync with the newest frame and the newest result, buffers in that order."""
    comm.deliver({"type": "hello", "v": 1, "view": "v1"})
    [(empty, bufs)] = comm.custom_of("sync")
    assert (empty["has_frame"], empty["has_result"], empty["seq"], bufs) == (False, False, 0, ())
    f1, f2, r1, r2 = jpeg("red"), jpeg("green"), jpeg("blue"), jpeg("white")
    comm.deliver(frame_msg(1), [f1])
    comm.deliver(frame_msg(2), [f2])
    pad.send_result(2, r2)
    pad.send_result(1, r1)  # older: not kept for sync
    comm.clear_log()
    comm.deliver({"type": "hello", "v": 1, "view": "v2"})
    [(sync, bufs)] = comm.custom_of("sync")
    assert sync["view"] == "v2" and sync["seq"] == 2
    assert sync["has_frame"] and sync["frame"] == {"seq": 2, "mime": "image/jpeg",
                                                   "width": 64, "height": 48}
    assert sync["has_result"] and sync["result_seq"] == 2 and sync["result"]["rid"] == 1
    assert bufs == (f2, r2)


def test_ack_callback_once_per_result(pad: Sketchpad, comm: RecordingComm) -> None:
    """on_ack gets each result's ack once, even when several views ack it."""
    acks: list[tuple[int, float]] = []
    pad.on_ack(lambda a: acks.append((a.seq, a.t_paint)))
    rid = pad.send_result(3, jpeg())
    ack = {"type": "ack", "v": 1, "seq": 3, "rid": rid, "t_paint": 123.0, "dropped": False}
    comm.deliver(ack)
    comm.deliver({**ack, "t_paint": 124.0})  # second view
    comm.deliver({**ack, "rid": rid + 5})  # a result we never sent
    assert acks == [(3, 123.0)]
    comm.deliver({"type": "ack", "v": 1, "seq": 9, "t_paint": 5})  # no rid: always forwarded
    assert acks[-1] == (9, 5.0)


def test_acks_out_of_order_each_reach_the_callback_once(pad: Sketchpad,
                                                       comm: RecordingComm) -> None:
    """With two results out, the newer can be painted before the older is dropped: the older's
    ack comes second and still counts (the Studio's pacer waits for it), once."""
    acks: list[int] = []
    pad.on_ack(lambda a: acks.append(a.rid))
    r1, r2 = pad.send_result(3, jpeg()), pad.send_result(4, jpeg())
    for rid, seq, dropped in ((r2, 4, False), (r1, 3, True), (r1, 3, True), (r2, 4, False)):
        comm.deliver({"type": "ack", "v": 1, "seq": seq, "rid": rid, "t_paint": 1.0,
                      "dropped": dropped})
    assert acks == [r2, r1]


def test_result_ids_no_view_acks_are_forgotten(pad: Sketchpad, comm: RecordingComm) -> None:
    """The ids waiting for an ack are bounded: a very old result's late ack is ignored."""
    from lcm_widgets.widgets.sketchpad import _UNACKED_RIDS

    acks: list[int] = []
    pad.on_ack(lambda a: acks.append(a.rid))
    rids = [pad.send_result(i, jpeg()) for i in range(_UNACKED_RIDS + 5)]
    assert len(pad._unacked_rids) == _UNACKED_RIDS
    for rid in (rids[0], rids[-1]):
        comm.deliver({"type": "ack", "v": 1, "seq": 0, "rid": rid, "t_paint": 1.0})
    assert acks == [rids[-1]]


def test_ack_callback_gets_the_ack_with_rid_and_dropped(pad: Sketchpad, comm: RecordingComm
                                                        ) -> None:
    """The callback gets the Ack (seq, rid, t_paint, dropped); remove=True unregisters it."""
    acks: list[Ack] = []
    pad.on_ack(acks.append)
    r1 = pad.send_result(3, jpeg())
    r2 = pad.send_result(4, jpeg())
    comm.deliver({"type": "ack", "v": 1, "seq": 3, "rid": r1, "t_paint": 10.0,
                  "dropped": True})
    comm.deliver({"type": "ack", "v": 1, "seq": 4, "rid": r2, "t_paint": 20.0})
    assert acks == [Ack(seq=3, rid=r1, t_paint=10.0, dropped=True),
                    Ack(seq=4, rid=r2, t_paint=20.0, dropped=False)]
    pad.on_ack(acks.append, remove=True)
    r3 = pad.send_result(5, jpeg())
    comm.deliver({"type": "ack", "v": 1, "seq": 5, "rid": r3, "t_paint": 30.0})
    assert len(acks) == 2


def test_send_result_takes_the_callers_result_id(pad: Sketchpad, comm: RecordingComm) -> None:
    """A caller's rid is sent as given (one id space with the Studio's engine); it must grow,
    and a refused one names the field, the limit and the value."""
    assert pad.send_result(1, jpeg(), rid=7) == 7
    [(meta, _)] = comm.custom_of("result")
    assert meta["rid"] == 7
    assert pad.send_result(2, jpeg()) == 8  # without one: the next number
    with pytest.raises(InvalidInput, match=r"rid: must be larger than the last result id "
                                           r"sent \(8\), got 8"):
        pad.send_result(3, jpeg(), rid=8)
    with pytest.raises(InvalidInput, match=r"rid: must be a whole number >= 1, got 0"):
        pad.send_result(3, jpeg(), rid=0)
    acks: list[Ack] = []
    pad.on_ack(acks.append)
    comm.deliver({"type": "ack", "v": 1, "seq": 2, "rid": 8, "t_paint": 1.0})
    assert [a.rid for a in acks] == [8]


def test_clear_sends_clear_canvas_and_forgets_the_frame(pad: Sketchpad, comm: RecordingComm
                                                        ) -> None:
    """clear() tells the views and forgets the newest frame."""
    comm.deliver(frame_msg(), [b"\xff\xd8"])
    pad.clear()
    assert comm.custom_of("clear_canvas") == [({"type": "clear_canvas", "v": 1}, ())]
    assert pad.frame is None and pad.frame_image() is None


def test_set_background_from_bytes_pil_array_and_path(pad: Sketchpad, comm: RecordingComm,
                                                      tmp_path: Any) -> None:
    """set_background accepts bytes, PIL, numpy arrays and paths and sends a JPEG."""
    import numpy as np

    path = tmp_path / "bg.png"
    Image.new("RGB", (30, 20), "yellow").save(path)
    for src in (jpeg(), Image.new("RGBA", (10, 10)), np.zeros((16, 8, 3), np.uint8), path):
        pad.set_background(src)
    sent = comm.custom_of("set_background")
    assert len(sent) == 4
    for content, (data,) in sent:
        assert content == {"type": "set_background", "v": 1, "mime": "image/jpeg"}
        assert data[:2] == b"\xff\xd8"
    assert Image.open(io.BytesIO(sent[2][1][0])).size == (8, 16)
    with pytest.raises(InvalidImage):
        pad.set_background(b"junk")


def test_set_background_is_scaled_down(pad: Sketchpad, comm: RecordingComm) -> None:
    """Huge backgrounds are scaled to 2048 px on the long side."""
    pad.set_background(Image.new("RGB", (4096, 1024), "red"))
    [(_, (data,))] = comm.custom_of("set_background")
    assert Image.open(io.BytesIO(data)).size == (2048, 512)


def test_pending_background_replaces_the_frame_in_sync(pad: Sketchpad, comm: RecordingComm
                                                       ) -> None:
    """A background set before any view had it is sent after sync, and the older frame is not
    synced (it would cover the background); a 'background' frame settles it."""
    comm.deliver(frame_msg(1), [b"\xff\xd8old"])
    pad.set_background(jpeg())
    comm.clear_log()
    comm.deliver({"type": "hello", "v": 1, "view": "v"})
    assert [c["type"] for c, _ in comm.custom] == ["sync", "set_background"]
    assert comm.custom[0][0]["has_frame"] is False
    comm.deliver(frame_msg(2, reason="background"), [b"\xff\xd8new"])
    comm.clear_log()
    comm.deliver({"type": "hello", "v": 1, "view": "v"})
    assert [c["type"] for c, _ in comm.custom] == ["sync"]
    assert comm.custom[0][1] == (b"\xff\xd8new",)


@pytest.mark.parametrize("name,value,message", [
    ("frame_width", 500, "frame_width: must be a multiple of 8 between 64 and 2048, got 500"),
    ("frame_height", 4096, "frame_height: must be a multiple of 8 between 64 and 2048, got 4096"),
    ("frame_width", 56, "got 56"),
    ("jpeg_quality", 0.05, "jpeg_quality: must be between 0.1 and 1.0, got 0.05"),
    ("jpeg_quality", 1.5, "got 1.5"),
    ("brush_size", 0, "brush_size: must be a whole number between 1 and 200, got 0"),
    ("brush_size", 201, "got 201"),
    ("brush_size", True, "got True"),
    ("brush_color", "red", "brush_color: must be a colour like '#1a2b3c', got 'red'"),
    ("tool", "pencil", "tool: must be 'brush' or 'eraser', got 'pencil'"),
    ("display_size", 10, "display_size: must be a whole number between 64 and 4096, got 10"),
])
def test_trait_validation(name: str, value: Any, message: str) -> None:
    """Bad trait values raise TraitError naming the trait, the limit and the value."""
    with pytest.raises(traitlets.TraitError, match=message.replace("(", r"\(")):
        Sketchpad(**{name: value})


def test_trait_defaults_and_normalisation() -> None:
    """Defaults match the protocol doc; colours are lower-cased."""
    pad = Sketchpad(comm=RecordingComm(), brush_color="#AABBCC", jpeg_quality=1)
    assert (pad.frame_width, pad.frame_height, pad.tool) == (512, 512, "brush")
    assert pad.brush_color == "#aabbcc"
    assert pad.jpeg_quality == 1.0 and isinstance(pad.jpeg_quality, float)


def test_trait_changes_from_the_browser(pad: Sketchpad, comm: RecordingComm) -> None:
    """The toolbar's trait updates (save_changes) land in Python."""
    comm.deliver_state({"tool": "eraser", "brush_size": 40, "brush_color": "#ff0000"})
    assert (pad.tool, pad.brush_size, pad.brush_color) == ("eraser", 40, "#ff0000")


def test_status_traits_are_synced(pad: Sketchpad, comm: RecordingComm) -> None:
    """status, stats and error are sent to the browser as trait updates."""
    pad.status = "running"
    pad.stats = {"fps": 12.5}
    pad.error = "out of memory"
    assert comm.updates[-3:] == [{"status": "running"}, {"stats": {"fps": 12.5}},
                                 {"error": "out of memory"}]


def test_send_result_from_many_threads(pad: Sketchpad, comm: RecordingComm) -> None:
    """Results sent from several threads get distinct rids, sent in rid order."""
    data = jpeg()
    barrier = threading.Barrier(8)
    rids: list[int] = []

    def worker(k: int) -> None:
        barrier.wait()
        for i in range(25):
            rids.append(pad.send_result(k * 100 + i, data, width=64, height=48))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = [c["rid"] for c, _ in comm.custom_of("result")]
    assert sorted(rids) == list(range(1, 201))
    assert sent == sorted(sent) and len(sent) == 200
    comm.deliver({"type": "hello", "v": 1, "view": "v"})
    sync, _ = comm.custom_of("sync")[0]
    assert sync["result_seq"] == 724  # the newest seq sent, whatever the thread order


def test_frames_and_results_concurrently(pad: Sketchpad, comm: RecordingComm) -> None:
    """Frames handled on one thread while results are sent from another: every frame is took."""
    data = jpeg()

    def frames() -> None:
        for seq in range(1, 101):
            comm.deliver(frame_msg(seq), [data])

    def results() -> None:
        for seq in range(1, 101):
            pad.send_result(seq, data, width=64, height=48)

    threads = [threading.Thread(target=frames), threading.Thread(target=results)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [c["seq"] for c, _ in comm.custom_of("took")] == list(range(1, 101))
    assert len(comm.custom_of("result")) == 100
    assert pad.last_frame is not None and pad.last_frame.seq == 100


def test_import_lcm_widgets_does_not_import_anywidget() -> None:
    """The package and its widget protocol load without anywidget (checked in a fresh process)."""
    import subprocess
    import sys

    code = ("import sys, lcm_widgets, lcm_widgets.widgets, lcm_widgets.protocol.widget; "
            "assert 'anywidget' not in sys.modules, 'anywidget imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_esm_is_the_committed_bundle() -> None:
    """_esm points at static/widget.js, which exports initialize and render."""
    from pathlib import Path

    import lcm_widgets

    bundle = Path(lcm_widgets.__file__).parent / "static" / "widget.js"
    pad = Sketchpad(comm=RecordingComm())
    assert pad._esm == bundle.read_text()
    assert "initialize" in pad._esm and "render" in pad._esm


def test_close_records_comm_close() -> None:
    """widget.close() works on a RecordingComm (no comm manager) and is recorded once."""
    comm = RecordingComm()
    pad = Sketchpad(comm=comm)
    pad.close()
    pad.close()
    assert comm.closed
    assert [s.msg_type for s in comm.log].count("comm_close") == 1
