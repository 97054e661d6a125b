"""The public names: what ``lcm_widgets`` and ``lcm_widgets.testing`` export, loaded lazily."""

from __future__ import annotations

import subprocess
import sys

import lcm_widgets

EXPECTED = {
    "Backend", "BackendError", "BackendInfo", "BackendUnavailable", "Compare",
    "ConnectionClosed", "EchoBackend", "GenerationFailed", "GenerationTimeout", "HttpBackend",
    "Input", "InvalidImage", "InvalidInput", "LCMWidgetsError", "LocalLCM", "ModelLoadError",
    "Output", "ProtocolError", "RealtimeBackend", "RemoteError", "RemoteTimeout", "ServerBusy",
    "Sketchpad", "Studio", "Superseded", "Unauthorized", "__version__",
}


def test_all_is_pinned_and_every_name_resolves() -> None:
    """__all__ lists exactly the public names, and each one loads."""
    assert set(lcm_widgets.__all__) == EXPECTED
    for name in lcm_widgets.__all__:
        assert getattr(lcm_widgets, name) is not None
    assert sorted(dir(lcm_widgets)) == sorted(EXPECTED)


def test_backend_protocol_names_are_the_real_ones() -> None:
    """Backend, BackendInfo and EchoBackend from the top level are the classes the widgets and
    the server use; an EchoBackend is a Backend."""
    from lcm_widgets.backends import base, echo

    assert lcm_widgets.Backend is base.Backend and lcm_widgets.BackendInfo is base.BackendInfo
    assert lcm_widgets.EchoBackend is echo.EchoBackend
    assert isinstance(lcm_widgets.EchoBackend(), lcm_widgets.Backend)


def test_testing_module_exports() -> None:
    """lcm_widgets.testing holds the recording comm and the instant model, nothing else."""
    from lcm_widgets import testing

    assert set(testing.__all__) == {"EchoBackend", "RecordingComm", "Sent"}
    assert testing.EchoBackend is lcm_widgets.EchoBackend


def test_import_stays_cheap() -> None:
    """Importing the package (and its Backend names) pulls in no torch, diffusers, anywidget,
    fastapi or websockets (checked in a fresh process)."""
    code = ("import sys, lcm_widgets; lcm_widgets.Backend; lcm_widgets.BackendInfo; "
            "lcm_widgets.EchoBackend; "
            "heavy = {'torch', 'diffusers', 'anywidget', 'fastapi', 'websockets'} "
            "& set(sys.modules); assert not heavy, heavy; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "ok"
