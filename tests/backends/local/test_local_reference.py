"""The reference functions (stock pipeline on LocalLCM's components), outside the public class."""

from __future__ import annotations

import asyncio

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

from local_helpers import i2i, t2i  # noqa: E402

from lcm_widgets.backends.local import LocalLCM  # noqa: E402
from lcm_widgets.backends.local.reference import (  # noqa: E402
    batch_latents,
    final_latents,
    reference_output,
)
from lcm_widgets.errors import BackendError, InvalidInput  # noqa: E402

SMALL = {"image_size": {"width": 128, "height": 128}}


def test_hooks_are_not_on_the_public_class() -> None:
    """generate_reference and denoise_latents are functions of .reference, not methods."""
    assert not hasattr(LocalLCM, "generate_reference")
    assert not hasattr(LocalLCM, "denoise_latents")


def test_reference_output_is_an_output_like_generate(lcm: LocalLCM, sketch: bytes) -> None:
    """reference_output checks the request like generate_sync and answers with the same kind
    of Output: seed echoed, requested format and size, one image per num_images."""
    out = reference_output(lcm, i2i(sketch, seed=12, num_images=2, format="png", **SMALL))
    assert out.seed == 12 and out.prompt == "a house" and set(out.timings) == {"total"}
    assert [(i.width, i.height, i.content_type) for i in out.images] == [(128, 128,
                                                                          "image/png")] * 2
    assert out.has_nsfw_concepts == [False, False]
    with pytest.raises(InvalidInput, match="expand_prompt") as e:
        reference_output(lcm, t2i(expand_prompt=True))
    assert e.value.field == "expand_prompt"


def test_final_latents_need_a_seed(lcm: LocalLCM) -> None:
    """final_latents and batch_latents refuse a request without a seed, naming the field."""
    for call in (lambda: final_latents(lcm, t2i(seed=None, **SMALL)),
                 lambda: final_latents(lcm, t2i(seed=None, **SMALL), reference=True),
                 lambda: batch_latents(lcm, [t2i(**SMALL), t2i(seed=None, **SMALL)])):
        with pytest.raises(InvalidInput, match="seed: must be set") as e:
            call()
        assert e.value.field == "seed"


def test_batch_latents_of_one_input_are_final_latents(lcm: LocalLCM) -> None:
    """A batch of one is the input alone, exactly (the same computation)."""
    inp = t2i(seed=5, num_images=2, **SMALL)
    assert torch.equal(batch_latents(lcm, [inp]), final_latents(lcm, inp))


def test_batch_latents_refuse_what_cannot_share_a_batch(lcm: LocalLCM) -> None:
    """Inputs the batch rule keeps apart (other steps) are refused with the plan in the
    message."""
    with pytest.raises(InvalidInput, match=r"inputs: must form one batch .* 2 groups"):
        batch_latents(lcm, [t2i(**SMALL), t2i(num_inference_steps=2, **SMALL)])


def test_reference_after_close_is_a_backend_error(model_cache: str) -> None:
    """On a closed LocalLCM the reference functions raise BackendError like generate."""
    closed = LocalLCM("tiny", warmup=False, progress=False)
    asyncio.run(closed.aclose())
    with pytest.raises(BackendError, match="closed"):
        reference_output(closed, t2i())
    with pytest.raises(BackendError, match="closed"):
        final_latents(closed, t2i())
