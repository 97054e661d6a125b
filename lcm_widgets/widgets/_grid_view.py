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
from ..sweep import Sweep
from ._grid import caption_html, corner_html, error_html, make_cell, make_editor, refresh_header
from ._grid_run import CellResult

__all__ = ["GridView"]


class GridView:
    """The grid box and its cells; ``on_edit(name, index, value)`` and ``on_adopt(row, col)``
    are called from the header editors and the cells' "use these" buttons."""

    def __init__(self, cell_size: int, on_edit: Callable[[str, int, Any], None],
                 on_adopt: Callable[[int, int], None]) -> None:
        self.cell_size = cell_size
        self.box = W.GridBox()
        self.views: list[tuple[W.Image, W.HTML, W.Button]] = []
        self.headers: dict[tuple[str, int], Any] = {}  # (where, i) -> its value widget
        self._on_edit, self._on_adopt = on_edit, on_adopt

    def layout(self, sweep: Sweep, checked: Sequence[Input | InvalidInput]) -> None:
        """Build every widget for ``sweep`` (closing the old ones); invalid cells show why."""
        size = self.cell_size
        old = self.widgets()
        self.views, self.headers = [], {}
        header: list[W.Widget] = [W.HTML(corner_html(sweep))]
        header += [self._header(sweep, "col", c) for c in range(sweep.n_cols)]
        body: list[W.Widget] = []
        for r in range(sweep.n_rows):
            body.append(self._header(sweep, "row", r))
            for c in range(sweep.n_cols):
                box, view = make_cell(sweep.cell(r, c), size, self._on_adopt)
                self.views.append(view)
                body.append(box)
        self.box.layout = W.Layout(
            grid_template_columns=f"auto repeat({sweep.n_cols}, {size}px)", grid_gap="6px",
            align_items="center", flex="0 0 auto", width="max-content")
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
            self._show_invalid(checked)

    def show(self, res: CellResult) -> None:
        """Paint one cell's newest result (or its error) and its caption."""
        if res.cell.index >= len(self.views):
            return
        image, info, _ = self.views[res.cell.index]
        if res.image is not None and not res.error:
            image.format = res.mime.split("/")[-1]
            image.value = res.image
        info.value = caption_html(res)

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
        for i, chk in enumerate(checked):
            if i < len(self.views) and isinstance(chk, InvalidInput):
                self.views[i][1].value = error_html(str(chk))
