"""ModelLoadError says what went wrong and the fix that fits: the whole cause, the presets, and
different advice for an unknown id, a missing folder and weights that are not cached offline.

The "unknown id" case needs a Hub that answers: a loopback HTTP server plays it (the real
huggingface_hub client talks to it through ``HF_ENDPOINT``), answering every request the way
huggingface.co answers for a repository that does not exist.
"""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

from lcm_widgets.models.presets import PRESETS

pytest.importorskip("diffusers")


class _NoSuchRepo(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"error":"Repository not found"}'
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("X-Error-Message", "Repository not found")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def empty_hub() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NoSuchRepo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def load(model: str, tmp: str, **env: str) -> tuple[str, str]:
    """Load ``model`` in a fresh interpreter (huggingface_hub reads its environment at import);
    returns (the ModelLoadError's message, everything printed to stderr)."""
    code = textwrap.dedent(f"""
        from lcm_widgets import LocalLCM, ModelLoadError
        try:
            LocalLCM({model!r}, warmup=False, progress=False)
        except ModelLoadError as exc:
            print("MESSAGE:", exc)
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300, cwd=tmp,
                          env={**os.environ, "HF_HOME": os.path.join(tmp, "hf"), **env})
    assert proc.returncode == 0, proc.stderr
    assert "MESSAGE:" in proc.stdout, proc.stdout + proc.stderr
    return proc.stdout.split("MESSAGE:", 1)[1].strip(), proc.stderr


def test_unknown_id_says_so_and_lists_the_presets(empty_hub: str, tmp_path: object) -> None:
    msg, err = load("lcm-widgets-tests/no-such-model", str(tmp_path), HF_HUB_OFFLINE="0",
                    TRANSFORMERS_OFFLINE="0", HF_ENDPOINT=empty_hub)
    print(msg)
    assert "no public repository with that id" in msg
    assert "RepositoryNotFoundError" in msg  # the cause, kept
    assert all(name in msg for name in PRESETS)
    assert "hf download" not in msg  # downloading an id that does not exist fixes nothing
    assert "Couldn't connect" not in err and "torchvision" not in err, err


def test_a_mistyped_preset_gets_a_suggestion(empty_hub: str, tmp_path: object) -> None:
    msg, _ = load("lcm-dreamshaper-v8", str(tmp_path), HF_HUB_OFFLINE="0",
                  TRANSFORMERS_OFFLINE="0", HF_ENDPOINT=empty_hub)
    assert "did you mean 'lcm-dreamshaper-v7'?" in msg, msg


def test_offline_preset_not_cached_says_download_it(tmp_path: object) -> None:
    msg, err = load("lcm-dreamshaper-v7", str(tmp_path), HF_HUB_OFFLINE="1")
    print(msg)
    assert "the weights are not in the Hugging Face cache and HF_HUB_OFFLINE is set" in msg
    assert "`hf download SimianLuo/LCM_Dreamshaper_v7`" in msg
    # the whole cause: diffusers' sentence and the error it was raised from, uncut
    assert "the model is not fully cached locally" in msg
    assert "caused by OfflineModeIsEnabled" in msg and msg.count("(") == msg.count(")")
    assert err.strip() == "", err  # no warnings on the way (torchvision, "Couldn't connect")


def test_offline_unknown_id_names_both_possibilities(tmp_path: object) -> None:
    msg, _ = load("lcm-widgets-tests/not-cached", str(tmp_path), HF_HUB_OFFLINE="1")
    assert "is not a preset (" in msg and all(name in msg for name in PRESETS)
    assert "HF_HUB_OFFLINE is set, so the Hub could not be asked whether the id exists" in msg


def test_missing_folder_is_not_sent_to_the_hub(tmp_path: object) -> None:
    msg, _ = load("./models/my-lcm", str(tmp_path), HF_HUB_OFFLINE="1")
    assert f"there is no folder './models/my-lcm' (relative to {str(tmp_path)!r})" in msg, msg
    assert "hf download" not in msg
