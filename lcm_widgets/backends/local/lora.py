"""User LoRAs for :class:`~.backend.LocalLCM`: loaded once as peft adapters, switched per request.

A LoRA comes from a Hugging Face id, a local ``.safetensors`` file, or a folder holding one
(diffusers' ``pytorch_lora_weights.safetensors``, or a single ``.safetensors`` file). It is
loaded into the pipeline's UNet (and text encoder, if it has weights for it) as a peft adapter
under an internal name; switching LoRAs or scales is then ``set_adapters`` (or
``disable_lora`` for none), which touches no base weight: the base model is never reloaded.

* **Bounded.** At most ``max_loaded`` adapters stay in the model (least recently used dropped
  with ``delete_adapters``). A LoRA loaded before and dropped since is loaded again from where it
  came from when a request names it (:attr:`LoraSet.loads` counts loads from disk).
* **Scale 0** leaves the LoRA out: with no LoRA left the adapters are disabled, and the UNet
  computes exactly the base model's output.
* **Only safetensors.** Pickled weights (``.bin``, ``.ckpt``, ``.pt``) can run code when loaded;
  they are refused with an error naming the file.
* **Wrong base model.** A LoRA whose shapes do not fit the model (a LoRA for SDXL on SD1.5), or
  that has no weight for any of its layers, is refused with an error naming both.
* Requests name a LoRA by the name or path it was loaded under; a path never loaded before is
  loaded only when the LocalLCM allows it (``lora_from_requests=True``), so that a request from
  the network cannot make the process read its files or download.
* Prompt embeddings are cached per prompt; when a LoRA with text-encoder weights is switched in
  or out, the cache is cleared.
"""

from __future__ import annotations

import contextlib
import json
import struct
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...errors import BackendUnavailable, InvalidInput, ModelLoadError
from .cache import LRU

__all__ = ["LoraSet", "check_safetensors", "lora_source"]


