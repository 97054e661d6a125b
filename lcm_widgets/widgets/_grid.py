"""The Compare grid's building blocks: running a planned group, cell results, parsing edited
axis values, the header and cell widgets, the results table, the latency figure, the
labelled grid as one PIL image, and adopting a cell into a Studio.

:func:`run_group` is the only place the grid calls a backend: one
:meth:`~lcm_widgets.backends.base.BatchingBackend.generate_batch` call for a batched group,
``generate`` otherwise. A failure becomes an error on each cell of that group, never an
exception out of the grid. ipywidgets, matplotlib and pandas are imported where used.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInput, LCMWidgetsError
from ..schema import Input, Output
from ..sweep import ALIASES, BatchGroup, Cell, canonical_axis, format_value, validate_value

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from ..backends.base import Backend
    from ..sweep import Sweep

__all__ = [
    "REVERSE_ALIASES",
    "CellResult",
    "apply_to_studio",
    "caption_html",
    "corner_html",
    "edit_text",
    "error_html",
    "esc",
    "latency_figure",
    "make_cell",
    "make_editor",
    "parse_axis_text",
    "render_grid",
    "results_table",
    "run_group",
]

REVERSE_ALIASES = {f: a for a, f in ALIASES.items()}


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


# --- widgets (ipywidgets is imported by the Compare before any of these run) ----------------


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


def make_editor(sweep: Sweep, where: str, i: int,
                on_edit: Callable[[str, int, str], None]) -> Any:
    """Header ``i`` of the rows or columns (``where``): a text field holding the value for a
    plain field axis (``on_edit(axis, i, text)`` on every change), a label otherwise
    (backends, flattened rows)."""
    import ipywidgets as W

    axes = [sweep.col_axis] if where == "col" else list(sweep.row_axes)
    labels = sweep.col_labels if where == "col" else sweep.row_labels
    ax = axes[0] if len(axes) == 1 else None
    if ax is None or ax.field == "backend":
        out = W.HTML(f"<b>{esc(labels[i])}</b>")
        out.add_class(f"lcm-compare-{where}-label")
        return out
    text = W.Text(value=edit_text(ax.values[i]), continuous_update=True,
                  layout=W.Layout(width="90px" if where == "row" else "100%"))
    text.add_class(f"lcm-compare-{where}-value")
    text.observe(lambda ch, name=ax.name, i=i: on_edit(name, i, ch["new"]), names="value")
    text.tooltip = f"{ax.name}: type a new value; the grid re-renders"
    if where == "col":  # the corner names the column axis; the cell width is all it gets
        return text
    label = W.Label(f"{ax.name} =", layout=W.Layout(width="auto", min_width="max-content"))
    return W.HBox([label, text], layout=W.Layout(align_items="center", width="auto"))


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
