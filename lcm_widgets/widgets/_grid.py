"""The Compare grid's view pieces: parsing edited axis values, the header editors (sliders for
numeric axes, text for the rest), the cell widgets and captions, the results table, the
latency figure, the labelled grid as one PIL image, and adopting a cell into a Studio.

Running a grid-frame (cell results, :func:`run_group`) lives in
:mod:`lcm_widgets.widgets._grid_run`; :class:`CellResult` and :func:`run_group` are re-exported
here. ipywidgets, matplotlib and pandas are imported where used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, LCMWidgetsError
from ..schema import Input
from ..schema_extensions import LoraWeight
from ..sweep import ALIASES, canonical_axis, format_value, validate_value
from ._grid_run import CellResult, run_group

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..sweep import Axis, Cell, Sweep

__all__ = [
    "REVERSE_ALIASES",
    "SLIDER_MAX_SPAN",
    "CellResult",
    "apply_to_studio",
    "caption_html",
    "corner_html",
    "edit_text",
    "editor_kind",
    "error_html",
    "esc",
    "field_bounds",
    "latency_figure",
    "make_cell",
    "make_editor",
    "parse_axis_text",
    "refresh_header",
    "render_grid",
    "results_table",
    "run_group",
]

REVERSE_ALIASES = {f: a for a, f in ALIASES.items()}


def parse_axis_text(name: str, text: str) -> Any:
    """An edited axis value, typed as text, checked by the schema.

    ``"4"`` → 4 for steps, ``"0.5"`` → 0.5, ``"512x384"`` → a size, ``""``/``"none"`` → None for
    seed; a prompt is taken as typed. Raises :class:`InvalidInput` naming the axis.
    """
    raw: Any = text.strip()
    fld = canonical_axis(name)
    if fld in {"prompt", "negative_prompt"}:
        raw = text
    elif fld == "seed" and raw.lower() in {"", "none", "random"}:
        raw = None
    elif fld == "image_size" and "x" in raw:
        w, _, h = raw.partition("x")
        try:
            raw = {"width": int(w), "height": int(h)}
        except ValueError:
            raise InvalidInput(f"{name}: must look like 512x512 or a preset name, got {text!r}",
                               field=name) from None
    elif raw.startswith("'") and raw.endswith("'") and len(raw) >= 2:
        raw = raw[1:-1]
    else:
        raw = _number(raw)
    return validate_value(name, raw)


def _number(text: str) -> Any:
    """``"4"`` → 4, ``"0.5"`` → 0.5, anything else unchanged (the schema then names it)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def edit_text(value: Any) -> str:
    """The text an axis value shows in its editor (the inverse of :func:`parse_axis_text`)."""
    if isinstance(value, str):
        return value
    if value is None:
        return "none"
    return format_value(value)


