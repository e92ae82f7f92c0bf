"""From a raw source to the three splits every method sees: noisy train, clean meta, test.

``prepare(...)`` is the single code path for every method. The random choices (meta split, noisy
labels, long-tail subset) use one numpy generator derived from (dataset, setting, level, seed)
only, and the result carries a hash of them that goes into every run record.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gdw_bench.errors import UserInputError
from gdw_bench.seeds import data_seed

from .batches import FileBatches, TensorBatches
from .catalogue import _SOURCE_CACHE, DATASETS, USER_SOURCES, DatasetSpec, dataset_spec, register_user_dataset  # noqa: F401
from .corruption import Corruption, corrupt_labels, long_tail_subset, split_meta, transition_matrix
from .sources import FileSource


def data_rng(dataset: str, corruption: Corruption, seed: int) -> np.random.Generator:
    """The one generator for a cell's data: a function of (dataset, setting, level, seed) only."""

    return np.random.default_rng(data_seed(dataset, corruption.canonical().slug, seed))


@dataclass(kw_only=True)
class PreparedData:
    dataset: str
    num_classes: int
    train: TensorBatches | FileBatches  # noisy labels, true labels, sample index
    meta: TensorBatches | FileBatches  # clean, class-balanced
    test: TensorBatches | FileBatches
    noisy_class_counts: list[int]  # observed (noisy) label counts of the training split
    transition: np.ndarray  # the corruption matrix C[true, noisy] used to draw the noise
    data_hash: str
    actual_noise_fraction: float
    info: dict = field(default_factory=dict)
    # What a tuning trial is scored on (protocol ``validation``): the held-out share of the noisy training
    # set ("noisy-val", with its noisy labels) or the clean meta set ("meta"); None for every other run.
    validation: TensorBatches | FileBatches | None = None

    @property
    def num_train(self) -> int:
        return len(self.train)

    def trusted_union(self) -> TensorBatches | FileBatches:
        """Training split plus the meta set, meta samples flagged ``trusted`` (GLC's phase 2).
        Indices of meta samples follow the training indices (num_train + j)."""
        return union_with_trusted(self.train, self.meta)


def union_with_trusted(train, meta):
    if isinstance(train, TensorBatches):
        out = TensorBatches.__new__(TensorBatches)
        out.__dict__.update(train.__dict__)
        out.images = torch.cat([train.images, meta.images])
        out.labels = torch.cat([train.labels, meta.labels])
        out.true_labels = torch.cat([train.true_labels, meta.labels])
        out.trusted = torch.cat([torch.zeros(len(train), dtype=torch.bool, device=train.device),
                                 torch.ones(len(meta), dtype=torch.bool, device=train.device)])
        return out
    out = FileBatches.__new__(FileBatches)
    out.__dict__.update(train.__dict__)
    out.files = list(train.files) + list(meta.files)
    out.labels = torch.cat([train.labels, meta.labels])
    out.true_labels = torch.cat([train.true_labels, meta.labels])
    out.trusted = torch.cat([torch.zeros(len(train), dtype=torch.bool), torch.ones(len(meta), dtype=torch.bool)])
    return out


def _hash_arrays(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:16]




def load_source(dataset: str, data_dir: Path | None, download: bool = False):
    """Load (and memoise per process) a dataset's raw source; ``download``: fetch it first where
    it can be fetched (CIFAR through torchvision), an explicit argument, never an environment variable."""
    key = (dataset, str(data_dir))
    if key not in _SOURCE_CACHE:
        spec = dataset_spec(dataset)
        _SOURCE_CACHE[key] = spec.loader(data_dir, download=True) if download and spec.downloadable else \
            spec.loader(data_dir)
    return _SOURCE_CACHE[key]


def stratified_subset(labels: np.ndarray, size: int | None, num_classes: int) -> np.ndarray:
    """A fixed (seed 0) class-stratified subset of ``size`` samples; all when ``size`` is None."""
    if size is None or size >= len(labels):
        return np.arange(len(labels))
    rng = np.random.default_rng(0)
    per_class = size // num_classes
    keep = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in range(num_classes)]
    return np.sort(np.concatenate(keep))


@dataclass(frozen=True, kw_only=True)
class SplitIndices:
    """Which source images form each split of one (dataset, corruption, seed), and their labels."""

    train_idx: np.ndarray  # positions in the source's training split: the noisy training set
    clean: np.ndarray  # their true labels
    noisy: np.ndarray  # their (possibly corrupted) training labels
    meta_idx: np.ndarray  # positions of the clean meta set
    test_keep: np.ndarray  # positions in the source's test split
    matrix: np.ndarray  # the label transition matrix used
    val_idx: np.ndarray | None = None  # "noisy-val": positions held out of the noisy training set
    val_noisy: np.ndarray | None = None  # their noisy labels (what a tuner may see)
    val_clean: np.ndarray | None = None


