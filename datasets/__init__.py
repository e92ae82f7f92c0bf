"""Data protocol: sources, corruption, meta split and device-resident batches (``gdw_bench.datasets``).

Names are loaded on first use (PEP 562): ``Corruption`` and the other pure-numpy helpers come without
torch, so planning, `report` and `list` never import it; ``Batch``, ``prepare`` and the sources do.
"""
from __future__ import annotations

import importlib

_WHERE = {
    "Batch": "batches", "FileBatches": "batches", "TensorBatches": "batches", "augment_batch": "batches",
    "Corruption": "corruption", "expected_wrong_fraction": "corruption", "flip_targets": "corruption",
    "long_tail_counts": "corruption", "transition_matrix": "corruption",
    "DATASETS": "catalogue", "USER_SOURCES": "catalogue", "PreparedData": "protocol", "dataset_spec": "catalogue",
    "DatasetSpec": "catalogue", "prepare": "protocol", "register_user_dataset": "catalogue",
    "default_data_dir": "sources",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
