"""Data protocol: sources, corruption, meta split and device-resident batches (``gdw_bench.datasets``)."""
from .batches import Batch, FileBatches, TensorBatches, augment_batch
from .corruption import Corruption, expected_wrong_fraction, flip_targets, long_tail_counts, transition_matrix
from .protocol import DATASETS, USER_SOURCES, PreparedData, dataset_spec, prepare, register_user_dataset
from .sources import default_data_dir

__all__ = ["Batch", "Corruption", "DATASETS", "USER_SOURCES", "register_user_dataset", "FileBatches", "PreparedData", "TensorBatches", "augment_batch",
           "dataset_spec", "default_data_dir", "expected_wrong_fraction", "flip_targets", "long_tail_counts",
           "prepare", "transition_matrix"]
