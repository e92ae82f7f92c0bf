"""One seed function over named axes (torch-free), so that pairing is a property of the code.

Every random choice of a cell draws from a seed derived here, from *named* axes only:
- ``data``: (dataset, corruption, seed) → meta split, label noise, long-tail subset;
- ``train``: (dataset, corruption, seed, network) → initial weights of network ``network``
  (0 = the classifier, 1 = a second classifier such as Co-teaching's, ``AUXILIARY_NETWORK`` =
  a method's own learned module such as the weighting net), and, with network 0, batch order,
  augmentation and the meta-batch stream.

The method is never an axis: for one seed every method starts from the same weights and sees
the same batches in the same order, as in the authors' code (one ``torch.manual_seed`` per run).
SHA-256 of a canonical text, never the builtin hash (salted for str, and free to change between
Python versions).
"""
from __future__ import annotations

import hashlib

SEED_SCHEME = 2  # bump when a derivation below changes: it is part of every cell's identity
AUXILIARY_NETWORK = 99  # network index of a method's own learned module (MWNet/GDW weighting net)
_MASK63 = (1 << 63) - 1


def derive_seed(purpose: str, **axes) -> int:
    """A 63-bit seed from a purpose and named axes: order-free in the axes, stable across runs,
    machines and Python versions. ``derive_seed("train", dataset="digits", seed=1, network=0)``."""
    words = purpose + "".join(f"|{name}={axes[name]!r}" for name in sorted(axes))
    return int.from_bytes(hashlib.sha256(words.encode()).digest()[:8], "little") & _MASK63


def data_seed(dataset: str, corruption_slug: str, seed: int) -> int:
    return derive_seed("data", dataset=dataset, corruption=corruption_slug, seed=int(seed))


def train_seed(dataset: str, corruption_slug: str, seed: int, network: int = 0) -> int:
    return derive_seed("train", dataset=dataset, corruption=corruption_slug, seed=int(seed), network=int(network))


def stream_seed(base: int, epoch: int, stream: int) -> int:
    """Per-epoch stream of a training seed: 0 = order, 1 = augmentation, 2.. = meta passes. Derived
    per epoch so a resumed run replays an epoch without saved generator states."""
    return derive_seed("stream", base=int(base), epoch=int(epoch), stream=int(stream))
