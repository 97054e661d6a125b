"""Test-wide setup: offline Hugging Face, a private model cache, and a network guard.

Every test runs with ``HF_HUB_OFFLINE=1`` and a socket guard that refuses connections to any
address outside the loopback range, so a test that would download weights fails loudly.
"""

from __future__ import annotations

import ipaddress
import os
import socket

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _check(address: object) -> None:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host in {"localhost", ""}:
            return
        try:
            ip = ipaddress.ip_address(host.split("%")[0])
        except ValueError:
            raise OSError(f"test network guard: refusing to connect to {host!r}") from None
        if not ip.is_loopback:
            raise OSError(f"test network guard: refusing to connect to {host!r}")


def _guarded_connect(self: socket.socket, address: object) -> None:
    _check(address)
    return _real_connect(self, address)  # type: ignore[arg-type]


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    _check(address)
    return _real_connect_ex(self, address)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A per-session folder for the tiny model (built once, loaded with from_pretrained)."""
    path = os.environ.get("LCM_WIDGETS_TEST_CACHE") or str(tmp_path_factory.mktemp("models"))
    os.environ["LCM_WIDGETS_CACHE"] = path
    return path