VALIDATION_SHARE = 0.1  # of the noisy training set, per noisy class, held out for a tuner (noisy-val)


def hold_out_validation(dataset: str, corruption: Corruption, seed: int, noisy: np.ndarray,
                        num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out) positions of the training set: VALIDATION_SHARE of each noisy class, drawn by a
    generator of its own from (dataset, setting, level, seed) — never the method — so every method is
    tuned on the same images, and the cell's other draws (meta split, noise, long tail) stay as they are."""
    rng = np.random.default_rng(data_seed(dataset, corruption.canonical().slug + "+validation", seed))
    held = []
    for c in range(num_classes):
        members = np.flatnonzero(noisy == c)
        held.append(rng.permutation(members)[:int(round(len(members) * VALIDATION_SHARE))])
    held_out = np.sort(np.concatenate(held)) if held else np.array([], dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(noisy)), held_out)
    return kept, held_out


def split_indices(spec: DatasetSpec, source, corruption: Corruption, seed: int, train_subset: int | None = None,
                  test_subset: int | None = None, meta_per_class: int | None = None,
                  validation: str | None = None) -> SplitIndices:
    """Meta split, then noise, then long tail (by clean label); see ``corruption.py``. Index work only
    (no image is copied), so a grid checks every split it will train before any cell starts. Sizes the
    protocol asks for that the data cannot give are one-line errors, never silently shrunk."""
    num_classes = source.num_classes
    for key, asked, have in (("train_subset", train_subset, len(source.train_labels)),
                             ("test_subset", test_subset, len(source.test_labels))):
        if asked is not None and asked > have:
            raise UserInputError(f"{key} {asked} is larger than the {have} images of {spec.key}'s "
                                 f"{key.split('_')[0]} split; valid: at most {have}, or leave it out for all")
    rng = data_rng(spec.key, corruption, seed)
    pool = stratified_subset(source.train_labels, train_subset, num_classes)
    pool_labels = source.train_labels[pool]
    meta_pos, train_pos = split_meta(pool_labels, meta_per_class or spec.meta_per_class, num_classes, rng)
    clean = pool_labels[train_pos]
    matrix = transition_matrix(corruption, num_classes)
    noisy = corrupt_labels(clean, matrix, rng)
    keep = long_tail_subset(clean, corruption.canonical().imbalance, num_classes, rng)
    test_keep = stratified_subset(source.test_labels, test_subset, num_classes)
    if not keep.size or not test_keep.size:
        raise UserInputError(f"{keep.size} training and {test_keep.size} test images are left after the meta "
                             f"split and subsets; valid: both non-empty")
    train_idx, clean, noisy = pool[train_pos][keep], clean[keep], noisy[keep]
    if validation != "noisy-val":
        return SplitIndices(train_idx=train_idx, clean=clean, noisy=noisy, meta_idx=pool[meta_pos], test_keep=test_keep,
                            matrix=matrix)
    kept, held = hold_out_validation(spec.key, corruption, seed, noisy, num_classes)
    if not kept.size or not held.size:
        raise UserInputError(f"{len(noisy)} training images leave no validation share of {VALIDATION_SHARE:.0%} per "
                             f"class; valid: a larger training set, or --selection meta")
    return SplitIndices(train_idx=train_idx[kept], clean=clean[kept], noisy=noisy[kept], meta_idx=pool[meta_pos],
                        test_keep=test_keep, matrix=matrix, val_idx=train_idx[held], val_noisy=noisy[held],
                        val_clean=clean[held])


def check_splits(dataset: str, corruption: Corruption, seeds, data_dir: Path | None = None,
                 train_subset: int | None = None, test_subset: int | None = None,
                 meta_per_class: int | None = None, pad_to: int | None = None, validation: str | None = None) -> None:
    """Everything ``prepare`` would refuse, found before anything runs: each seed's splits are built
    (as indices), the padding is checked against the image size, and file datasets (Clothing1M,
    Places-LT) are checked for their fixed labels and non-empty splits."""
    spec = dataset_spec(dataset)
    source = load_source(dataset, data_dir)
    if isinstance(source, FileSource):
        _check_file_corruption(spec, corruption)
        _check_file_validation(spec, validation)
        for split, files in (("training", source.train_files), ("meta", source.meta_files),
                             ("test", source.test_files)):
            if not len(files):
                raise UserInputError(f"{dataset}: its {split} list names no image; valid: the released lists")
        return
    if pad_to is not None:
        height, width = source.train_images.shape[2:]
        if pad_to < max(height, width):
            raise UserInputError(f"pad_to {pad_to} is smaller than {dataset}'s images ({height}×{width}); valid: "
                                 f"≥ {max(height, width)}, or leave it out")
    for seed in seeds:
        split_indices(spec, source, corruption, seed, train_subset, test_subset, meta_per_class, validation)


