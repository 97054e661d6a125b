"""A Studio and a Compare drawing at once on one RealtimeBackend, against our real server.

Each has its own engine; the transport serves both (pipelined on one socket, matched by
request id): every grid cell renders, the Studio's results keep coming, and neither sees a
``Superseded``. The browser is played through the real ipywidgets comm path (RecordingComm).
"""

from __future__ import annotations

import io
import time

from lcm_test_helpers import CountingEcho, LooseComm, until
from PIL import Image, ImageDraw

from lcm_widgets.backends.realtime import RealtimeBackend
from lcm_widgets.server import ServerConfig, ServerThread, create_app
from lcm_widgets.widgets.compare import Compare
from lcm_widgets.widgets.sketchpad import Sketchpad
from lcm_widgets.widgets.studio import Studio

KEY = "test-id:test-secret"


def drawing(i: int) -> bytes:
    img = Image.new("RGB", (64, 64), (255, 255, 255))
    ImageDraw.Draw(img).rectangle((0, 0, 4 + i, 4 + i), fill=(i * 9 % 256, 40, 90))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_studio_and_compare_share_one_realtime_backend() -> None:
    """Frames drawn while a 3x3 grid follows the same canvas: all nine cells render without an
    error, the Studio shows results throughout, nothing is superseded, and the two engines'
    requests really overlapped on the one socket."""
    srv = ServerThread(create_app(CountingEcho(delay=0.03), ServerConfig(keys=(KEY,))),
                       port=0).start()
    backend = RealtimeBackend(base_url=srv.url, key=KEY)
    comm = LooseComm()
    pad = Sketchpad(comm=comm, frame_width=64, frame_height=64)
    studio = Studio(backend, sketchpad=pad, prompt="a house", ack_timeout=60)
    grid = Compare(studio, seed=[1, 2, 3], strength=[0.5, 0.75, 1.0])
    try:
        seen_results = 0
        for i in range(12):  # draw: a frame, then ack whatever result arrived meanwhile
            comm.deliver({"type": "frame", "v": 1, "seq": i + 1, "width": 64, "height": 64,
                          "mime": "image/jpeg", "t_input": time.time() * 1000,
                          "reason": "stroke"}, [drawing(i)])
            results = comm.custom_of("result")
            for content, _ in results[seen_results:]:
                comm.deliver({"type": "ack", "v": 1, "seq": content["seq"],
                              "rid": content["rid"], "t_paint": time.time() * 1000})
            seen_results = len(results)
            time.sleep(0.02)
        until(lambda: studio.wait(1) and grid.wait(1), timeout=60)
        for content, _ in comm.custom_of("result")[seen_results:]:
            comm.deliver({"type": "ack", "v": 1, "seq": content["seq"], "rid": content["rid"],
                          "t_paint": time.time() * 1000})
        cells = grid.results
        print("realtime stats:", backend.stats, "studio:", {
            k: studio.stats[k] for k in ("completed", "errors", "dropped_frames")})
        assert len(cells) == 9 and all(c["image"] and not c["error"] for c in cells), cells
        assert {c["frame"] for c in cells} == {cells[0]["frame"]}  # one grid-frame, whole
        assert studio.stats["errors"] == 0 and studio.stats["completed"] >= 2
        assert studio.history[-1].output.images
        assert backend.stats.superseded == 0 and backend.stats.dropped == 0
        assert backend.stats.connects == 1
        assert backend.stats.max_in_flight >= 2  # the two consumers really overlapped
        assert "superseded" not in grid.status.value.lower()
    finally:
        grid.close()
        studio.close()
        backend.close()
        srv.stop()
