"""Parameter sweeps for the Compare grid: expansion, per-cell validation, batch planning.

Pure: no widgets, no threads, no torch. :class:`~lcm_widgets.widgets.compare.Compare` is the
adapter that feeds frames through what this module plans.

**Axes.** Any sweepable :class:`~lcm_widgets.schema.Input` field is an axis (see
:data:`SWEEPABLE`; the short names of :data:`lcm_widgets.schema.ALIASES`, such as ``steps`` for
``num_inference_steps``, are accepted), plus ``backend``: a list of backends, or of
``(label, backend)`` pairs, for A/B comparisons. A list, tuple or range is an axis; a scalar (a
number, a string) is a *fixed* value applied to every cell::

    sweep = expand({"steps": [2, 4, 8], "strength": [0.3, 0.5, 0.7]}, backend=tiny)

**ControlNet and LoRA axes.** ``controlnet_conditioning_scale=[0, 0.5, 1]`` sweeps the
ControlNet's strength like any field. ``lora_scale=[0, 0.5, 1]`` sets the scale of every LoRA of
the fixed ``loras=[{"path": ..., "scale": ...}]`` (a list of ``{path, scale}`` maps is one fixed
value, not an axis; a list of such lists is an axis over LoRA sets)::

    sweep = expand({"lora_scale": [0, 0.5, 1]}, backend=lcm)   # with loras=[...] fixed

**Layout.** Axes keep the order given. One axis → one column of rows. Two axes → the first is
the rows, the second the columns. Three or more → the *rows are flattened*: every row is one
combination of all axes but the last (labels joined with ``", "``), the last axis stays the
columns. A sweep has at most :data:`MAX_CELLS` cells.

**Validation.** Each axis value is checked alone when the sweep is built (``steps=[0]`` raises
``steps: must be between 1 and 50, got 0``). Combinations are checked per cell by
:func:`validate_cells`, with the request made exactly as the grid will send it; a cell whose
combination is invalid (``steps=2`` with ``strength=0.3`` gives ``int(2 * 0.3) = 0`` denoising
steps) gets its own :class:`~lcm_widgets.errors.InvalidInput` naming the cell, and the other
cells still run. Each cell is checked with the schema of its backend's app
(``info.app``, :func:`lcm_widgets.apps.backend_schema`): on a turbo backend ``steps=6`` is
that cell's error (``num_inference_steps: must be between 1 and 4, got 6``), on an LCM one it
runs.

**Batching.** :func:`plan_batches` groups the cells that can share one model call by the one
batch rule of :mod:`lcm_widgets.backends.base` (same backend, and that backend's
``batch_key`` equal); every other cell is a group of one.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .backends.base import Backend, BackendInfo
from .backends.base import plan_batches as batch_plan
from .errors import InvalidInput
from .schema import ALIASES, Input, parse_input

__all__ = [
    "ALIASES",
    "MAX_CELLS",
    "SWEEPABLE",
    "Axis",
    "BatchGroup",
    "Cell",
    "Sweep",
    "backend_label",
    "build_inputs",
    "canonical_axis",
    "expand",
    "format_value",
    "plan_batches",
    "split_axes",
    "validate_cells",
    "validate_value",
]


#: Input fields that make no sense as an axis: the drawing itself, and transport details.
_NOT_SWEEPABLE = frozenset({"image_url", "request_id", "sync_mode", "num_images"})

#: Every field a sweep may vary, plus ``backend``.
SWEEPABLE: tuple[str, ...] = (
    "backend", *sorted([*(f for f in Input.model_fields if f not in _NOT_SWEEPABLE),
                        "lora_scale"]))

#: Upper bound on cells in one grid (each cell is one image per frame).
MAX_CELLS = 64

#: A stand-in source image: makes validation apply the img2img rules (steps * strength >= 1).
_PLACEHOLDER_IMAGE = b"\xff\xd8placeholder"


def canonical_axis(name: str) -> str:
    """The Input field (or ``"backend"``) an axis name stands for.

    Raises :class:`InvalidInput` listing the valid names for an unknown one.
    """
    fld = ALIASES.get(name, name)
    if fld in SWEEPABLE:
        return fld
    valid = ", ".join([*SWEEPABLE, *(f"{a} (= {f})" for a, f in ALIASES.items())])
    raise InvalidInput(f"{name}: not a sweepable parameter; valid axes are {valid}",
                       field=name)


def format_value(value: Any) -> str:
    """Short display text of an axis value: ``4``, ``0.5``, ``'a red car'``, ``512x512``."""
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return repr(value if len(value) <= 24 else value[:23] + "…")
    width, height = getattr(value, "width", None), getattr(value, "height", None)
    if width is not None and height is not None:
        return f"{width}x{height}"
    return str(value)


def backend_label(backend: Backend) -> str:
    """``name`` or ``name:model`` from a backend's info."""
    info = backend.info
    return info.name if info.model in {"", info.name} else f"{info.name}:{info.model}"


