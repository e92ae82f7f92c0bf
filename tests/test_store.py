"""Store details users rely on: permissions, statuses, resolved hyperparameters in records."""
import os
import time

import pytest

from gdw_bench import files
from gdw_bench.errors import UserInputError
from gdw_bench.methods import get_method, hyperparameters_of
from gdw_bench.storage import store


def test_files_are_written_with_the_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        files.atomic_write_json(tmp_path / "cell" / "record.json", {"a": 1})
    finally:
        os.umask(old)
    assert (tmp_path / "cell" / "record.json").stat().st_mode & 0o777 == 0o644  # not mkstemp's 0600


def test_a_cell_that_failed_after_some_epochs_is_failed_not_partial(tmp_path):
    store.atomic_torch_save(tmp_path / store.CHECKPOINT, {"x": 1})
    assert store.cell_status(tmp_path) == "partial"
    time.sleep(0.01)
    store.write_failure(tmp_path, "abc", "FloatingPointError: non-finite training loss at epoch 3")
    assert store.cell_status(tmp_path) == "failed"
    time.sleep(0.01)
    store.atomic_torch_save(tmp_path / store.CHECKPOINT, {"x": 2})  # a later attempt got further
    assert store.cell_status(tmp_path) == "partial"


@pytest.mark.parametrize("method", ["gdw", "mwnet", "gdw-nozm"])
@pytest.mark.parametrize("clamp", [1.0, 0.0, 1.5])
def test_prob_clamp_outside_the_open_unit_interval_is_refused(method, clamp):
    with pytest.raises(UserInputError, match="prob_clamp"):
        hyperparameters_of(get_method(method), {"prob_clamp": clamp})


def test_gdw_records_the_outer_lr_it_used():
    import torch

    from gdw_bench.methods import create_method

    method = create_method("gdw", torch.nn.Linear(4, 10), num_classes=10, num_train=100)
    assert method.hp.outer_lr == pytest.approx(100.0)  # 0.1·B·K at B = 100, K = 10: never None in a record