def check_safetensors(path: Path, field: str = "lora") -> None:
    """Raise InvalidInput naming ``path`` unless it is a safetensors file (its 8-byte header
    length, then a JSON object that fits in the file)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            n = struct.unpack("<Q", head)[0] if len(head) == 8 else -1
            ok = 2 <= n <= min(size - 8, 100 * 2**20)
            if ok:
                json.loads(f.read(n))
    except (OSError, ValueError, UnicodeDecodeError):
        ok = False
    if not ok:
        raise InvalidInput(f"{field}: {str(path)!r} is not a safetensors file; LoRAs load only "
                           "from .safetensors (pickled weights can run code)", field=field)


def lora_source(path: str) -> str:
    """What loads the LoRA ``path`` names: the file itself, the one ``.safetensors`` file of a
    folder, or a Hugging Face id as given. Pure (no torch), so ``serve --lora`` checks it
    before a model loads. Raises InvalidInput: not safetensors, neither file, folder nor id."""
    p = Path(path).expanduser()
    if p.is_file():
        if p.suffix.lower() != ".safetensors":  # .bin, .ckpt, .pt: pickles
            raise InvalidInput(f"lora: {path!r} is not a safetensors file (.safetensors); "
                               "LoRAs load only from safetensors (pickled weights can run "
                               "code)", field="lora")
        check_safetensors(p)
        return str(p)
    if p.is_dir():
        files = sorted(p.glob("*.safetensors"))
        pick = [f for f in files if f.name == "pytorch_lora_weights.safetensors"] or files
        if len(pick) != 1:
            raise InvalidInput(
                f"lora: folder {path!r} must hold one .safetensors file (or "
                f"pytorch_lora_weights.safetensors), got {len(files)}", field="lora")
        check_safetensors(pick[0])
        return str(pick[0])
    if path.count("/") != 1 or path.startswith(("/", ".", "~")):
        raise InvalidInput(f"lora: {path!r} is neither a file, a folder nor a Hugging Face "
                           "id (owner/name)", field="lora")
    return path


@dataclass
class _Known:
    source: str        # what load_lora_weights gets: a file or an id
    adapter: str       # the peft adapter name
    text_encoder: bool = False


class LoraSet:
    """The LoRAs of one pipeline. Not thread-safe: LocalLCM uses it under its model lock."""

    def __init__(self, pipe: Any, *, base: str, max_loaded: int = 4,
                 on_text_encoder_change: Callable[[], None] | None = None) -> None:
        if not 1 <= max_loaded <= 16:
            raise InvalidInput(f"max_loras: must be between 1 and 16, got {max_loaded}",
                               field="max_loras")
        self.pipe = pipe
        self.base = base
        self.max_loaded = max_loaded
        self.loads = 0
        self._on_te = on_text_encoder_change
        self._known: LRU[str, _Known] = LRU(64)   # name or path -> where and as what
        self._loaded: LRU[str, bool] = LRU(max_loaded)  # adapter names in the model
        self._active: tuple[tuple[str, float], ...] = ()
        self._counter = 0

    @property
    def loaded(self) -> list[str]:
        """The adapters in the model now, oldest first."""
        return self._loaded.keys()

    def known(self, name: str) -> bool:
        """Whether ``name`` was loaded before (by that name or path)."""
        return name in self._known

    def load(self, path: str | Path, *, name: str | None = None) -> str:
        """Load the LoRA at ``path`` (id, file or folder) unless it is loaded; returns the name
        requests use for it (``name``, else ``path`` as given)."""
        key = str(path) if name is None else name
        entry = self._known.get(key)
        if entry is None:
            entry = _Known(self._resolve(str(path)), f"lora_{self._counter}")
            self._counter += 1
        self._ensure(key, entry)
        self._known.put(key, entry)
        if name is not None:
            self._known.put(str(path), entry)
        return key

    def apply(self, loras: Sequence[tuple[str, float]], *, allow_new: bool) -> None:
        """Make ``(name or path, scale)`` the applied LoRAs (``loras[i]`` as ``loras.i`` in
        errors); scale-0 entries are left out."""
        wanted: list[tuple[str, float]] = []
        for i, (path, scale) in enumerate(loras):
            entry = self._known.get(path)
            if entry is None:
                if not allow_new:
                    raise InvalidInput(
                        f"loras.{i}.path: no LoRA {path!r} is loaded (loaded: "
                        f"{', '.join(map(repr, self._known.keys())) or 'none'}); load it with "
                        "LocalLCM.load_lora(...) first, or create the LocalLCM with "
                        "lora_from_requests=True", field=f"loras.{i}.path")
                self.load(path)
                entry = self._known.get(path)
                assert entry is not None
            else:
                self._ensure(path, entry)
            if scale != 0.0:
                wanted.append((entry.adapter, float(scale)))
        self._set(tuple(wanted))

    # --- internals ---------------------------------------------------------------------------

    def _resolve(self, path: str) -> str:
        return lora_source(path)

    def _state_dict(self, entry: _Known) -> Any:
        if Path(entry.source).is_file():
            from safetensors.torch import load_file

            try:
                return load_file(entry.source)
            except Exception as exc:
                raise InvalidInput(f"lora: {entry.source!r} is not a safetensors file ({exc})",
                                   field="lora") from exc
        from .loading import _load_error

        try:
            sd = self.pipe.lora_state_dict(entry.source, use_safetensors=True)
        except Exception as exc:
            raise _load_error("lora", entry.source, exc, known=False) from exc
        return sd[0] if isinstance(sd, tuple) else sd

    def _ensure(self, key: str, entry: _Known) -> None:
        """Load ``entry`` into the model unless it is there; drop the oldest beyond the bound."""
        if entry.adapter in self._loaded:
            self._loaded.get(entry.adapter)  # now the most recently used
            return
        try:
            import peft  # noqa: F401
        except ImportError as exc:  # pragma: no cover - peft comes with the local extra
            raise BackendUnavailable("LoRAs need peft: pip install peft") from exc
        sd = self._state_dict(entry)
        while len(self._loaded) >= self.max_loaded:
            old = self._loaded.keys()[0]
            self._active = tuple((a, s) for a, s in self._active if a != old)
            self._set(self._active, force=True)
            self.pipe.delete_adapters(old)
            self._loaded.pop(old)
        try:
            with warnings.catch_warnings():
                # peft warns that a model holding adapters gets another: that is the point here.
                warnings.filterwarnings("ignore", message=".*peft_config.*multiple adapters")
                self.pipe.load_lora_weights(sd, adapter_name=entry.adapter)
        except Exception as exc:
            self._forget(entry.adapter)
            raise self._misfit(key, str(exc)) from exc
        unet = self.pipe.unet
        if entry.adapter not in (getattr(unet, "peft_config", None) or {}):
            self._forget(entry.adapter)
            raise self._misfit(key, "none of its weights belong to this model's UNet")
        te = getattr(self.pipe, "text_encoder", None)
        entry.text_encoder = entry.adapter in (getattr(te, "peft_config", None) or {})
        self.loads += 1
        self._loaded.put(entry.adapter, True)
        self._set(self._active, force=True)

    def _misfit(self, key: str, detail: str) -> ModelLoadError:
        line = detail.strip().splitlines()[0][:300] if detail.strip() else "no detail"
        return ModelLoadError(f"lora: {key!r} does not fit the model {self.base!r}: it was made "
                              f"for another base model ({line})")

    def _forget(self, adapter: str) -> None:
        with contextlib.suppress(Exception):  # never attached: nothing to remove
            self.pipe.delete_adapters(adapter)
        self._set(self._active, force=True)

    def _set(self, wanted: tuple[tuple[str, float], ...], force: bool = False) -> None:
        if wanted == self._active and not force:
            return
        te_before = self._touches_te(self._active)
        if wanted:
            self.pipe.enable_lora()
            self.pipe.set_adapters([a for a, _ in wanted], adapter_weights=[s for _, s in wanted])
        elif getattr(self.pipe.unet, "peft_config", None):
            self.pipe.disable_lora()
        changed = wanted != self._active
        self._active = wanted
        if changed and (te_before or self._touches_te(wanted)) and self._on_te is not None:
            self._on_te()

    def _touches_te(self, active: tuple[tuple[str, float], ...]) -> bool:
        adapters = {a for a, _ in active}
        return any(k.text_encoder for k in self._known.values() if k.adapter in adapters)
