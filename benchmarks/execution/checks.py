"""What `run` checks before it writes anything: every dataset's source and planned split, every model on a
blank batch of its data's shape. A problem is one line (``UserInputError``) up front, not a failed cell
per seed."""
from __future__ import annotations

from pathlib import Path

import torch

from gdw_bench.core.cell import CellConfig
from gdw_bench.datasets import dataset_spec
from gdw_bench.datasets.protocol import check_splits, load_source
from gdw_bench.errors import UserInputError, first_line
from gdw_bench.training.models import build_model


def check_data(cells: list[CellConfig], data_dir: Path | None, download: bool = False) -> None:
    """Everything the grid's cells will need, checked before anything is written: each dataset's
    source loaded once (a missing download is one line up front, not a failed cell), every planned
    (corruption, seed) split built as indices (meta split sizes, subsets, padding, non-empty splits),
    and every model built and run on a blank batch of its dataset's shape. ``download``: fetch what can
    be fetched (CIFAR) now, in this process, so the cells' processes find it on disk."""
    for cell in cells:
        cell.ensure_dataset()
    for dataset in sorted({c.dataset for c in cells}):
        load_source(dataset, data_dir, download)
    seeds_by_split: dict[tuple, set[int]] = {}
    for c in cells:
        p = c.protocol
        key = (c.dataset, c.corruption.canonical(), p.train_subset, p.test_subset, p.meta_per_class, p.pad_to,
               p.validation)
        seeds_by_split.setdefault(key, set()).add(c.seed)
    for (dataset, corruption, train_subset, test_subset, meta_per_class, pad_to, validation), seeds in \
            seeds_by_split.items():
        try:
            check_splits(dataset, corruption, sorted(seeds), data_dir, train_subset, test_subset, meta_per_class,
                         pad_to, validation)
        except UserInputError as exc:
            raise UserInputError(f"{dataset} ({corruption.slug}): {exc}") from None
    for dataset, model, pad_to in sorted({(c.dataset, c.protocol.model, c.protocol.pad_to) for c in cells}):
        check_model_fits(dataset, model, pad_to)


def check_model_fits(dataset: str, model: str, pad_to: int | None) -> None:
    """Build ``model`` (untrained) for ``dataset``'s images and classes and run a forward pass on two
    blank images: a model that cannot take the input, or returns the wrong shape, is a one-line
    error before any cell starts, not a failed cell per seed."""
    spec = dataset_spec(dataset)
    channels, height, width = spec.image_shape
    shape = (channels, pad_to, pad_to) if pad_to else (channels, height, width)
    where = f"model '{model}' on {dataset} ({'×'.join(map(str, shape))}, {spec.num_classes} classes)"
    try:
        net = build_model(model, spec.num_classes, channels, pretrained=False, image_shape=shape).eval()
        with torch.no_grad():
            out = net(torch.zeros(2, *shape))
    except UserInputError as exc:
        raise UserInputError(f"{where}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the model's own error, in one line
        raise UserInputError(f"{where} does not run: {type(exc).__name__}: {first_line(exc)}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, spec.num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserInputError(f"{where} returns {got} for a batch of 2; expected (2, {spec.num_classes}) logits")
