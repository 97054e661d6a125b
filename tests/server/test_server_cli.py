"""``lcm-widgets serve`` as a real subprocess on 127.0.0.1 port 0."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from server_helpers import APP


@contextmanager
def serve_cli(*args: str, env: dict[str, str] | None = None) -> Iterator[tuple[str, list[str]]]:
    """Start ``lcm-widgets serve --port 0 ...``; yields (base URL, stderr lines so far)."""
    clean = {k: v for k, v in os.environ.items()
             if k not in {"LCM_WIDGETS_KEYS", "FAL_KEY", "FAL_KEY_ID", "FAL_KEY_SECRET"}}
    proc = subprocess.Popen([sys.executable, "-m", "lcm_widgets", "serve", "--port", "0",
                             "--log-level", "warning", *args], env={**clean, **(env or {})},
                            stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line)
            if "health    http://" in line:
                found.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not found.wait(60):
            pytest.fail("serve did not start:\n" + "".join(lines))
        url = re.search(r"health    (http://\S+)/health", "".join(lines))
        assert url is not None
        yield url.group(1), lines
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait()


def test_serve_echo_with_a_generated_key() -> None:
    """No key configured: serve generates one, prints it, and enforces it."""
    with serve_cli("--model", "echo") as (url, lines):
        key = re.search(r"FAL_KEY=(\S+)", "".join(lines))
        assert key is not None
        assert httpx.post(f"{url}/{APP}", json={"prompt": "x"}).status_code == 401
        r = httpx.post(f"{url}/{APP}", json={"prompt": "x"},
                       headers={"Authorization": f"Key {key.group(1)}"})
        assert r.status_code == 200
        assert httpx.get(url + "/health").json()["model"]["name"] == "echo"


def test_serve_generation_timeout_flag() -> None:
    """--generation-timeout reaches the worker: a stuck request is answered 504."""
    with serve_cli("--model", "echo", "--no-auth", "--generation-timeout", "0.5") as (url, _):
        assert httpx.get(url + "/health").json()["generation_timeout_s"] == 0.5
        r = httpx.post(f"{url}/{APP}", json={"prompt": "!hang"}, timeout=30)
        assert r.status_code == 504 and "limit of 0.5 s" in r.json()["detail"]
        assert httpx.post(f"{url}/{APP}", json={"prompt": "ok"}).status_code == 200


def test_serve_upload_flags() -> None:
    """--upload-ttl and --max-upload-bytes reach the upload store; a bad value exits 2 naming
    the field before a model loads."""
    with serve_cli("--model", "echo", "--no-auth", "--upload-ttl", "30",
                   "--max-upload-bytes", "1000") as (url, _):
        kept = httpx.get(url + "/health").json()["kept"]["uploads"]
        assert kept["ttl_s"] == 30.0
        init = httpx.post(f"{url}/storage/upload/initiate",
                          json={"content_type": "image/png", "file_name": "f.png"}).json()
        r = httpx.put(init["upload_url"], content=bytes(2000))
        assert r.status_code == 413 and "at most 1000 bytes" in r.json()["detail"]
    bad = subprocess.run([sys.executable, "-m", "lcm_widgets", "serve", "--model", "echo",
                          "--no-auth", "--port", "0", "--upload-ttl", "0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "uploads.ttl: must be more than 0 seconds, got 0.0" in bad.stderr


def test_serve_keys_file_and_env(tmp_path: object) -> None:
    """Keys from --keys-file and LCM_WIDGETS_KEYS are both accepted."""
    from pathlib import Path

    keys = Path(str(tmp_path)) / "keys.txt"
    keys.write_text("# comment\nfile-id:file-secret\n")
    with serve_cli("--model", "echo", "--keys-file", str(keys),
                   env={"LCM_WIDGETS_KEYS": "env-id:env-secret, other:one"}) as (url, lines):
        assert "generated one" not in "".join(lines)
        for key in ("file-id:file-secret", "env-id:env-secret", "other:one"):
            r = httpx.post(f"{url}/{APP}", json={"prompt": "x"},
                           headers={"Authorization": f"Key {key}"})
            assert r.status_code == 200, key


def test_serve_no_auth() -> None:
    """--no-auth on loopback: no key needed, no warning."""
    with serve_cli("--model", "echo", "--no-auth") as (url, lines):
        assert httpx.post(f"{url}/{APP}", json={"prompt": "x"}).status_code == 200
        assert "WARNING" not in "".join(lines)


def test_bind_warning_only_for_open_binds_without_auth() -> None:
    """Auth off on a non-loopback address warns loudly; loopback or auth on does not."""
    from lcm_widgets.commands.serve import bind_warning

    assert bind_warning("127.0.0.1", auth=False) is None
    assert bind_warning("0.0.0.0", auth=True) is None
    warning = bind_warning("0.0.0.0", auth=False)
    assert warning is not None and "WARNING: auth is off" in warning and "0.0.0.0" in warning


def test_serve_log_level_debug_shows_lcm_widgets_lines() -> None:
    """--log-level debug configures the lcm_widgets loggers too, in uvicorn's format."""
    with serve_cli("--model", "echo", "--no-auth", "--log-level", "debug") as (url, lines):
        assert httpx.post(f"{url}/{APP}", json={"prompt": "x"}).status_code == 200
        text = "".join(lines)
    ours = [ln for ln in text.splitlines() if re.match(r"DEBUG:\s+lcm_widgets\.", ln)]
    assert any("lcm_widgets.serve: config: app=" in ln for ln in ours), text
    assert "keys=0" in text and "DEBUG:" in text


