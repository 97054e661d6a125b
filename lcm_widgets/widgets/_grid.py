"""The Compare grid's view pieces: parsing edited axis values, the header editors (sliders for
numeric axes, text for the rest), the cell widgets and captions, the results table, the
latency figure, the labelled grid as one PIL image, and adopting a cell into a Studio.

Running a grid-frame (cell results, :func:`run_group`) lives in
:mod:`lcm_widgets.widgets._grid_run`; :class:`CellResult` and :func:`run_group` are re-exported
here. ipywidgets, matplotlib and pandas are imported where used.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel

from ..errors import InvalidInput, LCMWidgetsError
from ..schema import Input
from ..schema_extensions import LoraWeight
from ..sweep import ALIASES, canonical_axis, format_value, validate_value
from ._grid_run import CellResult, run_group

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..sweep import Axis, Cell, Sweep

__all__ = [
    "CAPTION_HEIGHT",
    "LABEL_LINES",
    "REVERSE_ALIASES",
    "SLIDER_MAX_SPAN",
    "CellResult",
    "CellView",
    "apply_to_studio",
    "caption_html",
    "cell_error",
    "corner_html",
    "edit_text",
    "editor_kind",
    "error_html",
    "esc",
    "field_bounds",
    "grid_model",
    "label_html",
    "latency_figure",
    "make_cell",
    "make_editor",
    "parse_axis_text",
    "png_layout",
    "refresh_header",
    "render_grid",
    "results_table",
    "run_group",
    "show_image",
    "show_note",
    "sized",
    "waiting_html",
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


def png_layout(source: bool) -> dict[str, int]:
    """The saved grid's geometry in pixels (a ``source`` thumbnail in the corner makes the
    header at least 120 high). Every label, caption and error is measured and cut or wrapped
    to stay inside its own box, so none overlaps another or crosses a cell's edge."""
    return {"label_w": 190, "header_h": 120 if source else 30, "caption_h": 24, "pad": 6}


