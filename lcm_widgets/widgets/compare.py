"""``Compare``: one drawing, a live grid of outputs, one cell per parameter combination.

::

    studio = Studio(backend=LocalLCM("tiny"), prompt="a watercolor house")
    Compare(studio, steps=[2, 4, 8], strength=[0.3, 0.5, 0.7])   # shares the Studio's canvas
    Compare(backend=tiny, prompt="a cat", seed=[1, 2, 3], guidance=[1, 2])  # its own canvas
    Compare(prompt="a cat", backend=[("local", tiny), ("server", remote)], seed=[1, 2])

Keywords that are lists are axes (first = rows, second = columns, see :mod:`lcm_widgets.sweep`),
scalars are fixed for every cell. With a Studio, every cell starts from ``studio.params``.

Pacing is the Studio's: the Compare has its own :class:`~lcm_widgets.runtime.engine.Engine`
on the library loop, whose pacer treats the **grid as a whole** as its unit of work (with
``auto_ack``: cells are painted as their results arrive, nothing waits for a browser). One
grid-frame is in flight; frames arriving meanwhile overwrite one pending slot (newest wins);
when every cell has its result for frame N, the newest pending frame starts. So a cell never
shows a result more than one frame older than its neighbours'. Axis edits (the header sliders
and text boxes, or :meth:`Compare.set_value`) re-render the newest frame after a 150 ms
debounce. A grid-frame runs the batch plan (:func:`~lcm_widgets.sweep.plan_batches`, the one
batch rule) group by group (:func:`._grid_run.run_group`); a failing cell shows its error and
the grid goes on. A Compare and a Studio may share one backend: each engine paces only its
own requests. This module is the widget and its API.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Sequence
from typing import Any

import ipywidgets as W

from ..errors import InvalidInput, LCMWidgetsError
from ..pacing import Pacer
from ..runtime.engine import Engine, Job, ResultRecord
from ..sweep import BatchGroup, Sweep, split_axes
from ._grid import (
    REVERSE_ALIASES,
    CellView,
    apply_to_studio,
    esc,
    latency_figure,
    parse_axis_text,
    render_grid,
    results_table,
)
from ._grid_run import (
    CellResult,
    GridConfig,
    base_key,
    base_params,
    build_config,
    render_frame,
)
from ._grid_view import GridView

__all__ = ["Compare"]


class Compare(W.VBox):
    """A labelled grid of live outputs, one per parameter combination, fed by one drawing.

    ``studio``: share an existing Studio's canvas, backend and base params (its controls are what
    :meth:`adopt` sets). ``backend``: the model for every cell, or a list of backends (or of
    ``(label, backend)`` pairs) to make it an axis like any other keyword.
    ``sketchpad``: an existing Sketchpad to listen to; without one (and without a Studio) the
    Compare makes its own; ``sketchpad=False`` for none (feed frames with :meth:`submit`).
    ``cell_size``: CSS pixels per cell image. ``debounce``: seconds of quiet after an axis
    edit before the newest frame re-renders.
    """

    def __init__(self, studio: Any = None, *, sketchpad: Any = None, cell_size: int = 160,
                 debounce: float = 0.15, **params: Any) -> None:
        backend = params.get("backend")
        if backend is not None and hasattr(backend, "generate"):  # one backend, not an axis
            del params["backend"]
        else:
            backend = None
        axes, fixed = split_axes(params)
        self._studio = studio
        self._default_backend = backend if backend is not None else getattr(
            studio, "backend", None)
        self._axes: list[tuple[str, list[Any]]] = list(axes.items())
        self._fixed = dict(fixed)
        self._seed = random.randrange(2**31)  # stable while drawing; a seed axis overrides it
        self._cell_size = cell_size
        self.adopted: dict[str, Any] | None = None
        self._config = self._build_config()  # raises InvalidInput for bad axes before any UI
        self._lock = threading.Lock()  # guards the results and the source (loop vs. kernel)
        self._results: dict[int, CellResult] = {}
        self._source: bytes | None = None
        self._error = ""
        self._engine: Engine[None] = Engine(self._render, on_result=self._rendered,
                                            on_error=self._failed, debounce=debounce,
                                            auto_ack=True)
        self._view = GridView(cell_size, self._edited, self._adopt_clicked)
        self.status = W.HTML(layout=W.Layout(min_height="1.5em"))
        self.grid = self._view.box
        super().__init__()
        self.add_class("lcm-compare")
        self._sketchpad = self._attach_canvas(studio, sketchpad)
        self._view.layout(self.sweep, self._config.checked)
        canvas: list[W.Widget] = []
        if self._sketchpad is not None:
            # A fixed-width box, so the grid sits beside the canvas when the row has room.
            pad = self._sketchpad
            panels = 2 if getattr(pad, "show_output", False) else 1
            width = int(getattr(pad, "display_size", 384)) * panels + 16 * panels
            canvas = [W.Box([pad], layout=W.Layout(width=f"{width}px", flex="0 0 auto"))]
        # Side by side when there is room, the grid under the canvas when there is not.
        self.children = [W.HBox([*canvas, self.grid],
                                layout=W.Layout(align_items="flex-start", flex_flow="row wrap",
                                                grid_gap="12px")),
                         self.status]
        self._show_status()

    # ------------------------------------------------------------------ public API
    @property
    def sweep(self) -> Sweep:
        """The current sweep (axes, labels, cells)."""
        return self._config.sweep

    @property
    def errors(self) -> dict[tuple[int, int], str]:
        """``{(row, col): message}`` for cells whose parameters are invalid together."""
        return {(c.row, c.col): str(chk) for c, chk in zip(self.sweep.cells, self._config.checked,
                                                          strict=True)
                if isinstance(chk, InvalidInput)}

    @property
    def plan(self) -> list[BatchGroup]:
        """The batch plan: which cells share one model call."""
        return list(self._config.plan)

    @property
    def source(self) -> bytes | None:
        """The drawing (JPEG bytes) of the newest rendered grid-frame, None before the first."""
        with self._lock:
            return self._source

    @property
    def results(self) -> list[dict[str, Any]]:
        """The newest result of every cell that has one (see :meth:`CellResult.as_dict`)."""
        with self._lock:
            res = dict(self._results)
        return [res[i].as_dict() for i in sorted(res)]

    def submit(self, image: Any) -> int:
        """Feed one drawing (PIL image, array, encoded bytes, path) as the next frame.

        Returns the frame's key. The grid renders it unless a newer frame replaces it first.
        """
        from ..images import encode_image, load_image

        if self._engine.closed:
            raise RuntimeError("compare: closed; make a new Compare to render more frames")
        data = encode_image(load_image(image), "jpeg", quality=90)
        return self._post(data)

    def wait(self, timeout: float | None = 60.0) -> bool:
        """Block until the grid has rendered every frame and edit so far; False on timeout."""
        return self._engine.wait_idle(timeout)

    def run(self, image: Any, timeout: float | None = 300.0) -> list[dict[str, Any]]:
        """:meth:`submit` then :meth:`wait`; returns :attr:`results`. Raises TimeoutError."""
        self.submit(image)
        if not self.wait(timeout):
            raise TimeoutError(f"compare: the grid did not finish within {timeout} s")
        return self.results

    def set_axis(self, name: str, values: Sequence[Any]) -> None:
        """Replace the values of axis ``name`` (the grid may change shape); re-renders."""
        idx = self._axis_index(name)
        old = self._axes[idx]
        self._axes[idx] = (old[0], list(values))
        self._reconfigure(lambda: self._axes.__setitem__(idx, old), relayout=True)

    def set_value(self, name: str, index: int, value: Any) -> None:
        """Set one value of axis ``name``; re-renders the newest frame after the debounce.

        The header's slider or text box shows the new value. Raises :class:`InvalidInput` for a
        value wrong on its own (the grid keeps the old one) and :class:`IndexError`.
        """
        idx = self._axis_index(name)
        axis_name, values = self._axes[idx]
        if not 0 <= index < len(values):
            raise IndexError(f"{name}: has {len(values)} values, got index {index}")
        new = list(values)
        new[index] = value
        self._axes[idx] = (axis_name, new)
        self._reconfigure(lambda: self._axes.__setitem__(idx, (axis_name, values)),
                          relayout=False)

    def adopt(self, row: int, col: int) -> dict[str, Any]:
        """Copy cell ``(row, col)``'s parameters into the Studio's controls; returns them.

        Without a Studio the parameters are only returned (and kept in :attr:`adopted`). An
        invalid cell (:attr:`errors`) is refused with its reason: its button is disabled too.
        """
        cell = self.sweep.cell(row, col)
        invalid = self.errors.get((row, col))
        if invalid:
            raise InvalidInput(f"adopt: cell ({row}, {col}) is invalid and cannot be adopted: "
                               f"{invalid}", field=cell.label or "cell")
        params = dict(cell.overrides)
        if self._studio is not None:
            apply_to_studio(self._studio, params)
        self.adopted = params
        text = ", ".join(f"{REVERSE_ALIASES.get(k, k)}={v!r}" for k, v in params.items())
        self._show_status(f"adopted {cell.label or 'the cell'}" + (
            f" into the Studio ({text})" if self._studio is not None else f" ({text})"))
        return params

    def to_dataframe(self, images: bool = False) -> Any:
        """:attr:`results` as a pandas DataFrame, one row per cell (``images=True`` keeps the
        image bytes). Raises ImportError naming the extra when pandas is missing."""
        from .._extras import need

        need("compare", "pandas", what="Compare.to_dataframe()")
        import pandas as pd
        rows = results_table(self.results, list(self.sweep.cells[0].overrides), images)
        return pd.DataFrame(rows)

    def save(self, path: Any, *, cell_size: int = 256) -> None:
        """Write the labelled grid (drawing in the corner, latency under each cell) as an
        image file; the format follows the file name (PNG recommended)."""
        with self._lock:
            results = dict(self._results)
            source = self._source
        render_grid(self.sweep, results, cell_size=cell_size, source=source).save(path)

    def plot_latency(self) -> Any:
        """A matplotlib figure of each cell's latency (ms), laid out like the grid."""
        return latency_figure(self.sweep, self.results)

    def close(self) -> None:
        """Stop rendering, stop listening to the canvas and close the grid's widgets."""
        if not hasattr(self, "_engine"):  # construction failed half-way
            super().close()
            return
        self._engine.close(timeout=30.0)
        pad = getattr(self, "_sketchpad", None)
        if pad is not None and hasattr(pad, "on_frame"):
            with contextlib.suppress(TypeError):
                pad.on_frame(self._on_frame, remove=True)
        self._view.close()
        super().close()

    # ------------------------------------------------------------------ configuration
    @property
    def _views(self) -> list[CellView]:
        """Each cell's widgets (image, caption, "use these" button, note), in grid order."""
        return self._view.views

    @property
    def _pacer(self) -> Pacer:
        """The grid's pacer (its counters are the grid's statistics)."""
        return self._engine.pacer

    def _axis_index(self, name: str) -> int:
        from ..sweep import canonical_axis

        fld = canonical_axis(name)
        for i, (n, _) in enumerate(self._axes):
            if canonical_axis(n) == fld:
                return i
        names = ", ".join(n for n, _ in self._axes) or "none"
        raise InvalidInput(f"{name}: not an axis of this grid; its axes are {names}", field=name)

    def _base(self) -> dict[str, Any]:
        studio_params = getattr(self._studio, "params", None) if self._studio else None
        return base_params(studio_params, self._fixed, self._seed)

    def _build_config(self) -> GridConfig:
        return build_config(self._axes, self._base(), self._default_backend)

    def _reconfigure(self, undo: Any, relayout: bool) -> None:
        try:
            config = self._build_config()
        except InvalidInput:
            undo()
            raise
        self._config = config
        if relayout:
            with self._lock:
                self._results.clear()
        self._engine.post_params_changed()
        if relayout:
            self._view.layout(self.sweep, config.checked)
        else:
            self._view.refresh(self.sweep, config.checked)
        self._show_status()

    # ------------------------------------------------------------------ canvas and frames
    def _attach_canvas(self, studio: Any, sketchpad: Any) -> Any:
        if sketchpad is False:
            return None
        if sketchpad is None and studio is not None:
            sketchpad = getattr(studio, "sketchpad", None)
        if sketchpad is None:
            try:
                from .sketchpad import Sketchpad
            except ImportError:  # the canvas is optional: submit() still feeds the grid
                return None
            sketchpad = Sketchpad(show_output=False)  # the grid is the output
        sketchpad.on_frame(self._on_frame)
        return sketchpad

    def _on_frame(self, frame: Any) -> None:
        # May run on a subshell thread: copy the bytes and hand them over, nothing more.
        if not self._engine.closed:
            self._post(bytes(frame.data))

    def _post(self, data: bytes) -> int:
        return self._engine.post_frame(data, mime="image/jpeg", width=0, height=0,
                                       reason="compare")

    # ------------------------------------------------------------------ a grid-frame (loop)
    async def _render(self, job: Job) -> None:
        """Run the plan for one drawing, painting each group's cells as it finishes."""
        config = self._config
        base = self._base()
        if base_key(base) != config.base_key:  # the Studio's params changed
            config = self._config = self._build_config()

        def stop(ran: GridConfig) -> bool:  # closed, or the grid changed shape meanwhile
            now = self._config
            return self._engine.closed or (now is not ran and now.sweep.cells != ran.sweep.cells)

        await render_frame(config, job.frame.key, job.frame.data, base,
                           lambda res: self._paint(res), stop)

    def _rendered(self, rec: ResultRecord[None]) -> None:
        with self._lock:
            self._source = rec.frame.data
            self._error = ""
        self._show_status()

    def _failed(self, text: str) -> None:
        with self._lock:
            self._error = f"grid failed: {text}" if text else ""
        self._show_status()

    def _store(self, res: CellResult) -> bool:
        """Keep ``res`` as its cell's newest result; False when an edit replaced that cell."""
        cells = self._config.sweep.cells
        if cells[res.cell.index:res.cell.index + 1] != (res.cell,):
            return False
        with self._lock:
            self._results[res.cell.index] = res
        return True

    # ------------------------------------------------------------------ view
    def _paint(self, res: CellResult) -> None:
        if not self._store(res):
            return  # an edit replaced this cell while it ran
        self._view.show(res)

    def _edited(self, name: str, index: int, value: Any) -> None:
        """A header edit from the browser: a number from a slider or IntText, text from a
        text box. The same value again changes nothing; a refused number puts the editor
        back on the grid's value (a text box keeps what is being typed)."""
        try:
            new = parse_axis_text(name, value) if isinstance(value, str) else value
            current = self.sweep.axes[self._axis_index(name)].values
            if index < len(current) and new == current[index]:
                return
            self.set_value(name, index, new)
        except (LCMWidgetsError, IndexError) as exc:
            self._show_status(f"not applied: {exc}")
            self._view.refresh(self.sweep, self._config.checked, editors_only=True)

    def _adopt_clicked(self, row: int, col: int) -> None:
        try:
            self.adopt(row, col)
        except Exception as exc:  # a click must never raise into the comm handler
            self._show_status(f"could not adopt: {exc}")

    def _show_status(self, note: str = "") -> None:
        s = self.sweep
        with self._lock:
            done = len(self._results)
            err = self._error
        be = ", ".join(label for label, _ in s.backends)
        groups = len(self._config.plan)
        text = (f"{s.n_rows}×{s.n_cols} grid on {esc(be)} · {groups} model calls per frame · "
                f"{done} cells rendered")
        if err:
            text += f" · <span style='color:#b00020'>{esc(err)}</span>"
        if note:
            text += f" · {esc(note)}"
        self.status.value = f"<small class='lcm-compare-status'>{text}</small>"
