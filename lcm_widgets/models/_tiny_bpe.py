"""Train the small CLIP-style byte-level BPE vocabulary shipped with the ``tiny`` model.

The files in ``tiny_tokenizer/`` (``vocab.json``, ``merges.txt``) were written by this module
and are committed, so building the tiny model never needs the network. Regenerate them with::

    python -m lcm_widgets.models._tiny_bpe

A test checks that the committed files equal what this module produces.

The format is the one :class:`transformers.CLIPTokenizer` reads: the 256 byte symbols of GPT-2's
byte-to-unicode table, the same symbols with the ``</w>`` end-of-word marker, one token per
merge, then ``<|startoftext|>`` and ``<|endoftext|>`` (as in OpenAI's CLIP ``SimpleTokenizer``).
"""

from __future__ import annotations

import collections
import itertools
import json
from pathlib import Path

__all__ = ["TOKENIZER_DIR", "build_vocab", "write_files"]

TOKENIZER_DIR = Path(__file__).with_name("tiny_tokenizer")
NUM_MERGES = 400

# Words that show up in sketch prompts; enough for the merges to look like real English.
_CORPUS = ["a", "an", "the", "of", "and", "with", "in", "on", "at", "by", "for", "from", "to", "into", "over", "under", "near", "behind", "beside", "photo", "photograph", "painting", "drawing", "sketch", "illustration", "render", "portrait", "landscape", "cat", "dog", "bird", "horse", "fish", "tree", "flower", "house", "castle", "city", "street", "mountain", "river", "lake", "sea", "ocean", "beach", "forest", "sky", "cloud", "clouds", "sun", "moon", "star", "stars", "night", "day", "sunset", "sunrise", "rain", "snow", "red", "green", "blue", "yellow", "orange", "purple", "pink", "black", "white", "gray", "brown", "golden", "silver", "beautiful", "detailed", "highly", "realistic", "photorealistic", "cinematic", "dramatic", "lighting", "light", "soft", "hard", "sharp", "focus", "bokeh", "studio", "sharp", "colorful", "vibrant", "dark", "bright", "warm", "cold", "man", "woman", "person", "child", "people", "face", "eyes", "hair", "smiling", "happy", "sad", "old", "young", "oil", "watercolor", "pencil", "charcoal", "digital", "art", "artstation", "trending", "style", "by", "anime", "cartoon", "fantasy", "science", "fiction", "futuristic", "ancient", "medieval", "modern", "car", "boat", "ship", "plane", "train", "road", "bridge", "tower", "building", "window", "door", "garden", "field", "water", "fire", "ice", "stone", "wood", "metal", "glass", "paper", "gold", "crystal", "small", "large", "tiny", "giant", "little", "big", "tall", "long", "round", "square", "very", "quality", "best", "masterpiece", "resolution", "4k", "8k", "hd", "uhd", "cute", "funny", "scary", "magical", "mysterious", "peaceful", "quiet", "calm", "wild", "standing", "sitting", "running", "flying", "walking", "sleeping", "looking"]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible byte → printable-unicode table."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs), strict=True))


def _train_merges(words: list[str], num_merges: int) -> list[tuple[str, str]]:
    """Greedy BPE: repeatedly merge the most frequent adjacent pair (ties: first seen)."""
    byte_map = bytes_to_unicode()
    counts = collections.Counter(words)
    seqs: dict[tuple[str, ...], int] = {}
    for word, n in counts.items():
        syms = [byte_map[b] for b in word.encode("utf-8")]
        syms[-1] += "</w>"
        seqs[tuple(syms)] = seqs.get(tuple(syms), 0) + n
    merges: list[tuple[str, str]] = []
    for _ in range(num_merges):
        pairs: collections.Counter[tuple[str, str]] = collections.Counter()
        for seq, n in seqs.items():
            for a, b in itertools.pairwise(seq):
                pairs[(a, b)] += n
        if not pairs:
            break
        # max() keeps the first of equal counts, and Counter keeps insertion order: deterministic.
        best = max(pairs.items(), key=lambda kv: kv[1])[0]
        merges.append(best)
        merged: dict[tuple[str, ...], int] = {}
        for seq, n in seqs.items():
            out: list[str] = []
            i = 0
            while i < len(seq):
                if i + 1 < len(seq) and (seq[i], seq[i + 1]) == best:
                    out.append(seq[i] + seq[i + 1])
                    i += 2
                else:
                    out.append(seq[i])
                    i += 1
            merged[tuple(out)] = merged.get(tuple(out), 0) + n
        seqs = merged
    return merges


def build_vocab(num_merges: int = NUM_MERGES) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """The vocabulary (token → id) and the ordered merge list."""
    merges = _train_merges([w.lower() for w in _CORPUS], num_merges)
    symbols = list(bytes_to_unicode().values())
    tokens = symbols + [s + "</w>" for s in symbols] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    return {t: i for i, t in enumerate(tokens)}, merges


def render_files(num_merges: int = NUM_MERGES) -> dict[str, str]:
    """The text of ``vocab.json`` and ``merges.txt``."""
    vocab, merges = build_vocab(num_merges)
    return {
        "vocab.json": json.dumps(vocab, ensure_ascii=False, indent=0) + "\n",
        "merges.txt": "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges),
    }


def write_files(folder: Path = TOKENIZER_DIR) -> None:
    """Write the tokenizer files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in render_files().items():
        (folder / name).write_text(text, encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    write_files()
    print(f"wrote {TOKENIZER_DIR}")