def render_grid(sweep: Sweep, results: Mapping[int, CellResult], *, cell_size: int = 256,
                source: bytes | None = None) -> Image.Image:
    """The labelled grid as one RGB image: column labels on top, row labels on the left,
    each cell with its latency (or its error) under the image; ``source`` (the drawing) in the
    top-left corner when given."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=14)
    label_w, header_h, caption_h, pad = 190, 30, 24, 6
    if source is not None:
        header_h = max(header_h, 120)
        label_w = max(label_w, 120)
    W = label_w + sweep.n_cols * (cell_size + pad) + pad
    H = header_h + sweep.n_rows * (cell_size + caption_h + pad) + pad
    canvas = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(canvas)
    if source is not None:
        from ..images import load_image

        thumb = load_image(source, allow_files=False).copy()
        thumb.thumbnail((min(label_w, header_h) - 2 * pad,) * 2)
        canvas.paste(thumb, (pad, pad))
    for c, label in enumerate(sweep.col_labels):
        x = label_w + c * (cell_size + pad)
        draw.text((x + 4, header_h - 20), _fit(label, cell_size), fill="black", font=font)
    for r, label in enumerate(sweep.row_labels):
        y = header_h + r * (cell_size + caption_h + pad)
        draw.text((pad, y + cell_size // 2 - 6), _fit(label, label_w - pad), fill="black",
                  font=font)
    for cell in sweep.cells:
        x = label_w + cell.col * (cell_size + pad)
        y = header_h + cell.row * (cell_size + caption_h + pad)
        res = results.get(cell.index)
        draw.rectangle((x - 1, y - 1, x + cell_size, y + cell_size), outline="#999999")
        caption = "waiting"
        if res is not None and res.image is not None and not res.error:
            try:
                from ..images import load_image

                img = load_image(res.image, allow_files=False).resize((cell_size, cell_size))
                canvas.paste(img, (x, y))
                caption = f"{res.latency_ms:.0f} ms" + (
                    f" (batch of {res.batch_size})" if res.batch_size > 1 else "")
            except LCMWidgetsError as exc:
                caption = f"error: {exc}"
        elif res is not None and res.error:
            caption = f"error: {res.error}"
        colour = "#b00020" if caption.startswith("error") else "black"
        if caption.startswith("error"):
            _wrap(draw, caption, (x + 4, y + 4), cell_size - 8, font, colour)
        draw.text((x + 2, y + cell_size + 4), _fit(caption, cell_size), fill=colour, font=font)
    return canvas


def _fit(text: str, width_px: int, char_px: int = 8) -> str:
    limit = max(4, width_px // char_px)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _wrap(draw: Any, text: str, xy: tuple[int, int], width_px: int, font: Any,
          colour: str) -> None:
    per_line = max(8, width_px // 8)
    x, y = xy
    for i in range(0, min(len(text), per_line * 12), per_line):
        draw.text((x, y), text[i:i + per_line], fill=colour, font=font)
        y += 17


# --- widgets (ipywidgets is imported where used) -------------------------------------------


def esc(text: str) -> str:
    """Escape text for the HTML widgets (and their ``title`` attributes)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&#39;"))


def error_html(message: str) -> str:
    """A cell caption for an error (the full text also in the tooltip)."""
    return (f"<span class='lcm-compare-error' style='color:#b00020' title='{esc(message)}'>"
            f"{esc(message)}</span>")


def caption_html(res: CellResult) -> str:
    """A cell caption: the error, or latency · batch size · frame."""
    if res.error:
        return error_html(res.error)
    batch = f" · batch of {res.batch_size}" if res.batch_size > 1 else ""
    return (f"<span class='lcm-compare-latency'>{res.latency_ms:.0f} ms{batch} · "
            f"frame {res.frame}</span>")


def corner_html(sweep: Sweep) -> str:
    """The top-left corner: which axes make the rows and the columns."""
    rows = " × ".join(a.name for a in sweep.row_axes) or "–"
    cols = sweep.col_axis.name if sweep.col_axis is not None else "–"
    return f"<small>rows: <b>{esc(rows)}</b><br>columns: <b>{esc(cols)}</b></small>"


#: An int or float field whose schema range (``le - ge``) is at most this gets a slider; a
#: wider one (``seed``: 0..2**64-1) gets an :class:`ipywidgets.IntText` box.
SLIDER_MAX_SPAN = 1000


#: Axes that are no Input field, and the field whose bounds they take (``lora_scale``: each
#: LoRA's ``scale``).
_PSEUDO_FIELDS = {"lora_scale": LoraWeight.model_fields["scale"]}


def field_bounds(fld: str) -> tuple[Any, Any]:
    """``(ge, le)`` of an :class:`~lcm_widgets.schema.Input` field from its metadata (None
    where the schema sets no bound)."""
    info = Input.model_fields.get(fld) or _PSEUDO_FIELDS.get(fld)
    meta = info.metadata if info is not None else []
    lo = next((m.ge for m in meta if getattr(m, "ge", None) is not None), None)
    hi = next((m.le for m in meta if getattr(m, "le", None) is not None), None)
    return lo, hi


