"""Sweep expansion, per-cell validation and the batching planner (pure, no widgets)."""

from __future__ import annotations

import pytest

from lcm_widgets.backends.base import BackendInfo
from lcm_widgets.backends.echo import EchoBackend
from lcm_widgets.errors import InvalidInput
from lcm_widgets.schema import ImageSize, Input
from lcm_widgets.sweep import (
    MAX_CELLS,
    SWEEPABLE,
    BatchGroup,
    backend_label,
    build_inputs,
    canonical_axis,
    expand,
    format_value,
    plan_batches,
    split_axes,
    validate_cells,
    validate_value,
)

BASE = {"prompt": "a house", "seed": 7}


class Named:
    """A minimal backend with a chosen info (only what sweeps and planners read)."""

    def __init__(self, name: str, model: str = "m", *, can_batch: bool = False,
                 axes: tuple[str, ...] = (), max_batch: int = 1) -> None:
        self.info = BackendInfo(name=name, model=model, can_batch=can_batch, batch_axes=axes,
                                max_batch=max_batch)

    async def generate(self, inp: Input) -> None:  # pragma: no cover - never called here
        raise NotImplementedError

    async def aclose(self) -> None:  # pragma: no cover
        return None


def test_two_axes_make_rows_then_columns() -> None:
    """The first axis is the rows, the second the columns; cells are row-major."""
    s = expand({"steps": [2, 4, 8], "strength": [0.3, 0.5, 0.7]}, backend=EchoBackend())
    assert (s.n_rows, s.n_cols) == (3, 3)
    assert s.row_labels == ("steps=2", "steps=4", "steps=8")
    assert s.col_labels == ("strength=0.3", "strength=0.5", "strength=0.7")
    c = s.cell(1, 2)
    assert (c.index, c.row, c.col) == (5, 1, 2)
    assert c.overrides == {"num_inference_steps": 4, "strength": 0.7}
    assert c.label == "steps=4 · strength=0.7"
    assert c.labels == {"row": "steps=4", "col": "strength=0.7"}
    assert s.row_axes[0].field == "num_inference_steps"
    assert s.col_axis is not None and s.col_axis.field == "strength"


def test_one_axis_is_a_column_of_rows_and_zero_axes_one_cell() -> None:
    """One axis gives n x 1; no axis gives a single cell with the base params."""
    s = expand({"seed": [1, 2]}, backend=EchoBackend())
    assert (s.n_rows, s.n_cols) == (2, 1) and s.col_axis is None
    assert s.cells[1].label == "seed=2"
    s0 = expand({}, backend=EchoBackend())
    assert (s0.n_rows, s0.n_cols, s0.cells[0].overrides) == (1, 1, {})
    with pytest.raises(IndexError, match="outside the 1x1 grid"):
        s0.cell(1, 0)


def test_three_axes_flatten_into_rows() -> None:
    """With three axes every row is a combination of the first two; the last is the columns."""
    s = expand([("seed", [1, 2]), ("guidance", [1.0, 2.0]), ("steps", [2, 4, 8])],
               backend=EchoBackend())
    assert (s.n_rows, s.n_cols) == (4, 3)
    assert s.row_labels[1] == "seed=1, guidance=2"
    assert s.cell(3, 2).overrides == {"seed": 2, "guidance_scale": 2.0,
                                      "num_inference_steps": 8}


def test_axis_value_errors_name_the_axis_limit_and_value() -> None:
    """An invalid value alone is rejected at expansion with the name the user typed."""
    with pytest.raises(InvalidInput, match=r"^steps: must be between 1 and 50, got 0$"):
        expand({"steps": [0]}, backend=EchoBackend())
    with pytest.raises(InvalidInput, match=r"strength: must be between 0.0 and 1.0, got 1.5"):
        expand({"strength": [0.5, 1.5]}, backend=EchoBackend())
    with pytest.raises(InvalidInput, match=r"steps: needs at least one value"):
        expand({"steps": []}, backend=EchoBackend())
    with pytest.raises(InvalidInput, match=r"model_name: must be one of"):
        expand({"model_name": ["nope"]}, backend=EchoBackend())


def test_unknown_axis_lists_the_valid_ones() -> None:
    """An unknown name is rejected with every valid axis and alias listed."""
    with pytest.raises(InvalidInput) as err:
        canonical_axis("stepz")
    msg = str(err.value)
    assert msg.startswith("stepz: not a sweepable parameter; valid axes are backend")
    assert "steps (= num_inference_steps)" in msg and "guidance (= guidance_scale)" in msg
    with pytest.raises(InvalidInput, match="image_url: not a sweepable"):
        canonical_axis("image_url")
    assert "image_url" not in SWEEPABLE and "prompt" in SWEEPABLE