def prepare(dataset: str, corruption: Corruption, seed: int, device="cpu", data_dir: Path | None = None,
            train_subset: int | None = None, test_subset: int | None = None,
            meta_per_class: int | None = None, workers: int | None = None, pad_to: int | None = None,
            crop_pad: int | None = None, validation: str | None = None) -> PreparedData:
    """The splits of ``split_indices`` as device-resident batches.

    ``workers``: DataLoader processes for image-file datasets (default: min(4, CPU count)).
    ``pad_to``: zero-pad array images to pad_to × pad_to (centred); ``crop_pad``: the random crop's
    padding in px instead of the dataset's own."""
    if workers is None:
        workers = min(4, os.cpu_count() or 1)
    spec = dataset_spec(dataset)
    source = load_source(dataset, data_dir)
    if isinstance(source, FileSource):
        _check_file_validation(spec, validation)
        data = _prepare_files(spec, source, corruption, device, workers)
        return dataclasses.replace(data, validation=data.meta) if validation == "meta" else data
    num_classes = source.num_classes
    split = split_indices(spec, source, corruption, seed, train_subset, test_subset, meta_per_class, validation)
    train_idx, clean, noisy, meta_idx, test_keep = split.train_idx, split.clean, split.noisy, split.meta_idx, \
        split.test_keep
    augment = source.augment if crop_pad is None else dataclasses.replace(source.augment, pad=crop_pad)
    args = dict(scale=source.scale, mean=source.mean, std=source.std, augment=augment, device=device)

    def images(positions):
        return pad_images(source.train_images[positions] if positions is not None else source.test_images[test_keep],
                          pad_to)

    train = TensorBatches(images(train_idx), noisy, true_labels=clean, **args)
    meta = TensorBatches(images(meta_idx), source.train_labels[meta_idx], **args)
    test = TensorBatches(images(None), source.test_labels[test_keep], **args)
    held_out = TensorBatches(images(split.val_idx), split.val_noisy, true_labels=split.val_clean, **args) \
        if split.val_idx is not None else None
    hashed = (train_idx, noisy, meta_idx, test_keep) + ((split.val_idx,) if split.val_idx is not None else ())
    return PreparedData(validation=held_out if validation == "noisy-val" else meta if validation == "meta" else None,
        dataset=dataset, num_classes=num_classes, train=train, meta=meta, test=test,
        noisy_class_counts=np.bincount(noisy, minlength=num_classes).tolist(),
        transition=split.matrix, data_hash=_hash_arrays(*hashed),
        actual_noise_fraction=float(np.mean(noisy != clean)),
        info={"train_size": int(len(train_idx)), "meta_size": int(len(meta_idx)), "test_size": int(len(test_keep))})


def pad_images(images: np.ndarray, size: int | None) -> np.ndarray:
    """Zero-pad (N, C, H, W) images to size × size, centred (28 → 32 adds 2 px each side)."""
    if size is None:
        return images
    height, width = images.shape[2:]
    if size < max(height, width):
        raise UserInputError(f"pad_to {size} is smaller than the images ({height}×{width})")
    top, left = (size - height) // 2, (size - width) // 2
    return np.pad(images, ((0, 0), (0, 0), (top, size - height - top), (left, size - width - left)))


def _check_file_corruption(spec: DatasetSpec, corruption: Corruption) -> None:
    if corruption.canonical() != Corruption():
        raise UserInputError(f"{spec.key} comes with its own noise/long tail; synthetic corruption "
                             f"'{corruption.slug}' is not applicable (valid: clean)")


def _check_file_validation(spec: DatasetSpec, validation: str | None) -> None:
    if validation == "noisy-val":
        raise UserInputError(f"{spec.key}: no noisy validation share is held out of an image-list dataset; valid: "
                             f"--selection meta")


def _prepare_files(spec: DatasetSpec, source: FileSource, corruption: Corruption, device, workers) -> PreparedData:
    _check_file_corruption(spec, corruption)
    k = source.num_classes
    args = dict(device=device, image_size=source.image_size, workers=workers)
    train = FileBatches(source.root, source.train_files, source.train_labels, source.train_true, **args)
    meta = FileBatches(source.root, source.meta_files, source.meta_labels, None, **args)
    test = FileBatches(source.root, source.test_files, source.test_labels, None, **args)
    known = source.train_true >= 0
    noise = float(np.mean(source.train_labels[known] != source.train_true[known])) if known.any() else float("nan")
    hashed = _hash_arrays(np.frombuffer("\n".join(source.train_files).encode(), np.uint8), source.train_labels,
                          np.frombuffer("\n".join(source.meta_files).encode(), np.uint8))
    return PreparedData(dataset=spec.key, num_classes=k, train=train, meta=meta, test=test,
                        noisy_class_counts=np.bincount(source.train_labels, minlength=k).tolist(),
                        transition=np.eye(k), data_hash=hashed, actual_noise_fraction=noise,
                        info={"train_size": len(train), "meta_size": len(meta), "test_size": len(test)})