def editor_kind(fld: str) -> str:
    """How an axis value of field ``fld`` is edited: ``"int_slider"``, ``"float_slider"``,
    ``"int_text"`` (an int field too wide for a slider: ``seed``) or ``"text"``."""
    info = Input.model_fields.get(fld) or _PSEUDO_FIELDS.get(fld)
    if info is None:
        return "text"
    kinds = {a for a in getattr(info.annotation, "__args__", (info.annotation,))
             if a is not type(None)}
    lo, hi = field_bounds(fld)
    if kinds == {int}:
        return "int_slider" if lo is not None and hi is not None and (
            hi - lo <= SLIDER_MAX_SPAN) else "int_text"
    if kinds == {float} and lo is not None and hi is not None and hi - lo <= SLIDER_MAX_SPAN:
        return "float_slider"
    return "text"


def _value_editor(ax: Axis, value: Any, width: str) -> Any:
    import ipywidgets as W

    kind = editor_kind(ax.field)
    layout = W.Layout(width=width)
    if kind == "int_text" and value is None:  # a random seed: "none" until one is typed
        kind = "text"
    if kind == "int_slider":
        lo, hi = field_bounds(ax.field)
        w: Any = W.IntSlider(value=value, min=lo, max=hi, step=1, continuous_update=False,
                             readout=True, layout=layout)
    elif kind == "float_slider":
        lo, hi = field_bounds(ax.field)
        w = W.FloatSlider(value=value, min=lo, max=hi, step=0.01 if hi - lo <= 1 else 0.1,
                          continuous_update=False, readout=True, readout_format=".4",
                          layout=layout)
    elif kind == "int_text":
        w = W.IntText(value=value, continuous_update=False, layout=layout)
    else:
        w = W.Text(value=edit_text(value), continuous_update=True, layout=layout)
    what = "drag or type a new value" if kind.endswith("slider") else "type a new value"
    w.tooltip = f"{ax.name}: {what}; the grid re-renders"
    return w


def make_editor(sweep: Sweep, where: str, i: int, on_edit: Callable[[str, int, Any], None]
                ) -> tuple[Any, Any]:
    """Header ``i`` of the rows or columns (``where``) and the widget holding its value.

    A plain field axis gets an editor (:func:`editor_kind`): a slider bounded by the schema
    for numeric fields, an ``IntText`` for ``seed``, a text box otherwise;
    ``on_edit(axis, i, value)`` on every change (the number, or the text as typed). A backend
    axis or flattened rows get a label (an HTML widget). Returns ``(header, value_widget)``.
    """
    import ipywidgets as W

    axes = [sweep.col_axis] if where == "col" else list(sweep.row_axes)
    labels = sweep.col_labels if where == "col" else sweep.row_labels
    ax = axes[0] if len(axes) == 1 else None
    if ax is None or ax.field == "backend":
        out = W.HTML(f"<b>{esc(labels[i])}</b>")
        out.add_class(f"lcm-compare-{where}-label")
        return out, out
    slider = editor_kind(ax.field).endswith("slider")
    width = "100%" if where == "col" else ("180px" if slider else "90px")
    editor = _value_editor(ax, ax.values[i], width)
    editor.add_class(f"lcm-compare-{where}-value")
    editor.observe(lambda ch, name=ax.name, i=i: on_edit(name, i, ch["new"]), names="value")
    if where == "col":  # the corner names the column axis; the cell width is all it gets
        return editor, editor
    label = W.Label(f"{ax.name} =", layout=W.Layout(width="auto", min_width="max-content"))
    return W.HBox([label, editor], layout=W.Layout(align_items="center", width="auto")), editor


def refresh_header(sweep: Sweep, where: str, i: int, widget: Any) -> None:
    """Show the current value of header ``i`` in its value widget (from :func:`make_editor`).

    A text box keeps what was typed while it still means the same value.
    """
    import ipywidgets as W

    labels = sweep.col_labels if where == "col" else sweep.row_labels
    if isinstance(widget, W.HTML):
        widget.value = f"<b>{esc(labels[i])}</b>"
        return
    ax = sweep.col_axis if where == "col" else sweep.row_axes[0]
    if ax is None or i >= len(ax.values):
        return
    value = ax.values[i]
    if isinstance(widget, W.Text):
        try:
            same = parse_axis_text(ax.name, widget.value) == value
        except LCMWidgetsError:
            same = False
        if not same:
            widget.value = edit_text(value)
    elif value is not None and widget.value != value:
        widget.value = value