def test_values_are_coerced_and_labelled() -> None:
    """Values go through the schema (``"4"`` → 4) and get short labels."""
    assert validate_value("steps", "4") == 4
    assert validate_value("size", {"width": 256, "height": 128}) == ImageSize(width=256,
                                                                              height=128)
    assert format_value(0.5) == "0.5" and format_value(None) == "None"
    assert format_value("x" * 40).endswith("…'") and format_value(True) == "True"
    assert format_value(ImageSize(width=256, height=128)) == "256x128"
    s = expand({"prompt": ["a cat", "a dog"], "size": ["square"]}, backend=EchoBackend())
    assert s.row_labels == ("prompt='a cat'", "prompt='a dog'")
    assert s.col_labels == ("size='square'",)


def test_too_many_cells_is_an_error() -> None:
    """More than MAX_CELLS cells is refused with the sizes multiplied out."""
    with pytest.raises(InvalidInput, match=rf"at most {MAX_CELLS} cells, got 9 x 9 = 81"):
        expand({"seed": range(9), "guidance": [0.5 * i for i in range(9)]},
               backend=EchoBackend())


def test_backend_axis_labels_from_info_or_given() -> None:
    """Backends are labelled from info (deduplicated) or by the label passed with them."""
    a, b = Named("local", "tiny"), Named("local", "tiny")
    s = expand({"backend": [a, b, ("server", Named("realtime", "tiny"))]})
    assert s.row_labels == ("local:tiny", "local:tiny #2", "server")
    assert [c.backend for c in s.cells] == [0, 1, 2]
    assert [label for label, _ in s.backends] == list(s.row_labels)
    assert backend_label(Named("echo", "echo")) == "echo"
    with pytest.raises(InvalidInput, match=r"backend\[1\]: must be a backend"):
        expand({"backend": [a, 3]})
    with pytest.raises(InvalidInput, match="backend: no backend given"):
        expand({"seed": [1]})


def test_split_axes_lists_are_axes_scalars_fixed() -> None:
    """Lists/tuples/ranges are axes, scalars are fixed; a field given twice is an error."""
    be = Named("x")
    axes, fixed = split_axes({"steps": [2, 4], "prompt": "a cat", "seed": range(2),
                              "backend": [("one", be)]})
    assert axes == {"steps": [2, 4], "seed": [0, 1], "backend": [("one", be)]}
    assert fixed == {"prompt": "a cat"}
    with pytest.raises(InvalidInput, match=r"num_inference_steps: given twice \(also as steps\)"):
        split_axes({"steps": [1], "num_inference_steps": [2]})
    with pytest.raises(InvalidInput, match="backend: must be a list of backends"):
        split_axes({"backend": be})
    with pytest.raises(InvalidInput, match="the num_inference_steps axis is given twice"):
        expand([("steps", [1]), ("num_inference_steps", [2])], backend=be)


def test_cells_are_validated_in_combination_with_the_base() -> None:
    """steps=2 with strength=0.3 makes int(0.6) = 0 steps: that cell alone reports it."""
    s = expand({"steps": [2, 4], "strength": [0.3, 0.5]}, backend=EchoBackend())
    checked = validate_cells(s, BASE)
    bad = checked[0]
    assert isinstance(bad, InvalidInput)
    assert str(bad).startswith("steps=2 · strength=0.3: num_inference_steps * strength must be "
                               "at least 1 for image-to-image, got int(2 * 0.3) = 0")
    assert all(isinstance(c, Input) for c in checked[1:])
    ok = checked[3]
    assert isinstance(ok, Input)
    assert (ok.num_inference_steps, ok.strength, ok.prompt, ok.seed) == (4, 0.5, "a house", 7)
    # An Input base works as well, and aliases in a dict base are understood.
    assert isinstance(validate_cells(s, Input(prompt="x"))[3], Input)
    alias = validate_cells(expand({}, backend=EchoBackend()), {"prompt": "p", "steps": 3})[0]
    assert isinstance(alias, Input) and alias.num_inference_steps == 3


def test_build_inputs_puts_the_frame_in_every_valid_cell() -> None:
    """Each valid cell gets the frame as image_url and a request id; invalid cells get None."""
    s = expand({"steps": [2, 4], "strength": [0.3]}, backend=EchoBackend())
    inputs = build_inputs(validate_cells(s, BASE), b"jpeg", request_prefix="f1-")
    assert inputs[0] is None
    assert inputs[1] is not None and inputs[1].image_url == b"jpeg"
    assert inputs[1].request_id == "f1-1"
    with pytest.raises(InvalidInput, match="image_url: must not be empty"):
        build_inputs([], b"")


def test_planner_batches_cells_differing_only_in_batch_axes() -> None:
    """Seeds x guidance on a batching backend: one call per max_batch cells."""
    be = Named("local", can_batch=True, axes=("seed", "guidance_scale", "prompt"), max_batch=4)
    s = expand({"seed": [1, 2, 3], "guidance": [1.0, 2.0, 3.0]}, backend=be)
    plan = plan_batches(s.cells, validate_cells(s, BASE), [be.info])
    assert plan == [BatchGroup(0, (0, 1, 2, 3)), BatchGroup(0, (4, 5, 6, 7)),
                    BatchGroup(0, (8,))]
    assert plan[0].batched and not plan[2].batched


