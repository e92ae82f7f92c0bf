"""The engine: determinism, kill-and-resume, two-network and two-phase checkpoints, failures."""
import json

import pytest
import torch

from gdw_bench.core.options import RunOptions
from gdw_bench.datasets import Corruption
from gdw_bench.plan.specs import Protocol
from gdw_bench.storage import store
from gdw_bench.training.engine import CellConfig, CellFailed, run_cell

PROTO = Protocol(model="small_cnn", epochs=4, eval_batch_size=1000)


def cell(method, seed=1, corruption=Corruption("uniform", 0.4), protocol=PROTO, diagnostics=False, **hp):
    return CellConfig(profile="test", dataset="digits", setting=corruption.noise, level=str(corruption.rate),
                      corruption=corruption, method=method, seed=seed, protocol=protocol,
                      hyperparameters=tuple(sorted(hp.items())), diagnostics=diagnostics)


def strip_times(record):
    record = json.loads(json.dumps(record))
    for key in ("wall_time_s", "finished_at", "git_commit"):
        record.pop(key, None)
    for entry in record["curve"]:
        entry.pop("epoch_time_s")
    return record


@pytest.mark.slow
@pytest.mark.parametrize("method", ["gdw", "coteaching", "glc"])
def test_kill_and_resume_gives_the_uninterrupted_record(tmp_path, method):
    c = cell(method, diagnostics=method == "gdw")
    full = run_cell(c, tmp_path / "a")
    assert run_cell(c, tmp_path / "b", stop_after_epochs=1) is None  # "killed" after epoch 1 (mid-phase)
    assert (c.folder(tmp_path / "b") / store.CHECKPOINT).exists()
    assert store.cell_status(c.folder(tmp_path / "b"), c.config_hash) == "partial"
    resumed = None
    while resumed is None:  # killed after every epoch, phase boundaries included (GLC: epoch 2 of 4)
        resumed = run_cell(c, tmp_path / "b", stop_after_epochs=1)
    assert strip_times(resumed) == strip_times(full)
    assert not (c.folder(tmp_path / "b") / store.CHECKPOINT).exists()


@pytest.mark.slow
def test_same_seed_same_record_and_other_seed_differs(tmp_path):
    a = run_cell(cell("mwnet"), tmp_path / "a")
    b = run_cell(cell("mwnet"), tmp_path / "b")
    c = run_cell(cell("mwnet", seed=2), tmp_path / "c")
    assert strip_times(a) == strip_times(b)
    assert a["data_hash"] != c["data_hash"] and a["curve"] != c["curve"]
    assert len(a["curve"]) == 4 and a["score"] == pytest.approx(sum(e["test_acc"] for e in a["curve"][-4:]) / 4)


def test_every_method_sees_the_same_data(tmp_path):
    one_epoch = Protocol(model="small_cnn", epochs=1)
    hashes = {run_cell(cell(m, protocol=one_epoch), tmp_path)["data_hash"] for m in ("basemodel", "l2rw")}
    assert len(hashes) == 1


@pytest.mark.slow
def test_records_hold_method_extras_and_the_second_network(tmp_path):
    glc = run_cell(cell("glc"), tmp_path)
    matrix = torch.tensor(glc["extras"]["corruption_matrix_estimate"])
    assert matrix.shape == (10, 10) and torch.allclose(matrix.sum(1), torch.ones(10, dtype=matrix.dtype), atol=1e-5)
    assert [e["phase"] for e in glc["curve"]] == ["noisy", "noisy", "corrected", "corrected"]
    co = run_cell(cell("coteaching"), tmp_path)
    assert len(co["curve"]) == 2 and co["score_net2"] is not None
    gdw = run_cell(cell("gdw", diagnostics=True), tmp_path)
    diag = gdw["diagnostics_per_epoch"][-1]
    assert sum(diag["omega_t_hist"]["noisy"]) > 0 and len(diag["increased_by_class"]) == 10
    assert all(0 <= inc <= total for inc, total in diag["increased"].values())


def test_a_failing_cell_is_recorded_and_not_done(tmp_path, monkeypatch):
    from gdw_bench.methods import basemodel

    def explode(self, batch, meta_batch=None):
        return {"loss": torch.tensor(float("nan"))}

    monkeypatch.setattr(basemodel.BaseModel, "train_step", explode)
    c = cell("basemodel")
    with pytest.raises(CellFailed, match="non-finite"):
        run_cell(c, tmp_path)
    assert store.cell_status(c.folder(tmp_path), c.config_hash) == "failed"
    assert not (c.folder(tmp_path) / store.RECORD).exists()


@pytest.mark.cuda
def test_every_method_runs_on_cuda(tmp_path):
    from gdw_bench.methods import list_methods

    for method in list_methods():
        one_epoch = Protocol(model="small_cnn", epochs=1)
        record = run_cell(cell(method, protocol=one_epoch), tmp_path, RunOptions(device="cuda"))
        assert record["device"].startswith("cuda")


@pytest.mark.slow
def test_from_scratch_cells_train_resnet18_and_report_apart_from_pretrained(tmp_path):
    """One epoch of the paper's Table 5 protocol on a generated Clothing1M tree, ResNet-18 from scratch."""
    import dataclasses

    from conftest import write_clothing1m_tree

    from gdw_bench.plan.config import PROFILES
    from gdw_bench.plan.grid import table_cells
    from gdw_bench.plan.specs import TABLES
    from gdw_bench.reporting.report import collect, load_records

    write_clothing1m_tree(tmp_path / "data" / "clothing1m")
    table, paper = TABLES["5"], PROFILES["paper"]
    one_epoch = dataclasses.replace(paper.protocols["clothing1m"], epochs=1)
    profile = dataclasses.replace(paper, protocols={**paper.protocols, "clothing1m": one_epoch})
    pretrained_cell, = table_cells(table, profile, [1], ("basemodel",))
    scratch_cell, = table_cells(table, profile, [1], ("basemodel",), from_scratch=True)
    assert pretrained_cell.protocol.pretrained and not scratch_cell.protocol.pretrained
    assert scratch_cell.config_hash != pretrained_cell.config_hash
    record = run_cell(scratch_cell, tmp_path / "results", RunOptions(device="cpu", data_dir=str(tmp_path / "data")))
    assert scratch_cell.folder(tmp_path / "results").name == "seed-1"
    assert scratch_cell.folder(tmp_path / "results").parent.parent.name == "basemodel+scratch"
    assert record["from_scratch"] and not record["pretrained"] and record["model"] == "resnet18"
    records = load_records(tmp_path / "results")
    assert len(collect(records, table, profile, [1], from_scratch=True)) == 1
    assert len(collect(records, table, profile, [1])) == 0


def test_the_prepared_data_of_one_process_is_never_shared_across_crop_paddings():
    """Cells differing only in the random crop's padding (a protocol field) get their own splits: the
    per-process cache of prepared data keys on every argument prepare() reads."""
    import dataclasses

    from gdw_bench.training.loop import prepared_data

    base = CellConfig(profile="mini", dataset="digits", setting="uniform", level="0.4",
                      corruption=Corruption("uniform", 0.4), method="basemodel", seed=1,
                      protocol=Protocol(model="mlp128bn", epochs=1, augment=True))
    padded = dataclasses.replace(base, protocol=dataclasses.replace(base.protocol, crop_pad=3))
    plain, other = prepared_data(base, torch.device("cpu"), None), prepared_data(padded, torch.device("cpu"), None)
    assert plain is not other and other.train.augment.pad == 3 and plain.train.augment.pad != 3
