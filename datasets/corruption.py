"""Label corruption, meta split and long-tail subsampling (GDW protocol, docs/protocol.md §1).

Everything here is a pure function of numpy arrays and a numpy ``Generator``: the caller derives
the generator from (dataset, setting, level, seed) only, so every method sees identical data.

Order, as in the authors' code: split the clean meta set off the training split, corrupt the
remaining labels, then subsample per class by the *clean* label for the long tail.

Deviation from the authors' code: the meta set is disjoint from the training set. Their code draws
the meta split and the train split from two differently seeded shuffles, so with their default seed
98 % of the meta images are also training images (docs/protocol.md §1.2); the paper says the meta set
is "selected from" the training set, which we read as disjoint.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gdw_bench.errors import UserInputError

NOISE_TYPES = ("none", "uniform", "flip")


@dataclass(frozen=True)
class Corruption:
    """What is done to the training split: label noise of one type and rate, and a long tail.

    ``imbalance`` is μ = n_min / n_max (1.0 = balanced), as the authors' ``imb_factor``.
    """

    noise: str = "none"
    rate: float = 0.0
    imbalance: float = 1.0

    def __post_init__(self) -> None:
        if self.noise not in NOISE_TYPES:
            raise UserInputError(f"unknown noise type '{self.noise}'; valid: {', '.join(NOISE_TYPES)}")
        if not 0.0 <= self.rate <= 1.0:
            raise UserInputError(f"noise level {self.rate} is outside [0, 1]")
        if not 0.0 < self.imbalance <= 1.0:
            raise UserInputError(f"imbalance factor μ={self.imbalance} is outside (0, 1]")

    def canonical(self) -> "Corruption":
        """The same corruption with no-ops removed: 0 % noise of any type is 'none'."""
        if self.rate == 0.0 or self.noise == "none":
            return Corruption("none", 0.0, self.imbalance)
        return self

    @property
    def slug(self) -> str:
        """A folder name: 'clean', 'uniform-0.4', 'imb-0.01', 'uniform-0.4_imb-0.1'."""
        c = self.canonical()
        parts = []
        if c.noise != "none":
            parts.append(f"{c.noise}-{c.rate:g}")
        if c.imbalance != 1.0:
            parts.append(f"imb-{c.imbalance:g}")
        return "_".join(parts) or "clean"


def corruption_label(corruption: Corruption) -> str:
    """A column header: 'clean', '40 % uniform', 'μ = 0.1', '40 % uniform + μ = 0.1'."""
    c = corruption.canonical()
    parts = []
    if c.noise != "none":
        parts.append(f"{c.rate * 100:g} % {c.noise}")
    if c.imbalance != 1.0:
        parts.append(f"μ = {c.imbalance:g}")
    return " + ".join(parts) or "clean"


def expected_wrong_fraction(corruption: Corruption, num_classes: int) -> float:
    """r·(K−1)/K for uniform noise (the redraw can hit the true class), r for flip, 0 for none."""
    c = corruption.canonical()
    if c.noise == "uniform":
        return c.rate * (num_classes - 1) / num_classes
    if c.noise == "flip":
        return c.rate
    return 0.0


def uniform_transition(rate: float, num_classes: int) -> np.ndarray:
    """C = r·(1/K)·11ᵀ + (1−r)·I: the noisy label is uniform over *all* K classes w.p. r."""
    return rate / num_classes * np.ones((num_classes, num_classes)) + (1.0 - rate) * np.eye(num_classes)


def flip_targets(num_classes: int) -> np.ndarray:
    """One random *other* class per class, as the authors' ``flip_labels_C`` draws it.

    Their code seeds numpy's legacy global RNG with 1 and, for each class i in order, picks one
    class uniformly among the other K−1. We replay that draw on a private ``RandomState(1)``, so the
    mapping is the authors' (for CIFAR-10: 0→6, 1→9, 2→6, 3→0, 4→0, 5→1, 6→8, 7→6, 8→2, 9→4) and
    fixed for a class count: several classes may share a target; it is not a permutation.
    """
    legacy = np.random.RandomState(1)
    classes = np.arange(num_classes)
    return np.array([legacy.choice(classes[classes != i]) for i in range(num_classes)])


def flip_transition(rate: float, num_classes: int) -> np.ndarray:
    """Diagonal 1−r, and r on the one flip target of each row."""
    matrix = np.eye(num_classes) * (1.0 - rate)
    matrix[np.arange(num_classes), flip_targets(num_classes)] = rate
    return matrix


def transition_matrix(corruption: Corruption, num_classes: int) -> np.ndarray:
    c = corruption.canonical()
    if c.noise == "uniform":
        return uniform_transition(c.rate, num_classes)
    if c.noise == "flip":
        return flip_transition(c.rate, num_classes)
    return np.eye(num_classes)


def corrupt_labels(labels: np.ndarray, matrix: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw each noisy label independently from the row of its true class (per-sample Bernoulli,
    so the number of flipped labels is random, as in the authors' code)."""
    cumulative = np.cumsum(matrix, axis=1)
    cumulative[:, -1] = 1.0  # guard against rounding: every draw lands in some class
    draws = rng.random(len(labels))
    return (draws[:, None] < cumulative[labels]).argmax(axis=1).astype(np.int64)


def split_meta(labels: np.ndarray, per_class: int, num_classes: int, rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """A clean, class-balanced meta set of ``per_class`` images per class, and the rest.

    Per class: shuffle that class's indices, the first ``per_class`` are meta. Returns sorted
    (meta_indices, train_indices), disjoint and covering ``labels``.
    """
    meta = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        if len(members) <= per_class:
            raise UserInputError(
                f"class {c} has {len(members)} images, too few for a meta set of {per_class} per class")
        meta.append(rng.permutation(members)[:per_class])
    meta_idx = np.sort(np.concatenate(meta))
    train_mask = np.ones(len(labels), dtype=bool)
    train_mask[meta_idx] = False
    return meta_idx, np.flatnonzero(train_mask)


def long_tail_counts(n_max: int, imbalance: float, num_classes: int) -> list[int]:
    """n_c = int(n_max · μ^(c/(K−1))): class 0 is the head, class K−1 the rarest, int() truncates."""
    if num_classes == 1:
        return [n_max]
    return [int(n_max * imbalance ** (c / (num_classes - 1))) for c in range(num_classes)]


def long_tail_subset(clean_labels: np.ndarray, imbalance: float, num_classes: int,
                     rng: np.random.Generator) -> np.ndarray:
    """Positions (sorted) to keep so that class c keeps ``long_tail_counts(...)[c]`` samples.

    n_max is the smallest per-class count available (on CIFAR every class has 4,900 after the
    meta split, the authors' img_max), so every class can supply its quota exactly.
    """
    if imbalance == 1.0:
        return np.arange(len(clean_labels))
    n_max = int(min(np.sum(clean_labels == c) for c in range(num_classes)))
    keep = []
    for c, count in enumerate(long_tail_counts(n_max, imbalance, num_classes)):
        members = np.flatnonzero(clean_labels == c)
        keep.append(rng.permutation(members)[:count])
    return np.sort(np.concatenate(keep))
