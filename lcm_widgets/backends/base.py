"""The :class:`Backend` protocol every model source implements.

A backend turns one validated :class:`~lcm_widgets.schema.Input` into one
:class:`~lcm_widgets.schema.Output`. It may be in-process (:class:`~.local.LocalLCM`) or remote
(:class:`~.realtime.RealtimeBackend`, :class:`~.http.HttpBackend`); widgets use any of them
unchanged. Backends raise only errors from :mod:`lcm_widgets.errors`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ..schema import Input, Output

__all__ = ["Backend", "BackendInfo", "BatchingBackend"]


@dataclass(frozen=True)
class BackendInfo:
    """What a backend is and what it can do.

    ``can_batch`` says whether :meth:`BatchingBackend.generate_batch` runs several inputs in one
    model call; ``batch_axes`` names the input fields that may differ inside one batch (for
    example ``("seed", "guidance_scale", "prompt")``), and ``max_batch`` bounds its size.
    """

    name: str
    model: str
    device: str = "cpu"
    dtype: str = "float32"
    remote: bool = False
    can_batch: bool = False
    batch_axes: tuple[str, ...] = ()
    max_batch: int = 1
    extra: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    """Generate images from fast-lcm-diffusion inputs."""

    @property
    def info(self) -> BackendInfo: ...

    async def generate(self, inp: Input) -> Output:
        """Run one request. Raises :class:`~lcm_widgets.errors.LCMWidgetsError` subclasses."""
        ...

    async def aclose(self) -> None:
        """Release connections, threads and device memory. Safe to call twice."""
        ...


@runtime_checkable
class BatchingBackend(Backend, Protocol):
    """A backend that can run several compatible inputs as one model call."""

    async def generate_batch(self, inputs: list[Input]) -> list[Output]:
        """Run ``inputs`` together; the i-th output answers the i-th input."""
        ...
