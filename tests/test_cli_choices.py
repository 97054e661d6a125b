"""Command-line hygiene: flags with a fixed set of values say so, and secrets stay out of argv."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from lcm_widgets.cli import main


def test_generate_dtype_has_choices(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --dtype is refused by argparse before anything loads, naming the choices."""
    with pytest.raises(SystemExit) as exc:
        main(["generate", "--prompt", "x", "--dtype", "float8"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--dtype" in err and "'float8'" in err and "bfloat16" in err


def test_generate_dtype_choices_are_the_ones_local_lcm_takes() -> None:
    """Every choice resolves to a torch dtype (no choice LocalLCM would refuse)."""
    pytest.importorskip("torch")
    from lcm_widgets.backends.local.loading import resolve_device_dtype
    from lcm_widgets.commands.generate import DTYPES

    for name in DTYPES:
        assert resolve_device_dtype("cpu", name)[1] is not None


def test_demo_command_line_has_no_token(tmp_path: Path) -> None:
    """The JupyterLab command carries no token; it travels in JUPYTER_TOKEN."""
    from lcm_widgets.commands.demo import build_command, server_env

    args = argparse.Namespace(no_browser=True, nodelay=False)
    cmd = build_command(args, 8899, tmp_path)
    assert not [a for a in cmd if "token" in a.lower()], cmd
    env = server_env("s3cret")
    assert env["JUPYTER_TOKEN"] == "s3cret" and env["PATH"] == os.environ["PATH"]


def test_jupyter_server_reads_the_token_from_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """jupyter_server's IdentityProvider takes JUPYTER_TOKEN as its token (what demo relies on)."""
    pytest.importorskip("jupyter_server")
    from jupyter_server.auth.identity import IdentityProvider

    monkeypatch.setenv("JUPYTER_TOKEN", "from-env")
    assert IdentityProvider().token == "from-env"
