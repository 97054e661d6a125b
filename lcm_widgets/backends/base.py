"""The :class:`Backend` protocol every model source implements, and the one batch rule.

A backend turns one validated :class:`~lcm_widgets.schema.Input` into one
:class:`~lcm_widgets.schema.Output`. It may be in-process (:class:`~.local.LocalLCM`) or remote
(:class:`~.realtime.RealtimeBackend`, :class:`~.http.HttpBackend`); widgets use any of them
unchanged. Backends raise only errors from :mod:`lcm_widgets.errors`.

**The batch rule** (:meth:`BackendInfo.batch_key`, :func:`plan_batches`): two requests may
share one :meth:`BatchingBackend.generate_batch` call when the backend ``can_batch`` and the
requests are equal in every field except the backend's ``batch_axes`` and the transport-only
fields (:data:`TRANSPORT_FIELDS`); both are text-to-image (whose ``strength`` is ignored) or
both image-to-image; both inpaint (``mask_url`` set) or neither; and, when the
source image is an axis and ``image_size`` is left out, both sources have the same size (the
output takes the source's size). A batch holds at most ``max_batch`` *images* (the sum of
``num_images``). LocalLCM's own grouping, the Compare planner and the server's scheduler all
use this rule and nothing else (docs/architecture.md, "One batch rule").
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..schema import Input, Output

__all__ = ["TRANSPORT_FIELDS", "Backend", "BackendInfo", "BatchingBackend", "PreviewingBackend",
           "StepPreview", "plan_batches"]

#: Fields that say how a request travels, not what it generates: they never stop two requests
#: from sharing a batch.
TRANSPORT_FIELDS = frozenset({"request_id", "sync_mode"})


def _freeze(value: Any) -> Hashable:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value  # type: ignore[no-any-return]


@dataclass(frozen=True)
class BackendInfo:
    """What a backend is and what it can do.

    ``can_batch`` says whether :meth:`BatchingBackend.generate_batch` runs several inputs in one
    model call; ``batch_axes`` names the input fields that may differ inside one batch (for
    example ``("seed", "guidance_scale", "prompt")``), and ``max_batch`` bounds its size in
    images. :meth:`batch_key` is the rule built from them.

    ``app`` is the endpoint id of the fal app whose schema the backend's requests follow
    (:func:`lcm_widgets.apps.app_schema`: ``fal-ai/fast-turbo-diffusion`` allows 1 to 4
    steps): the Compare validates each backend's cells and the Studio bounds its sliders with
    it, so a limit is written once, in that schema.
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
    app: str = "fal-ai/fast-lcm-diffusion"

    @property
    def batch_limit(self) -> int:
        """Most images one model call takes (1 when the backend cannot batch)."""
        return max(1, self.max_batch) if self.can_batch else 1

    def batch_key(self, inp: Input) -> Hashable | None:
        """Requests with equal keys may share one batch; None when this backend never batches.

        The key holds every field outside ``batch_axes`` and :data:`TRANSPORT_FIELDS`, whether
        the request is image-to-image and whether it inpaints (even where ``mask_url`` is an
        axis: a masked row never shares a batch with an unmasked one), and (when ``image_url``
        is an axis but ``image_size`` is left out) the source image's size, read from its
        header.
        """
        if self.batch_limit == 1:
            return None
        skip = set(self.batch_axes) | TRANSPORT_FIELDS
        if not inp.is_img2img:
            skip.add("strength")  # text-to-image ignores it
        fields = sorted((k, _freeze(v)) for k, v in inp.model_dump(exclude=skip).items())
        key: list[Any] = [("img2img", inp.is_img2img), ("inpainting", inp.is_inpainting),
                          *fields]
        if "image_url" in skip and inp.image_url is not None and inp.image_size is None:
            from ..images import image_dims

            key.append(("source_size", image_dims(inp.image_url)))
        return tuple(key)


def plan_batches(inputs: Sequence[Input | None], info: BackendInfo) -> list[list[int]]:
    """Group the indices of ``inputs`` into model calls by :meth:`BackendInfo.batch_key`.

    ``None`` entries are left out. A group holds at most ``info.batch_limit`` images; groups
    come in the order of their first member, members in input order.
    """
    limit = info.batch_limit
    groups: list[list[int]] = []
    open_groups: dict[Hashable, tuple[list[int], list[int]]] = {}  # key -> (members, [images])
    for i, inp in enumerate(inputs):
        if inp is None:
            continue
        key = info.batch_key(inp) if limit > 1 else None
        entry = open_groups.get(key) if key is not None else None
        if entry is not None and entry[1][0] + inp.num_images <= limit:
            entry[0].append(i)
            entry[1][0] += inp.num_images
            continue
        members = [i]
        groups.append(members)
        if key is not None:
            open_groups[key] = (members, [inp.num_images])
    return groups


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


@dataclass(frozen=True)
class StepPreview:
    """A cheap look at a generation in progress: after LCM step ``step`` of ``steps``.

    ``data`` is an encoded image (``content_type``, JPEG) of ``width`` x ``height`` pixels,
    usually much smaller than the output (LocalLCM maps the latents to RGB directly, one pixel
    per latent pixel, without the VAE).
    """

    step: int
    steps: int
    data: bytes
    width: int
    height: int
    content_type: str = "image/jpeg"


@runtime_checkable
class PreviewingBackend(Backend, Protocol):
    """A backend that can show its steps: the server's ``/stream`` route uses it."""

    async def generate_with_previews(self, inp: Input,
                                     on_preview: Callable[[StepPreview], None]) -> Output:
        """Run one request like :meth:`Backend.generate`, calling ``on_preview`` after each
        step (on any thread: the caller hands it over to its own loop). ``on_preview`` must
        return at once; the backend does not wait for whoever shows the previews."""
        ...