def validate_value(name: str, value: Any) -> Any:
    """Check one axis value alone; returns it as the schema coerces it (``"4"`` → ``4``).

    ``name`` may be an alias; the error message uses it as given.
    """
    fld = canonical_axis(name)
    if fld == "backend":
        return value
    if fld == "lora_scale":
        data: dict[str, Any] = {"prompt": "", "loras": [{"path": "x", "scale": value}]}
        try:
            inp = parse_input(data)
        except InvalidInput as exc:
            msg = str(exc).replace("loras.0.scale:", f"{name}:")
            raise InvalidInput(msg, field=name) from None
        assert inp.loras is not None
        return inp.loras[0].scale
    data = {"prompt": "", fld: value}
    try:
        inp = parse_input(data)
    except InvalidInput as exc:
        msg = str(exc)
        if name != fld:
            msg = msg.replace(f"{fld}:", f"{name}:")
        raise InvalidInput(msg, field=name) from None
    return getattr(inp, fld)


def _is_backend(obj: Any) -> bool:
    return hasattr(obj, "info") and hasattr(obj, "generate")


def split_axes(params: Mapping[str, Any]) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """Split keyword parameters into axes (lists, tuples, ranges) and fixed values (scalars).

    Names are checked (:func:`canonical_axis`); two names for one field are an error.
    """
    axes: dict[str, list[Any]] = {}
    fixed: dict[str, Any] = {}
    seen: dict[str, str] = {}
    for name, value in params.items():
        fld = canonical_axis(name)
        if fld in seen:
            raise InvalidInput(f"{name}: given twice (also as {seen[fld]})", field=name)
        seen[fld] = name
        if isinstance(value, (list, tuple, range)) and not (
                fld == "backend" and isinstance(value, tuple) and len(value) == 2
                and isinstance(value[0], str) and _is_backend(value[1])) and not (
                fld == "loras" and all(not isinstance(v, (list, tuple)) for v in value)):
            axes[name] = list(value)
        elif fld == "backend":
            raise InvalidInput(f"{name}: must be a list of backends or (label, backend) pairs, "
                               f"got {type(value).__name__}", field=name)
        else:
            fixed[name] = value
    return axes, fixed


