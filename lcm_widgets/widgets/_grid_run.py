"""Running one grid-frame: cell results, one planned group per model call, the grid's config.

Pure of widgets and threads: :class:`~.compare.Compare` renders a frame by awaiting
:func:`run_group` for each group of its plan (on its engine's loop) and painting the cells.
:func:`run_group` is the only place the grid calls a backend: one
:meth:`~lcm_widgets.backends.base.BatchingBackend.generate_batch` call for a batched group,
``generate`` otherwise; a failure becomes an error on each cell of that group, never an
exception out of the grid.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, LCMWidgetsError
from ..schema import ALIASES, Input, Output
from ..sweep import (
    BatchGroup,
    Cell,
    Sweep,
    build_inputs,
    expand,
    plan_batches,
    validate_cells,
)

if TYPE_CHECKING:  # pragma: no cover
    from ..backends.base import Backend

__all__ = ["CellResult", "GridConfig", "base_key", "base_params", "build_config",
           "render_frame", "run_group"]


@dataclass(frozen=True)
class CellResult:
    """The newest outcome of one cell: an image, or an error in plain words."""

    cell: Cell
    frame: int
    params: Mapping[str, Any]
    backend: str
    seed: int | None = None
    latency_ms: float = 0.0
    image: bytes | None = None
    mime: str = "image/jpeg"
    timings: Mapping[str, float] = field(default_factory=dict)
    batch_size: int = 1
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        """The row ``Compare.results`` returns."""
        return {
            "row": self.cell.row, "col": self.cell.col, "label": self.cell.label,
            "labels": self.cell.labels, "backend": self.backend, "params": dict(self.params),
            "seed": self.seed, "latency_ms": self.latency_ms, "image": self.image,
            "mime": self.mime, "timings": dict(self.timings), "batch_size": self.batch_size,
            "frame": self.frame, "error": self.error,
        }


def _params(inp: Input) -> dict[str, Any]:
    return inp.model_dump(exclude={"image_url", "request_id", "sync_mode", "num_images"})


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, LCMWidgetsError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


async def run_group(group: BatchGroup, cells: Sequence[Cell], inputs: Sequence[Input | None],
                    backend: Backend, backend_name: str, frame: int) -> list[CellResult]:
    """Run one planned group and return one :class:`CellResult` per cell of it.

    A batched group is one ``generate_batch`` call; its wall time is each cell's latency.
    """
    members = [(cells[i], inputs[i]) for i in group.cells]
    reqs = [inp for _, inp in members if inp is not None]
    if len(reqs) != len(members):
        raise ValueError("run_group: the plan holds a cell without a request")
    t0 = time.perf_counter()
    try:
        if group.batched:
            outs: list[Output] = await backend.generate_batch(reqs)  # type: ignore[attr-defined]
            if len(outs) != len(reqs):
                raise LCMWidgetsError(f"generate_batch: returned {len(outs)} outputs for "
                                      f"{len(reqs)} inputs")
        else:
            outs = [await backend.generate(reqs[0])]
    except Exception as exc:  # a backend failure shows in its cells; the grid goes on
        ms = (time.perf_counter() - t0) * 1000
        return [CellResult(cell, frame, _params(inp), backend_name, seed=inp.seed,
                           latency_ms=ms, batch_size=len(reqs), error=_error_text(exc))
                for cell, inp in zip((c for c, _ in members), reqs, strict=True)]
    ms = (time.perf_counter() - t0) * 1000
    results = []
    for (cell, _), inp, out in zip(members, reqs, outs, strict=True):
        if not out.images:
            results.append(CellResult(cell, frame, _params(inp), backend_name, seed=out.seed,
                                      latency_ms=ms, batch_size=len(reqs),
                                      error="the backend returned no image"))
            continue
        img = out.images[0]
        results.append(CellResult(cell, frame, _params(inp), backend_name, seed=out.seed,
                                  latency_ms=ms, image=img.data(),
                                  mime=img.content_type or "image/jpeg",
                                  timings=dict(out.timings), batch_size=len(reqs)))
    return results


@dataclass(frozen=True)
class GridConfig:
    """A sweep with its validated cells and batch plan; replaced whole on every edit."""

    sweep: Sweep
    checked: tuple[Input | InvalidInput, ...]
    plan: tuple[BatchGroup, ...]
    base_key: str


def base_key(base: Mapping[str, Any]) -> str:
    """A comparable fingerprint of the base params (to notice a Studio's params changing)."""
    return repr(sorted(base.items()))


def build_config(axes: Sequence[tuple[str, Sequence[Any]]], base: Mapping[str, Any],
                 backend: Backend | None) -> GridConfig:
    """Expand ``axes`` over ``base``, validate every cell and plan the batches.

    Raises :class:`InvalidInput` for axes that are wrong on their own.
    """
    sweep = expand(axes, backend=backend)
    checked = tuple(validate_cells(sweep, base))
    infos = [be.info for _, be in sweep.backends]
    plan = tuple(plan_batches(sweep.cells, checked, infos))
    return GridConfig(sweep, checked, plan, base_key(base))


def base_params(studio_params: Any, fixed: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """Every cell's starting params: a Studio's current params (an :class:`Input`, a mapping,
    or None), then the grid's fixed values; the grid's own ``seed`` when none is set."""
    base: dict[str, Any] = {}
    if isinstance(studio_params, Mapping):
        base = dict(studio_params)
    elif studio_params is not None and hasattr(studio_params, "model_dump"):
        base = studio_params.model_dump()
    base = {ALIASES.get(k, k): v for k, v in base.items()}
    base.update({ALIASES.get(k, k): v for k, v in fixed.items()})
    base.pop("image_url", None)
    if base.get("seed") is None:
        base["seed"] = seed
    base.setdefault("prompt", "")
    return base


async def render_frame(config: GridConfig, key: int, data: bytes, base: Mapping[str, Any],
                       paint: Callable[[CellResult], None],
                       stop: Callable[[GridConfig], bool]) -> None:
    """Render grid-frame ``key`` (the drawing ``data``) with ``config``: invalid cells get their
    error at once, then each planned group runs and its cells are painted as it finishes.
    ``stop(config)`` is asked after each group (True: the grid changed shape or closed)."""
    inputs = build_inputs(config.checked, data, request_prefix=f"compare-{key}-")
    names = [label for label, _ in config.sweep.backends]
    for cell, chk in zip(config.sweep.cells, config.checked, strict=True):
        if isinstance(chk, InvalidInput):
            params = {**base, **cell.overrides}
            paint(CellResult(cell, key, params, names[cell.backend], seed=params.get("seed"),
                             error=str(chk)))
    for group in config.plan:
        backend = config.sweep.backends[group.backend][1]
        for res in await run_group(group, config.sweep.cells, inputs, backend,
                                   names[group.backend], key):
            paint(res)
        if stop(config):
            return
