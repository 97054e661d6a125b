"""A private local Ray cluster on 127.0.0.1: ``ray start --head --block`` in its own process
group, every port chosen up front, stopped by ending that group (docs/scale.md).

``lcm-widgets serve --ray`` without ``--address`` runs one; so do the Ray tests. Why not
``ray.init()``: its raylet waits at most 15 s for the dashboard agent to report ports it picks
itself, and on a loaded machine the agent's imports take longer (measured here: the raylet
aborts with ``Timed out waiting for file .../metrics_agent_port_…``). With the ports given,
nothing waits for a port file. (Ray 2.60's ``ray start`` forgets to hand the raylet the agent's
listen port, so the head is started through :data:`_LAUNCHER`, which adds it.) Why not ``ray stop``: it stops every Ray process of the user on
the machine, other people's clusters included; :meth:`LocalCluster.stop` ends only its own.

Everything listens on 127.0.0.1 only: the cluster runs in Ray's single-machine mode
(:data:`SINGLE_MACHINE`), without which Ray 2.60 swaps the node address 127.0.0.1 for the
host's own, and each Serve replica's inter-deployment gRPC server, which Ray binds on ``[::]``,
is moved to 127.0.0.1 by :func:`~.ray_serve.bind_loopback` (the tests list the sockets).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

__all__ = ["SINGLE_MACHINE", "LocalCluster", "free_port"]

#: Ray's switch for clusters of several machines (``ray._private.ray_constants``); ``0`` keeps
#: every Ray address on 127.0.0.1 (set for the head, its workers and this driver).
SINGLE_MACHINE = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"

#: ``ray start`` with the dashboard agent's listen port also given to the raylet (argv[1]),
#: so that the raylet does not wait for the agent to write it to a file.
_LAUNCHER = """
import sys
import ray._private.services as services
from ray.scripts.scripts import main

listen_port = sys.argv.pop(1)
_start = services.start_ray_process

def start_ray_process(command, process_type, *args, **kwargs):
    if process_type == "raylet" and not any("dashboard_agent_listen_port" in c for c in command):
        command = [*command, "--dashboard_agent_listen_port=" + listen_port]
    return _start(command, process_type, *args, **kwargs)

services.start_ray_process = start_ray_process
sys.argv[0] = "ray"
sys.exit(main())
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalCluster:
    """A one-node Ray cluster of this process's own, on 127.0.0.1.

    ``num_cpus`` logical CPUs, an object store of ``object_store_mb`` MiB, the dashboard on
    127.0.0.1 when ``dashboard`` (its URL: :attr:`dashboard_url`). :attr:`address` is what
    ``ray.init(address=...)`` takes; :meth:`start` also sets this process's
    ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN`` to the cluster's own random token (Ray's
    token authentication: only who holds it can connect), which Ray workers inherit. Import
    ``ray`` only after :meth:`start`: it reads the token when first imported."""

    def __init__(self, *, num_cpus: float = 2, num_gpus: int | None = None,
                 object_store_mb: int = 200, dashboard: bool = True,
                 dashboard_port: int | None = None, temp_dir: str | None = None,
                 start_timeout: float = 180.0) -> None:
        if not num_cpus > 0:
            raise ValueError(f"num_cpus: must be more than 0, got {num_cpus}")
        if not object_store_mb >= 75:
            raise ValueError(f"object_store_mb: Ray needs at least 75, got {object_store_mb}")
        self.num_cpus = num_cpus
        self.num_gpus = num_gpus
        self.object_store_mb = object_store_mb
        self.dashboard = dashboard
        self.dashboard_port = dashboard_port or (free_port() if dashboard else None)
        self._own_temp = temp_dir is None  # a folder we made goes with the cluster
        self.temp_dir = temp_dir or tempfile.mkdtemp(prefix="lcmw-ray-")
        Path(self.temp_dir).mkdir(parents=True, exist_ok=True)
        self.start_timeout = start_timeout
        self.gcs_port = free_port()
        self.address = f"127.0.0.1:{self.gcs_port}"
        self.token = secrets.token_hex(32)
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = Path(self.temp_dir) / "ray-start.log"

    @property
    def dashboard_url(self) -> str | None:
        return f"http://127.0.0.1:{self.dashboard_port}" if self.dashboard else None

    def command(self) -> list[str]:
        """The ``ray start`` command line (every port fixed)."""
        listen = free_port()
        cmd = [sys.executable, "-c", _LAUNCHER, str(listen), "start", "--head", "--block", "--disable-usage-stats",
               "--node-ip-address=127.0.0.1", f"--port={self.gcs_port}",
               f"--num-cpus={self.num_cpus:g}",
               f"--object-store-memory={self.object_store_mb * 1024 * 1024}",
               f"--temp-dir={self.temp_dir}",
               f"--ray-client-server-port={free_port()}",
               f"--dashboard-agent-grpc-port={free_port()}",
               f"--dashboard-agent-listen-port={listen}",
               f"--metrics-export-port={free_port()}",
               f"--runtime-env-agent-port={free_port()}",
               f"--node-manager-port={free_port()}",
               f"--object-manager-port={free_port()}"]
        if self.num_gpus is not None:
            cmd.append(f"--num-gpus={self.num_gpus}")
        if self.dashboard:
            cmd += ["--include-dashboard=true", "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={self.dashboard_port}"]
        else:
            cmd.append("--include-dashboard=false")
        return cmd

    def start(self) -> LocalCluster:
        """Start the head and wait until it takes drivers (raises RuntimeError with the log's
        tail when it does not within ``start_timeout`` seconds)."""
        log = self._log.open("wb")
        os.environ["RAY_AUTH_MODE"] = "token"
        os.environ["RAY_AUTH_TOKEN"] = self.token
        # Ray's single-machine mode: without it Ray 2.60 replaces the node address 127.0.0.1
        # with the host's own (services.resolve_ip_for_localhost) and binds its servers there
        os.environ[SINGLE_MACHINE] = "0"
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        self._proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                      stdin=subprocess.DEVNULL, env=env,
                                      start_new_session=True)
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if b"Ray runtime started" in self._log.read_bytes():
                return self
            time.sleep(0.5)
        tail = self._log.read_bytes()[-2000:].decode(errors="replace")
        self._own_temp = False  # keep the log the error names
        self.stop()
        raise RuntimeError(f"the local Ray cluster did not start in {self.start_timeout:g} s; "
                           f"the end of {self._log}:\n{tail}")

    def stop(self, timeout: float = 30.0) -> None:
        """End this cluster's processes (its own process group), and nothing else; remove its
        temporary folder when the cluster made it (``temp_dir=None``)."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # ray start --block stops its children
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        if self._own_temp:  # its logs and sockets
            shutil.rmtree(self.temp_dir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