@dataclass(frozen=True)
class Axis:
    """One swept parameter: its name as given, the field it sets, the values and their labels."""

    name: str
    field: str
    values: tuple[Any, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """One grid cell: its place, labels, the fields it overrides and the backend it uses.

    ``parts`` are its swept values (``"steps=4"``, a backend's label) in the order the axes
    were given, whatever the layout made rows and columns: what its caption lists.
    """

    index: int
    row: int
    col: int
    row_label: str
    col_label: str
    overrides: Mapping[str, Any] = field(hash=False)
    backend: int = 0
    parts: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``"steps=4 · strength=0.5"`` (row label, then column label)."""
        return " · ".join(p for p in (self.row_label, self.col_label) if p)

    @property
    def caption(self) -> str:
        """``"steps=4 · strength=0.5 · seed=1"``: every swept value, in the axes' order."""
        return " · ".join(self.parts) or self.label

    @property
    def labels(self) -> dict[str, str]:
        """``{"row": ..., "col": ...}``."""
        return {"row": self.row_label, "col": self.col_label}


@dataclass(frozen=True)
class Sweep:
    """The expanded grid: axes, cells in row-major order, and the backends they use."""

    axes: tuple[Axis, ...]
    n_rows: int
    n_cols: int
    cells: tuple[Cell, ...]
    backends: tuple[tuple[str, Backend], ...]
    row_labels: tuple[str, ...]
    col_labels: tuple[str, ...]

    def cell(self, row: int, col: int) -> Cell:
        """The cell at ``(row, col)``; :class:`IndexError` names the grid size."""
        if not (0 <= row < self.n_rows and 0 <= col < self.n_cols):
            raise IndexError(f"cell ({row}, {col}) is outside the {self.n_rows}x{self.n_cols} "
                             "grid")
        return self.cells[row * self.n_cols + col]

    @property
    def row_axes(self) -> tuple[Axis, ...]:
        """The axes that make the rows (all but the last when there are two or more)."""
        return self.axes[:-1] if len(self.axes) >= 2 else self.axes

    @property
    def col_axis(self) -> Axis | None:
        """The axis that makes the columns (the last one), or None for fewer than two axes."""
        return self.axes[-1] if len(self.axes) >= 2 else None


def _make_axis(name: str, values: Sequence[Any]) -> tuple[Axis, list[tuple[str, Backend]]]:
    fld = canonical_axis(name)
    if len(values) == 0:
        raise InvalidInput(f"{name}: needs at least one value, got []", field=name)
    if fld != "backend":
        checked = tuple(validate_value(name, v) for v in values)
        labels = tuple(f"{name}={format_value(v)}" for v in checked)
        return Axis(name, fld, checked, labels), []
    pairs: list[tuple[str, Backend]] = []
    for i, item in enumerate(values):
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            label, be = item
        else:
            label, be = "", item
        if not _is_backend(be):
            raise InvalidInput(f"{name}[{i}]: must be a backend or a (label, backend) pair, got "
                               f"{type(item).__name__}", field=name)
        pairs.append((label or backend_label(be), be))
    # Make labels unique: "local:tiny", "local:tiny #2".
    counts: dict[str, int] = {}
    unique: list[tuple[str, Backend]] = []
    for label, be in pairs:
        counts[label] = counts.get(label, 0) + 1
        unique.append((label if counts[label] == 1 else f"{label} #{counts[label]}", be))
    labels = tuple(label for label, _ in unique)
    return Axis(name, fld, tuple(range(len(unique))), labels), unique


def expand(axes: Mapping[str, Sequence[Any]] | Iterable[tuple[str, Sequence[Any]]],
           backend: Backend | None = None, *, max_cells: int = MAX_CELLS) -> Sweep:
    """Expand axes into a grid of cells (see the module docstring for the layout rules).

    ``backend`` is used by every cell unless a ``backend`` axis is given. Raises
    :class:`InvalidInput` for unknown names, empty axes, values invalid on their own, or more
    than ``max_cells`` cells.
    """
    items = list(axes.items()) if isinstance(axes, Mapping) else list(axes)
    built: list[Axis] = []
    backends: list[tuple[str, Backend]] = []
    seen: set[str] = set()
    for name, values in items:
        ax, bes = _make_axis(name, list(values))
        if ax.field in seen:
            raise InvalidInput(f"{name}: the {ax.field} axis is given twice", field=name)
        seen.add(ax.field)
        built.append(ax)
        backends.extend(bes)
    if "backend" not in seen:
        if backend is None:
            raise InvalidInput("backend: no backend given; pass backend=... or a backend axis",
                               field="backend")
        backends = [(backend_label(backend), backend)]
    total = 1
    for ax in built:
        total *= len(ax.values)
    if total > max_cells:
        sizes = " x ".join(str(len(ax.values)) for ax in built)
        raise InvalidInput(f"sweep: must have at most {max_cells} cells, got {sizes} = {total}",
                           field=None)
    row_axes = built[:-1] if len(built) >= 2 else built
    col_axes = built[-1:] if len(built) >= 2 else []
    row_combos = list(itertools.product(*(range(len(a.values)) for a in row_axes)))
    col_combos = list(itertools.product(*(range(len(a.values)) for a in col_axes)))
    row_labels = tuple(", ".join(a.labels[i] for a, i in zip(row_axes, c, strict=True)) for c in row_combos)
    col_labels = tuple(", ".join(a.labels[i] for a, i in zip(col_axes, c, strict=True)) for c in col_combos)
    cells: list[Cell] = []
    for r, rc in enumerate(row_combos):
        for c, cc in enumerate(col_combos):
            overrides: dict[str, Any] = {}
            be = 0
            picked = list(zip([*row_axes, *col_axes], [*rc, *cc], strict=True))
            for ax, i in picked:
                if ax.field == "backend":
                    be = ax.values[i]
                else:
                    overrides[ax.field] = ax.values[i]
            cells.append(Cell(len(cells), r, c, row_labels[r], col_labels[c], overrides, be,
                              tuple(ax.labels[i] for ax, i in picked)))
    return Sweep(tuple(built), len(row_combos), len(col_combos), tuple(cells), tuple(backends),
                 row_labels, col_labels)


def _base_dict(base: Input | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(base, Input):  # what it leaves unset takes each backend's app's default
        return base.model_dump(exclude_unset=True)
    return {ALIASES.get(k, k): v for k, v in base.items()}


def validate_cells(sweep: Sweep, base: Input | Mapping[str, Any],
                   image: bytes | str | None = None) -> list[Input | InvalidInput]:
    """Build each cell's request from ``base`` plus its overrides, with the source ``image``.

    Each cell is checked with the schema of its backend's app
    (:meth:`lcm_widgets.apps.AppSchema.validate` on :func:`lcm_widgets.apps.backend_schema`):
    its limits, and its defaults for what neither ``base`` nor the cell sets; a turbo backend's
    ``steps=6`` cell fails with ``num_inference_steps: must be between 1 and 4, got 6``.
    Returns, per cell, the validated :class:`Input` or the :class:`InvalidInput` that cell
    raises (its message starts with the cell label). ``image=None`` validates with a stand-in
    source image, so the image-to-image rules apply as they will for a drawing.
    """
    from .apps import LCM_APP, backend_schema

    data = {**_base_dict(base), "image_url": image if image is not None else _PLACEHOLDER_IMAGE,
            "num_images": 1}
    data.setdefault("prompt", "")
    schemas = [backend_schema(be) for _, be in sweep.backends]
    out: list[Input | InvalidInput] = []
    for cell in sweep.cells:
        schema = schemas[cell.backend] if cell.backend < len(schemas) else LCM_APP
        try:
            out.append(schema.validate(_with_lora_scale({**data, **cell.overrides})))
        except InvalidInput as exc:
            where = cell.label or "cell"
            app = "" if schema is LCM_APP else f" (the {schema.name} schema)"
            out.append(InvalidInput(f"{where}: {exc}{app}", errors=exc.errors,
                                    field=exc.field))
    return out


def _with_lora_scale(data: dict[str, Any]) -> dict[str, Any]:
    """Apply a cell's ``lora_scale`` to every LoRA of its ``loras``."""
    if "lora_scale" not in data:
        return data
    scale = data.pop("lora_scale")
    loras = data.get("loras")
    if not loras:
        raise InvalidInput("lora_scale: needs loras=[{path, scale}] among the fixed values (the "
                           f"LoRAs to scale), got {loras!r}", field="lora_scale")
    data["loras"] = [{**(w.model_dump() if hasattr(w, "model_dump") else dict(w)),
                      "scale": scale} for w in loras]
    return data


def build_inputs(checked: Sequence[Input | InvalidInput], image: bytes | str,
                 request_prefix: str = "") -> list[Input | None]:
    """Per-frame requests: each valid cell's Input with ``image`` as its source; None if invalid.

    ``checked`` comes from :func:`validate_cells` (the image is a non-empty value, so nothing
    the validation checked can change).
    """
    if not image:
        raise InvalidInput("image_url: must not be empty; the grid needs a drawing",
                           field="image_url")
    return [inp.model_copy(update={"image_url": image,
                                   "request_id": f"{request_prefix}{i}" if request_prefix
                                   else inp.request_id})
            if isinstance(inp, Input) else None for i, inp in enumerate(checked)]


@dataclass(frozen=True)
class BatchGroup:
    """Cells that run as one model call: one backend, cell indices in grid order."""

    backend: int
    cells: tuple[int, ...]

    @property
    def batched(self) -> bool:
        """True when more than one cell shares the call."""
        return len(self.cells) > 1


def plan_batches(cells: Sequence[Cell], inputs: Sequence[Input | InvalidInput | None],
                 infos: Sequence[BackendInfo]) -> list[BatchGroup]:
    """Group cells into model calls by the one batch rule
    (:func:`lcm_widgets.backends.base.plan_batches`).

    ``inputs[i]`` is cell i's request (cells whose entry is not an :class:`Input` are left out
    of the plan); ``infos[b]`` describes backend ``b``. Cells share a group when they use the
    same backend and that backend's :meth:`~lcm_widgets.backends.base.BackendInfo.batch_key`
    says they may; a group holds at most ``batch_limit`` images. Groups come in the order of
    their first cell.
    """
    if len(inputs) != len(cells):
        raise ValueError(f"plan_batches: {len(cells)} cells but {len(inputs)} inputs")
    groups: list[BatchGroup] = []
    for b, info in enumerate(infos):
        mine = [i for i, (cell, inp) in enumerate(zip(cells, inputs, strict=True))
                if cell.backend == b and isinstance(inp, Input)]
        reqs = [inputs[i] for i in mine]
        for members in batch_plan([r if isinstance(r, Input) else None for r in reqs], info):
            groups.append(BatchGroup(b, tuple(cells[mine[m]].index for m in members)))
    return sorted(groups, key=lambda g: g.cells[0])