def make_cell(cell: Cell, size: int, on_adopt: Callable[[int, int], None]
              ) -> tuple[Any, tuple[Any, Any, Any]]:
    """One cell: its image, its caption and its "use these" button, in a VBox.

    Returns ``(box, (image, caption, button))``.
    """
    import ipywidgets as W

    img = W.Image(format="jpeg", layout=W.Layout(width=f"{size}px", height=f"{size}px"))
    img.add_class("lcm-compare-image")
    info = W.HTML("<span style='color:#888'>waiting for a drawing</span>",
                  layout=W.Layout(width=f"{size}px"))
    btn = W.Button(description="use these", tooltip=f"adopt {cell.label}",
                   layout=W.Layout(width=f"{size}px"))
    btn.add_class("lcm-compare-adopt")
    btn.on_click(lambda _b, r=cell.row, c=cell.col: on_adopt(r, c))
    box = W.VBox([img, info, btn])
    box.add_class("lcm-compare-cell")
    return box, (img, info, btn)


# --- results -------------------------------------------------------------------------------


def results_table(results: Sequence[Mapping[str, Any]], swept: Sequence[str],
                  images: bool) -> list[dict[str, Any]]:
    """Flat rows for a DataFrame: one column per swept field (by its short name)."""
    rows = []
    for r in results:
        row = {k: v for k, v in r.items() if k not in {"params", "labels", "image"}}
        row["row_label"], row["col_label"] = r["labels"]["row"], r["labels"]["col"]
        for key in swept:
            row[REVERSE_ALIASES.get(key, key)] = r["params"].get(key)
        if images:
            row["image"] = r["image"]
        rows.append(row)
    return rows


def latency_figure(sweep: Sweep, results: Sequence[Mapping[str, Any]]) -> Any:
    """A matplotlib figure of each cell's latency (ms), laid out like the grid."""
    from .._extras import need

    need("compare", "matplotlib", what="plot_latency()")
    import matplotlib.pyplot as plt
    import numpy as np

    data = np.full((sweep.n_rows, sweep.n_cols), np.nan)
    for r in results:
        if not r["error"]:
            data[r["row"], r["col"]] = r["latency_ms"]
    fig, ax = plt.subplots(figsize=(1.6 + 1.5 * sweep.n_cols, 0.9 + 0.7 * sweep.n_rows))
    im = ax.imshow(data, cmap="viridis", aspect="auto")
    ax.set_xticks(range(sweep.n_cols), sweep.col_labels, rotation=20, ha="right")
    ax.set_yticks(range(sweep.n_rows), sweep.row_labels)
    mean = np.nanmean(data) if np.isfinite(data).any() else 0.0
    for (r, c), v in np.ndenumerate(data):
        if np.isnan(v):
            ax.text(c, r, "no result", ha="center", va="center", color="#b00020")
        else:
            ax.text(c, r, f"{v:.0f}", ha="center", va="center",
                    color="white" if v < mean else "black")
    fig.colorbar(im, ax=ax, label="latency (ms)")
    ax.set_title("latency per cell (ms; a batch shares one call)")
    fig.tight_layout()
    plt.close(fig)  # returned for inline display, not left open in pyplot
    return fig


def apply_to_studio(studio: Any, params: Mapping[str, Any]) -> None:
    """Set a Studio's controls from canonical field values (``Studio.update``); fields the
    Studio has no control for are refused by name, and nothing changes then."""
    update = getattr(studio, "update", None)
    if not callable(update):
        raise TypeError(f"adopt: {type(studio).__name__} has no update(**params) method")
    from ._controls import CONTROLLED

    missing = [k for k in params if k not in CONTROLLED]
    if missing:
        raise InvalidInput(f"adopt: the Studio has no control for {', '.join(missing)}; it "
                           f"controls {', '.join(CONTROLLED)}", field=missing[0])
    update(**params)
