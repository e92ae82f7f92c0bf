"""Results as data: the Python API, export (cells and per-epoch curves), parquet round trip, and the
example of docs/results.md run as written."""
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from gdw_bench import results

RESULTS_PAGE = Path(__file__).resolve().parent.parent / "docs" / "results.md"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    args = ["run", "--table", "2", "--seeds", "1,2", "--methods", "basemodel,gdw", "--levels", "0.4", "--threads", "1"]
    out = subprocess.run([sys.executable, "-m", "gdw_bench.cli", *args], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return root


@pytest.mark.slow
def test_load_curves_and_compare(trained):
    cells = results.load(trained / "results")
    assert len(cells) == 4 and set(cells["method"]) == {"basemodel", "gdw"}
    assert set(cells["paper_dataset"]) == {"cifar10"} and set(cells["dataset"]) == {"digits"}
    epochs = results.curves(trained / "results")
    epochs_per_cell = cells.shape[0] and len(epochs) // 4
    from gdw_bench.plan.config import get_profile

    assert epochs_per_cell == get_profile("mini").protocols["digits"].epochs
    assert {"test_acc", "train_acc_noisy", "train_acc_true"} <= set(epochs.columns)
    assert epochs.loc[epochs["method"] == "gdw", "weight_wrong"].notna().all()
    both = results.compare(trained / "results")
    gdw = both[both["method"] == "gdw"].iloc[0]
    paper = results.paper()
    ref = paper[(paper["table"] == "2") & (paper["paper_dataset"] == "cifar10") & (paper["setting"] == "uniform")
                & (paper["level"] == "0.4") & (paper["method"] == "gdw")]["mean"].item()
    assert gdw["count"] == 2 and gdw["stand_in"] and gdw["mean_paper"] == pytest.approx(ref)
    assert gdw["mean"] == pytest.approx(cells.loc[cells["method"] == "gdw", "score"].mean())
    assert gdw["delta"] == pytest.approx(gdw["mean"] - ref)


@pytest.mark.slow
def test_export_parquet_round_trips_through_pandas(trained):
    pytest.importorskip("pyarrow")
    for flag, rows in (([], 4), (["--curves"], len(results.curves(trained / "results")))):
        out = subprocess.run([sys.executable, "-m", "gdw_bench.cli", "export", "--out", "x.parquet", *flag],
                             cwd=trained, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        frame = pd.read_parquet(trained / "x.parquet")
        expected = results.curves(trained / "results") if flag else results.load(trained / "results")
        assert len(frame) == rows
        def same_missing(f):  # parquet reads a missing bool as None, pandas holds NaN: the same "no value"
            return f.reset_index(drop=True).astype(object).where(f.reset_index(drop=True).notna(), None)

        pd.testing.assert_frame_equal(same_missing(frame), same_missing(expected), check_dtype=False)


def test_the_results_pages_python_api_example_runs_as_written(trained, monkeypatch):
    text = RESULTS_PAGE.read_text(encoding="utf-8")
    section = text[text.index("## Results as data"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(trained)
    namespace = {}
    exec(compile(code, "docs/results.md", "exec"), namespace)
    assert len(namespace["cells"]) == 4


@pytest.mark.slow
def test_tensorboard_events_per_cell(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    args = ["run", "--table", "2", "--seeds", "1", "--methods", "gdw", "--levels", "0.4", "--threads", "1",
            "--tensorboard"]
    out = subprocess.run([sys.executable, "-m", "gdw_bench.cli", *args], cwd=tmp_path, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    folder = next((tmp_path / "results").rglob("tensorboard"))
    events = EventAccumulator(str(folder))
    events.Reload()
    assert {"loss", "test_acc", "weight_wrong", "train_acc_noisy"} <= set(events.Tags()["scalars"])
    from gdw_bench.plan.config import get_profile

    assert len(events.Scalars("test_acc")) == get_profile("mini").protocols["digits"].epochs  # one per epoch
