"""The Compare grid's widgets: the corner, the header editors, one image and caption per cell.

:class:`GridView` builds them from a :class:`~lcm_widgets.sweep.Sweep` and keeps them in step:
:meth:`GridView.layout` when the grid changes shape, :meth:`GridView.refresh` when only values
changed, :meth:`GridView.show` for one cell's newest result. The pieces it is made of live in
:mod:`._grid`; the widget and its API are :mod:`.compare`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W

from ..errors import InvalidInput
from ..schema import Input
from ..sweep import Cell, Sweep
from ._grid import (
    CellView,
    caption_html,
    cell_error,
    corner_html,
    error_html,
    make_cell,
    make_editor,
    refresh_header,
    show_image,
    show_note,
    sized,
    waiting_html,
)
from ._grid_run import CellResult

__all__ = ["GridView"]

#: The status line of a cell whose parameters are invalid together (its error is in the cell).
INVALID = "invalid: not rendered"


class GridView:
    """The grid box and its cells; ``on_edit(name, index, value)`` and ``on_adopt(row, col)``
    are called from the header editors and the cells' "use these" buttons."""

    def __init__(self, cell_size: int, on_edit: Callable[[str, int, Any], None],
                 on_adopt: Callable[[int, int], None]) -> None:
        self.cell_size = cell_size
        self.box = W.GridBox()
        self.views: list[CellView] = []
        self.headers: dict[tuple[str, int], Any] = {}  # (where, i) -> its value widget
        self._cells: list[Cell] = []
        self._on_edit, self._on_adopt = on_edit, on_adopt

    def layout(self, sweep: Sweep, checked: Sequence[Input | InvalidInput]) -> None:
        """Build every widget for ``sweep`` (closing the old ones); invalid cells show why."""
        size = self.cell_size
        old = self.widgets()
        self.views, self.headers = [], {}
        self._cells = list(sweep.cells)
        header: list[W.Widget] = [W.HTML(corner_html(sweep))]
        header += [self._header(sweep, "col", c) for c in range(sweep.n_cols)]
        body: list[W.Widget] = []
        for r in range(sweep.n_rows):
            body.append(self._header(sweep, "row", r))
            for c in range(sweep.n_cols):
                box, view = make_cell(sweep.cell(r, c), size, self._on_adopt)
                self.views.append(view)
                body.append(box)
        # Fixed tracks: every cell is the same size (its caption lines never wrap), so the
        # rows and columns stay aligned whatever the labels and errors say.
        self.box.layout = W.Layout(
            grid_template_columns=f"auto repeat({sweep.n_cols}, {size}px)", grid_gap="6px",
            align_items="center", justify_items="flex-start", flex="0 0 auto",
            width="max-content")
        self.box.children = [*header, *body]
        for w in old:
            w.close()  # the old headers and cells (their comms), not the new ones
        self._show_invalid(checked)

    def refresh(self, sweep: Sweep, checked: Sequence[Input | InvalidInput], *,
                editors_only: bool = False) -> None:
        """Show ``sweep``'s values in the headers (and invalid cells' errors), same shape.
        ``editors_only``: put sliders and number boxes back on the grid's values (after a
        refused edit), leaving text boxes as typed."""
        for (where, i), widget in list(self.headers.items()):
            if not (editors_only and isinstance(widget, (W.Text, W.HTML))):
                refresh_header(sweep, where, i, widget)
        if not editors_only:
            self._cells = list(sweep.cells)
            self._show_invalid(checked)

    def show(self, res: CellResult) -> None:
        """Paint one cell's newest result (or its error) and its caption."""
        if res.cell.index >= len(self.views):
            return
        view = self.views[res.cell.index]
        if res.image is not None and not res.error:
            view.image.format = res.mime.split("/")[-1]
            view.image.value = res.image
            show_image(view)
        elif res.error:
            show_note(view, error_html(cell_error(res.cell, res.error)))
        view.info.value = sized(waiting_html(res.cell, INVALID) if view.button.disabled
                                else caption_html(res), self.cell_size)

    def widgets(self) -> list[W.Widget]:
        """Every widget of the grid (to close them)."""
        return [*self.box.children, *self.headers.values(),
                *(w for v in self.views for w in v)]

    def close(self) -> None:
        """Close every widget of the grid, the box too."""
        for w in self.widgets():
            w.close()
        self.box.close()

    def _header(self, sweep: Sweep, where: str, i: int) -> W.Widget:
        box, value = make_editor(sweep, where, i, self._on_edit)
        self.headers[(where, i)] = value
        return box

    def _show_invalid(self, checked: Sequence[Input | InvalidInput]) -> None:
        """Invalid cells show why in their image's place, and cannot be adopted; a cell that
        became valid again gets its button back (its next result replaces the note)."""
        for i, chk in enumerate(checked[:len(self.views)]):
            view, invalid = self.views[i], isinstance(chk, InvalidInput)
            if invalid:
                show_note(view, error_html(cell_error(self._cells[i], str(chk))))
                view.info.value = sized(waiting_html(self._cells[i], INVALID), self.cell_size)
            elif view.button.disabled:  # valid again: its next result replaces this
                view.info.value = sized(waiting_html(self._cells[i], "waiting"), self.cell_size)
                if view.image.value:
                    show_image(view)
                else:
                    show_note(view, "<div style='color:#888'>waiting for a result</div>")
            view.button.disabled = invalid
            view.button.tooltip = (f"invalid, cannot be adopted: {chk}" if invalid
                                   else f"adopt {self._cells[i].label}")
