"""The SLURM executor: a real job array on a local one-node cluster when one is up
(`bash .ci/slurm-up.sh` starts it; CI does), and its failure bookkeeping without one."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from gdw_bench import files
from gdw_bench.datasets import Corruption
from gdw_bench.plan.specs import Protocol
from gdw_bench.storage import store
from gdw_bench.training.engine import CellConfig

pytestmark = pytest.mark.slow  # a real cluster / a GPU: the full tier (make test-all)


def slurm_cluster_up() -> bool:
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        return False
    try:
        import submitit  # noqa: F401
    except ImportError:
        return False
    return subprocess.run(["sinfo", "-h"], capture_output=True, timeout=20).returncode == 0


def cli(args, cwd, **env):
    return subprocess.run([sys.executable, "-m", "gdw_bench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **env})


def scores(root: Path) -> dict:
    return {str(p.parent.relative_to(root)): json.loads(p.read_text()) for p in sorted(root.rglob("record.json"))}


@pytest.mark.skipif(not slurm_cluster_up(), reason="no SLURM cluster here (bash .ci/slurm-up.sh starts a local one)")
def test_a_slurm_job_array_gives_the_local_records_and_is_not_resubmitted(tmp_path):
    grid = ["run", "--table", "2", "--profile", "mini", "--methods", "basemodel,gdw", "--levels", "0.4", "--seeds", "1"]
    on_slurm = cli(grid + ["--executor", "slurm", "--slurm-cpus", "1", "--slurm-mem-gb", "2",
                           "--results-dir", "slurm"], tmp_path)
    assert on_slurm.returncode == 0, on_slurm.stderr
    local = cli(grid + ["--jobs", "2", "--results-dir", "local"], tmp_path)  # 1 thread per cell, as on SLURM
    assert local.returncode == 0, local.stderr
    from_slurm, from_local = scores(tmp_path / "slurm"), scores(tmp_path / "local")
    assert len(from_slurm) == 2 and from_slurm.keys() == from_local.keys()
    for key, record in from_slurm.items():
        assert record["slurm_job_id"] and from_local[key]["slurm_job_id"] is None
        assert record["score"] == from_local[key]["score"] and record["data_hash"] == from_local[key]["data_hash"]
    assert not list((tmp_path / "slurm").rglob(store.QUEUED))
    submissions = sorted((tmp_path / "slurm" / ".slurm").iterdir())
    again = cli(grid + ["--executor", "slurm", "--results-dir", "slurm"], tmp_path)
    assert again.returncode == 0 and "nothing to train" in again.stdout
    assert sorted((tmp_path / "slurm" / ".slurm").iterdir()) == submissions


def test_slurm_executor_without_sbatch_is_a_one_line_error(tmp_path):
    out = cli(["run", "--table", "2", "--executor", "slurm"], tmp_path, PATH=str(tmp_path / "empty"))
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.count("Error") == 1 and "valid executors here: local" in out.stderr
    assert not any(tmp_path.iterdir())


def test_a_job_that_died_without_a_result_leaves_failed_json(tmp_path):
    from gdw_bench.execution.execute import record_death
    from gdw_bench.execution.slurm import _outcome

    class DeadJob:
        job_id, state = "12_3", "CANCELLED"
        paths = SimpleNamespace(stderr=tmp_path / "12_3_0_log.err")

        def result(self):
            raise RuntimeError("Job 12_3 (task: 0) with path … has not produced any output (state: CANCELLED)")

    cell = CellConfig(profile="test", dataset="digits", setting="uniform", level="0.4",
                      corruption=Corruption("uniform", 0.4), method="basemodel", seed=1,
                      protocol=Protocol(model="small_cnn", epochs=1))
    files.atomic_write_json(cell.folder(tmp_path) / store.QUEUED, {"job_id": "12_3"})
    result, error = _outcome(DeadJob())
    assert result is None and "SLURM job 12_3 (CANCELLED)" in error and "12_3_0_log.err" in error
    record_death(cell, tmp_path, error, DeadJob.job_id)
    assert store.cell_status(cell.folder(tmp_path), cell.config_hash) == "failed"
    assert store.read_json(cell.folder(tmp_path) / store.FAILED)["slurm_job_id"] == "12_3"
    assert not (cell.folder(tmp_path) / store.QUEUED).exists()


@pytest.mark.skipif(not slurm_cluster_up(), reason="no SLURM cluster here (bash .ci/slurm-up.sh starts a local one)")
def test_tune_trains_its_trials_as_slurm_job_arrays_and_chooses_as_locally(tmp_path):
    (tmp_path / "fast.toml").write_text('extends = "mini"\nname = "fast"\n[datasets.digits]\nepochs = 3\n')
    tune = ["tune", "--config", "fast.toml", "--methods", "focal", "--levels", "0.4", "--budget", "2", "--no-final"]
    on_slurm = cli(tune + ["--executor", "slurm", "--slurm-cpus", "1", "--slurm-mem-gb", "2", "--results-dir", "slurm"],
                   tmp_path)
    assert on_slurm.returncode == 0, on_slurm.stderr
    assert "trained 2 of 2 trial cells" in on_slurm.stdout
    local = cli(tune + ["--jobs", "1", "--threads", "1", "--results-dir", "local"], tmp_path)
    assert local.returncode == 0, local.stderr
    assert all(r["slurm_job_id"] for r in scores(tmp_path / "slurm").values())
    name = "mini+tuned-noisy-val-0.4.toml"
    assert (tmp_path / "slurm" / "tuned" / name).read_text() == (tmp_path / "local" / "tuned" / name).read_text()
