"""Model definitions in one place: the configs the package builds and the names it knows.

* :mod:`.scheduler`: the one LCM scheduler config (LCM_Dreamshaper_v7's), used by every build;
* :mod:`.tiny`: the random-weight ``tiny`` model for tests and offline demos;
* :mod:`.arch`: the full-size SD1.5-LCM and LCM-SDXL architectures with random weights, for
  benchmarks without downloads;
* :mod:`.presets`: the model names :class:`~lcm_widgets.backends.local.LocalLCM` resolves;
* :mod:`._tiny_bpe` and ``tiny_tokenizer/``: the small CLIP BPE vocabulary shipped with the
  package.

Nothing heavy is imported here (torch and diffusers are imported when a model is built).
"""