def render_grid(sweep: Sweep, results: Mapping[int, CellResult], *, cell_size: int = 256,
                source: bytes | None = None) -> Image.Image:
    """The labelled grid as one RGB image: column labels on top, row labels on the left,
    each cell with its latency (or its error) under the image; ``source`` (the drawing) in the
    top-left corner when given."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=14)
    label_w, header_h, caption_h, pad = png_layout(source is not None).values()
    W = label_w + sweep.n_cols * (cell_size + pad) + pad
    H = header_h + sweep.n_rows * (cell_size + caption_h + pad) + pad
    canvas = Image.new("RGB", (W, H), "white")
    draw = ImageDraw.Draw(canvas)
    if source is not None:
        from ..images import load_image

        thumb = load_image(source, allow_files=False).copy()
        thumb.thumbnail((min(label_w, header_h) - 2 * pad,) * 2)
        canvas.paste(thumb, (pad, pad))
    line_h = _line_height(draw, font)
    for c, label in enumerate(sweep.col_labels):
        x = label_w + c * (cell_size + pad)
        draw.text((x + 2, header_h - line_h - 4), _fit(draw, label, cell_size - 4, font),
                  fill="black", font=font)
    for r, label in enumerate(sweep.row_labels):
        y = header_h + r * (cell_size + caption_h + pad)
        lines = _wrap(draw, label, label_w - 2 * pad, max(1, cell_size // line_h), font)
        top = y + (cell_size - len(lines) * line_h) // 2
        for i, text in enumerate(lines):
            draw.text((pad, top + i * line_h), text, fill="black", font=font)
    for cell in sweep.cells:
        x = label_w + cell.col * (cell_size + pad)
        y = header_h + cell.row * (cell_size + caption_h + pad)
        res = results.get(cell.index)
        draw.rectangle((x - 1, y - 1, x + cell_size, y + cell_size), outline="#999999")
        caption, error = "waiting", ""
        if res is not None and res.image is not None and not res.error:
            try:
                from ..images import load_image

                img = load_image(res.image, allow_files=False).resize((cell_size, cell_size))
                canvas.paste(img, (x, y))
                caption = f"{res.latency_ms:.0f} ms" + (
                    f" (batch of {res.batch_size})" if res.batch_size > 1 else "")
            except LCMWidgetsError as exc:
                caption, error = "error", str(exc)
        elif res is not None and res.error:
            caption, error = "error", cell_error(cell, res.error)
        colour = "#b00020" if error else "black"
        if error:  # the whole message, wrapped inside the cell (an ellipsis if it is longer)
            lines = _wrap(draw, error, cell_size - 8, max(1, (cell_size - 8) // line_h), font)
            for i, text in enumerate(lines):
                draw.text((x + 4, y + 4 + i * line_h), text, fill=colour, font=font)
        draw.text((x + 2, y + cell_size + 4), _fit(draw, caption, cell_size - 4, font),
                  fill=colour, font=font)
    return canvas


def cell_error(cell: Cell, message: str) -> str:
    """An error as the cell shows it: without the cell's label in front (the caption has it),
    so a small cell has room for what is wrong."""
    prefix = f"{cell.label}: "
    return message[len(prefix):] if cell.label and message.startswith(prefix) else message


def _line_height(draw: Any, font: Any) -> int:
    """Pixels from one text line to the next (the font's ink height, plus a little)."""
    top, bottom = draw.textbbox((0, 0), "Ag|ÉÅy", font=font)[1::2]
    return int(bottom - top) + 4


def _fit(draw: Any, text: str, width_px: int, font: Any) -> str:
    """``text``, cut with an ellipsis to fit ``width_px`` as drawn in ``font`` (measured)."""
    if draw.textlength(text, font=font) <= width_px:
        return text
    while text and draw.textlength(text + "…", font=font) > width_px:
        text = text[:-1]
    return text + "…"


def _wrap(draw: Any, text: str, width_px: int, max_lines: int, font: Any) -> list[str]:
    """``text`` as at most ``max_lines`` lines, each measured to fit ``width_px`` (broken at
    spaces where it can, inside a word where it must); the last line ends in an ellipsis when
    the text did not fit."""
    lines: list[str] = []
    rest = " ".join(text.split())
    while rest and len(lines) < max_lines:
        if draw.textlength(rest, font=font) <= width_px:
            lines.append(rest)
            rest = ""
            break
        n = 1
        while n < len(rest) and draw.textlength(rest[:n + 1], font=font) <= width_px:
            n += 1
        cut = rest.rfind(" ", 0, n + 1)
        cut = cut if cut > 0 else n
        lines.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest and lines:
        lines[-1] = _fit(draw, lines[-1] + " " + rest, width_px, font)
    return lines


# --- widgets (ipywidgets is imported where used) -------------------------------------------


def esc(text: str) -> str:
    """Escape text for the HTML widgets (and their ``title`` attributes)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&#39;"))


def error_html(message: str) -> str:
    """An error as a cell shows it in place of its image: the whole text, wrapped (and
    scrollable when it is longer than the cell), also in the tooltip."""
    return (f"<div class='lcm-compare-error' title='{esc(message)}' style='color:#b00020;"
            "font-size:12px;line-height:1.3;white-space:normal;overflow-wrap:anywhere'>"
            f"{esc(message)}</div>")


def _line(cls: str, text: str, style: str = "") -> str:
    """One caption line: never wraps (an ellipsis cuts it; the tooltip has it all), so every
    cell of the grid keeps the same height and the rows stay aligned."""
    return (f"<div class='{cls}' title='{esc(text)}' style='white-space:nowrap;overflow:hidden;"
            f"text-overflow:ellipsis;line-height:1.4;{style}'>{esc(text)}</div>")


def sized(html: str, width_px: int) -> str:
    """``html`` in a box exactly ``width_px`` wide: the HTML widget's content is a flex item
    that would otherwise grow to its text's width, and then no line would ever be cut."""
    return f"<div style='width:{width_px}px;overflow:hidden'>{html}</div>"


#: Lines a caption's swept values may take before they are cut (the tooltip has them all);
#: with the latency line under them, what a caption's fixed height holds.
LABEL_LINES = 2
_LINE_EM = 1.4
#: The caption's fixed height: every cell the same, so the rows stay aligned.
CAPTION_HEIGHT = f"{(LABEL_LINES + 1) * _LINE_EM + 0.1:.1f}em"


def label_html(cell: Cell) -> str:
    """The cell's swept values in the order the axes were given (``steps=4 · strength=0.5``; a
    swept seed is one of them), wrapped between values onto at most :data:`LABEL_LINES`
    lines; what does not fit is cut with an ellipsis, and the tooltip has it whole."""
    text = cell.caption or "(no axis)"
    parts = cell.parts or (text,)
    # "&nbsp;·" keeps each separator at the end of a line: lines break between values
    body = "&nbsp;· ".join(esc(p) for p in parts)
    return (f"<div class='lcm-compare-label' title='{esc(text)}' style='font-weight:600;"
            f"line-height:{_LINE_EM};max-height:{LABEL_LINES * _LINE_EM}em;overflow:hidden;"
            f"display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:{LABEL_LINES};"
            f"white-space:normal;overflow-wrap:anywhere'>{body}</div>")


def caption_html(res: CellResult) -> str:
    """A cell caption: its swept values, then latency · batch size · frame (or "failed")."""
    if res.error:
        return label_html(res.cell) + _line("lcm-compare-latency",
                                            f"failed · frame {res.frame}", "color:#b00020")
    batch = f" · batch of {res.batch_size}" if res.batch_size > 1 else ""
    return label_html(res.cell) + _line(
        "lcm-compare-latency", f"{res.latency_ms:.0f} ms{batch} · frame {res.frame}")


def waiting_html(cell: Cell, note: str) -> str:
    """A caption before the first result (``note``: what the cell waits for)."""
    return label_html(cell) + _line("lcm-compare-latency", note, "color:#888")


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


def field_bounds(fld: str, model: type[BaseModel] = Input) -> tuple[Any, Any]:
    """``(ge, le)`` of field ``fld`` of ``model`` (an app's input schema; a field it lacks is
    :class:`~lcm_widgets.schema.Input`'s) from its metadata (None where no bound is set)."""
    info = (model.model_fields.get(fld) or Input.model_fields.get(fld)
            or _PSEUDO_FIELDS.get(fld))
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


def grid_model(sweep: Sweep) -> type[BaseModel]:
    """The input schema the header editors are bounded by: the app's, when every backend of
    the grid speaks one app (a turbo grid: steps 1 to 4); else the LCM schema, whose ranges
    hold the others' (a value out of one app's range shows in that app's cells)."""
    from ..apps import backend_schema

    models = {backend_schema(be).input_model for _, be in sweep.backends}
    return models.pop() if len(models) == 1 else Input


def _value_editor(ax: Axis, value: Any, width: str, model: type[BaseModel] = Input) -> Any:
    import ipywidgets as W

    kind = editor_kind(ax.field)
    layout = W.Layout(width=width)
    if kind == "int_text" and value is None:  # a random seed: "none" until one is typed
        kind = "text"
    if kind.endswith("slider"):  # never narrower than the value it shows (a slider clamps)
        lo, hi = field_bounds(ax.field, model)
        lo, hi = min(lo, value), max(hi, value)
    if kind == "int_slider":
        w: Any = W.IntSlider(value=value, min=lo, max=hi, step=1, continuous_update=False,
                             readout=True, layout=layout)
    elif kind == "float_slider":
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
    (:func:`grid_model`) for numeric fields, an ``IntText`` for ``seed``, a text box otherwise;
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
    editor = _value_editor(ax, ax.values[i], width, grid_model(sweep))
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
        if isinstance(widget, (W.IntSlider, W.FloatSlider)):  # widen, never clamp the value
            widget.min, widget.max = min(widget.min, value), max(widget.max, value)
        widget.value = value


class CellView(NamedTuple):
    """One cell's widgets: the image, the caption (swept values, then latency or status), the
    "use these" button, and the note shown in the image's place while there is no image to
    show (waiting, or an error in full)."""

    image: Any
    info: Any
    button: Any
    note: Any
    slot: Any


def make_cell(cell: Cell, size: int, on_adopt: Callable[[int, int], None]
              ) -> tuple[Any, CellView]:
    """One cell in a VBox: a ``size``-pixel square slot (the image, or the note in its
    place: an empty image would show the browser's broken-image icon), the caption (swept
    values on up to :data:`LABEL_LINES` lines, then the latency) in a fixed height, and the
    "use these" button. Every cell has the same height whatever its text."""
    import ipywidgets as W

    img = W.Image(format="jpeg", layout=W.Layout(width=f"{size}px", height=f"{size}px",
                                                 display="none"))
    img.add_class("lcm-compare-image")
    note = W.HTML("<div style='color:#888'>waiting for a drawing</div>",
                  layout=W.Layout(width=f"{size}px", height=f"{size}px", overflow="auto",
                                  padding="4px", margin="0"))
    note.add_class("lcm-compare-note")
    slot = W.Box([img, note], layout=W.Layout(width=f"{size}px", height=f"{size}px",
                                              border="1px solid #ddd", overflow="hidden",
                                              flex="0 0 auto"))
    slot.add_class("lcm-compare-slot")
    info = W.HTML(sized(waiting_html(cell, "waiting"), size),
                  layout=W.Layout(width=f"{size}px", height=CAPTION_HEIGHT, margin="0"))
    info.add_class("lcm-compare-caption")
    btn = W.Button(description="use these", tooltip=f"adopt {cell.label}",
                   layout=W.Layout(width=f"{size}px", flex="0 0 auto"))
    btn.add_class("lcm-compare-adopt")
    btn.on_click(lambda _b, r=cell.row, c=cell.col: on_adopt(r, c))
    box = W.VBox([slot, info, btn], layout=W.Layout(width=f"{size}px", overflow="hidden"))
    box.add_class("lcm-compare-cell")
    return box, CellView(img, info, btn, note, slot)


def show_note(view: CellView, html: str) -> None:
    """Put ``html`` in the image's place (the image is hidden, not emptied)."""
    view.note.value = html
    view.image.layout.display = "none"
    view.note.layout.display = None


def show_image(view: CellView) -> None:
    """Show the image (its value is set) and hide the note."""
    view.image.layout.display = None
    view.note.layout.display = "none"


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
