"""The datasets there are — built in, and the user's own registered from a config — with their class
count, image shape, meta-set size and loader. Torch-free (the loaders read with numpy), so `list
datasets`, `info <dataset>` and a config's validation never import torch; ``protocol`` builds the
tensors from what a loader returns."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from gdw_bench.errors import UserInputError, unknown_choice

from .sources import (
    load_cifar_source,
    load_clothing1m_source,
    load_digits_source,
    load_fashion_mnist_source,
    load_image_folder_source,
    load_npz_source,
    load_places_lt_source,
)


@dataclass(frozen=True, kw_only=True)
class DatasetSpec:
    key: str
    description: str
    loader: Callable
    num_classes: int
    meta_per_class: int  # clean meta images per class (GDW: 1000 in total)
    image_shape: tuple[int, int, int]
    real_world: bool = False  # labels come noisy/long-tailed as released; no synthetic corruption
    user: tuple = ()  # the user's own data: (source kind, path); empty for the built-in datasets
    downloadable: bool = False  # its loader takes download=True (`run --download`)


DATASETS = {
    "digits": DatasetSpec(key="digits", description="scikit-learn's bundled 8×8 digits (1,797 images), offline",
                          loader=load_digits_source, num_classes=10, meta_per_class=10, image_shape=(1, 8, 8)),
    "fashion-mnist": DatasetSpec(key="fashion-mnist",
                                 description="Fashion-MNIST from the four IDX files (Debian: dataset-fashion-mnist)",
                                 loader=load_fashion_mnist_source, num_classes=10, meta_per_class=100,
                                 image_shape=(1, 28, 28)),
    "cifar10": DatasetSpec(key="cifar10", description="CIFAR-10 via torchvision (50k train / 10k test)",
                           loader=lambda d, download=False: load_cifar_source("cifar10", d, download), num_classes=10,
                           meta_per_class=100, image_shape=(3, 32, 32), downloadable=True),
    "cifar100": DatasetSpec(key="cifar100", description="CIFAR-100 via torchvision (50k train / 10k test)",
                            loader=lambda d, download=False: load_cifar_source("cifar100", d, download),
                            num_classes=100, meta_per_class=10, image_shape=(3, 32, 32), downloadable=True),
    "clothing1m": DatasetSpec(key="clothing1m",
                              description="Clothing1M, released key lists; meta = 7k clean validation images",
                              loader=load_clothing1m_source, num_classes=14, meta_per_class=0,
                              image_shape=(3, 224, 224), real_world=True),
    "places_lt": DatasetSpec(key="places_lt",
                             description="Places-LT lists over Places365 images; meta = the balanced val list",
                             loader=load_places_lt_source, num_classes=365, meta_per_class=0,
                             image_shape=(3, 224, 224), real_world=True),
}


USER_SOURCES = ("npz", "imagefolder")


def register_user_dataset(key: str, kind: str, path: str, meta_per_class: int = 10, description: str = "") -> DatasetSpec:
    """A dataset of the user's own (a config's ``[datasets.<key>] source = "npz" | "imagefolder"``),
    registered beside the built-in ones: the same corruption protocol, meta split and records. Its
    classes and image shape are read from the data now, so a bad file is an error before any run."""

    if key in DATASETS and not DATASETS[key].user:
        raise UserInputError(f"dataset '{key}' is built in; give your data another name")
    if kind not in USER_SOURCES:
        raise unknown_choice(f"source of dataset '{key}'", kind, USER_SOURCES)
    load = load_npz_source if kind == "npz" else load_image_folder_source
    source = load(key, Path(path))
    spec = DatasetSpec(key=key, description=description or f"{kind} data from {path}", loader=lambda d, _s=source: _s,
                       num_classes=source.num_classes, meta_per_class=meta_per_class,
                       image_shape=tuple(source.train_images.shape[1:]), user=(kind, str(path)))
    DATASETS[key] = spec
    for cached in [k for k in _SOURCE_CACHE if k[0] == key]:  # a redefinition replaces what was loaded
        _SOURCE_CACHE.pop(cached)
    return spec


def dataset_spec(key: str) -> DatasetSpec:
    if key not in DATASETS:
        raise unknown_choice("dataset", key, DATASETS)
    return DATASETS[key]


# Loaded sources, by (dataset, data folder, download): one read per process (``protocol.load_source``).
_SOURCE_CACHE: dict[tuple, object] = {}