def test_planner_splits_on_steps_strength_and_skips_invalid_cells() -> None:
    """Cells that differ in steps/strength cannot share a call; invalid cells are left out."""
    be = Named("local", can_batch=True, axes=("seed",), max_batch=8)
    s = expand({"steps": [2, 4], "seed": [1, 2], "strength": [0.3, 0.5]}, backend=be)
    checked = validate_cells(s, BASE)
    plan = plan_batches(s.cells, checked, [be.info])
    covered = sorted(i for g in plan for i in g.cells)
    assert covered == [i for i, c in enumerate(checked) if isinstance(c, Input)]
    for g in plan:
        steps = {s.cells[i].overrides["num_inference_steps"] for i in g.cells}
        strength = {s.cells[i].overrides["strength"] for i in g.cells}
        assert len(steps) == 1 and len(strength) == 1
    # steps=4: the two seeds share a call for each strength.
    assert BatchGroup(0, (4, 6)) in plan and BatchGroup(0, (5, 7)) in plan


def test_planner_keeps_backends_apart_and_respects_can_batch() -> None:
    """A/B backends never share a call; a backend that cannot batch runs cell by cell."""
    yes = Named("a", can_batch=True, axes=("seed",), max_batch=8)
    no = Named("b", can_batch=False, axes=("seed",), max_batch=8)
    s = expand({"backend": [yes, no], "seed": [1, 2, 3]})
    plan = plan_batches(s.cells, validate_cells(s, BASE), [yes.info, no.info])
    assert plan == [BatchGroup(0, (0, 1, 2)), BatchGroup(1, (3,)), BatchGroup(1, (4,)),
                    BatchGroup(1, (5,))]
    with pytest.raises(ValueError, match="3 cells but 2 inputs"):
        plan_batches(s.cells[:3], [None, None], [yes.info])


def test_planner_prompt_axis_only_batches_when_listed() -> None:
    """Prompts batch only on a backend whose batch_axes include prompt."""
    be = Named("x", can_batch=True, axes=("seed",), max_batch=8)
    s = expand({"prompt": ["a", "b"]}, backend=be)
    assert len(plan_batches(s.cells, validate_cells(s, BASE), [be.info])) == 2
    be2 = Named("x", can_batch=True, axes=("seed", "prompt"), max_batch=8)
    s2 = expand({"prompt": ["a", "b"]}, backend=be2)
    assert plan_batches(s2.cells, validate_cells(s2, BASE), [be2.info]) == [
        BatchGroup(0, (0, 1))]


def test_controlnet_scale_and_lora_scale_axes() -> None:
    """controlnet_conditioning_scale is an axis like any field (checked against its range);
    lora_scale sets the scale of every fixed LoRA; a list of {path, scale} maps is one fixed
    value; lora_scale without loras is a per-cell error naming it."""
    from lcm_widgets.backends.echo import EchoBackend
    from lcm_widgets.sweep import split_axes

    assert {"controlnet_conditioning_scale", "lora_scale", "loras"} <= set(SWEEPABLE)
    with pytest.raises(InvalidInput, match=r"controlnet_conditioning_scale: must be between "
                                           r"0\.0 and 2\.0, got 3"):
        expand({"controlnet_conditioning_scale": [0, 3]}, backend=EchoBackend())
    with pytest.raises(InvalidInput, match=r"lora_scale: must be between 0\.0 and 4\.0, got 9"):
        expand({"lora_scale": [1, 9]}, backend=EchoBackend())
    loras = [{"path": "a", "scale": 1.0}, {"path": "b", "scale": 0.7}]
    axes, fixed = split_axes({"lora_scale": [0, 0.5], "loras": loras,
                              "controlnet_conditioning_scale": [0, 1]})
    assert set(axes) == {"lora_scale", "controlnet_conditioning_scale"}
    assert fixed == {"loras": loras}
    sweep = expand(axes, backend=EchoBackend())
    cells = validate_cells(sweep, {"prompt": "p", **fixed})
    assert all(isinstance(c, Input) for c in cells)
    got = [([w.scale for w in c.loras or ()], c.controlnet_conditioning_scale)
           for c in cells if isinstance(c, Input)]
    assert got == [([0.0, 0.0], 0.0), ([0.0, 0.0], 1.0), ([0.5, 0.5], 0.0), ([0.5, 0.5], 1.0)]
    alone = validate_cells(expand({"lora_scale": [0.5]}, backend=EchoBackend()), {"prompt": "p"})
    assert isinstance(alone[0], InvalidInput)
    assert str(alone[0]) == ("lora_scale=0.5: lora_scale: needs loras=[{path, scale}] among the "
                             "fixed values (the LoRAs to scale), got None")