def test_serve_log_level_info_hides_debug_lines() -> None:
    """At the default level no DEBUG line is written, ours or uvicorn's."""
    with serve_cli("--model", "echo", "--no-auth", "--log-level", "info") as (url, lines):
        assert httpx.post(f"{url}/{APP}", json={"prompt": "x"}).status_code == 200
        text = "".join(lines)
    assert "DEBUG:" not in text and "INFO:" in text


def test_serve_log_level_has_choices(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --log-level is refused by argparse, naming the flag and the choices."""
    from lcm_widgets.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["serve", "--log-level", "loud"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--log-level" in err and "'loud'" in err and "debug" in err


def _serve_fails(*args: str) -> str:
    """Run ``serve`` with ``args``; it must exit 2 before serving. Returns its stderr."""
    bad = subprocess.run([sys.executable, "-m", "lcm_widgets", "serve", "--no-auth",
                          "--port", "0", *args], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2, bad.stderr
    assert "health    http://" not in bad.stderr
    return bad.stderr


def test_serve_controlnet_and_lora_flags_refuse_bad_values(tmp_path: Any) -> None:
    """Bad --controlnet / --lora values exit 2 before a model loads, naming the flag, what it
    takes and the value: an unknown ControlNet, a LoRA file that is not safetensors, a scale
    out of the schema's range, an echo app, an APP that is not served."""
    pickle = tmp_path / "style.bin"
    pickle.write_bytes(b"\x80\x04not safetensors")
    err = _serve_fails("--model", "tiny", "--controlnet", "depth")
    assert "--controlnet: must be one of scribble, canny, tiny-controlnet, a Hugging Face id " \
           "(owner/name) or a folder, got 'depth'" in err
    err = _serve_fails("--model", "tiny", "--lora", str(pickle))
    assert f"--lora: PATH '{pickle}' is not a safetensors file (.safetensors)" in err
    err = _serve_fails("--model", "tiny", "--lora", "nobody/style=5")
    assert "--lora: SCALE must be between 0.0 and 4.0, got 5.0" in err
    err = _serve_fails("--model", "echo", "--controlnet", "tiny-controlnet")
    assert "--controlnet: needs an app with a local model; fal-ai/fast-lcm-diffusion serves " \
           "'echo', got 'tiny-controlnet'" in err
    err = _serve_fails("--app", f"{APP}=echo", "--lora", "fal-ai/other=me/style=1")
    assert f"--lora: APP in APP=PATH=SCALE must be an --app id of this server ({APP}), got " \
           "'fal-ai/other'" in err


def test_parse_model_flags_per_app_and_for_every_local_app() -> None:
    """Without APP= a flag goes to every app with a local model; APP= to that app only; apps
    with equal models and flags share one backend spec; APP=SCALE is refused as ambiguous."""
    from lcm_widgets.commands.serve import AppModel, parse_model_flags

    turbo = "fal-ai/fast-turbo-diffusion"
    apps = [(APP, "tiny"), (turbo, "tiny-turbo"), ("me/echo", "echo")]
    specs = parse_model_flags(apps, ["tiny-controlnet"], ["me/style=0.5"])
    assert specs == {APP: AppModel("tiny", ("tiny-controlnet",), (("me/style", 0.5),)),
                     turbo: AppModel("tiny-turbo", ("tiny-controlnet",),
                                     (("me/style", 0.5),)),
                     "me/echo": AppModel("echo")}
    specs = parse_model_flags(apps, [f"{APP}=tiny-controlnet"], [f"{turbo}=me/style"])
    assert specs[APP] == AppModel("tiny", ("tiny-controlnet",))
    assert specs[turbo] == AppModel("tiny-turbo", (), (("me/style", 1.0),))
    with pytest.raises(ValueError, match=r"--lora: 'fal-ai/fast-lcm-diffusion=0.5' is "
                                         "ambiguous"):
        parse_model_flags(apps, [], [f"{APP}=0.5"])
    with pytest.raises(ValueError, match="--controlnet: needs an app with a local model; "
                                         "me/echo serves 'echo'"):
        parse_model_flags(apps, ["me/echo=tiny-controlnet"])
