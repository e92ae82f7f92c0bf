"""The command line, end to end on the mini profile."""
import json
import subprocess
import sys

import pytest


def cli(args, cwd):
    return subprocess.run([sys.executable, "-m", "gdw_bench.cli", *args], cwd=cwd, capture_output=True, text=True)


def tree(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*")) if path.exists() else []


@pytest.mark.parametrize("args,needle", [
    (["run", "--table", "2", "--seeds", "1,x"], "bad seed 'x'"),
    (["run", "--table", "2", "--methods", "gdww"], "did you mean 'gdw'"),
    (["run", "--table", "2", "--levels", "1.5"], "noise level 1.5 is outside [0, 1)"),
    (["run", "--table", "9"], "unknown table '9'"),
    (["run", "--table", "2", "--profile", "paper", "--data-dir", "nowhere", "--device", "cpu"], "cifar10 not found"),
    (["report", "--format", "html"], "unknown format 'html'"),
    (["run", "--table", "2", "--executor", "k8s"], "unknown executor 'k8s'"),
    (["run", "--table", "2", "--threads", "0"], "--threads 0 must be at least 1"),
    (["run", "--table", "2", "--device", "tpu"], "unknown device 'tpu'"),
    (["run", "--table", "2", "--results-dir", "results/keep.txt"], "is a file"),
    (["report", "--results-dir", "results/keep.txt"], "is a file"),
    (["run", "--table", "2", "--data-dir", "results/keep.txt"], "is a file"),
    (["speed", "--pack", "1,x"], "bad --pack '1,x'"),
    (["speed", "--phases", "--model", "resnet99"], "unknown model 'resnet99'"),
])
@pytest.mark.slow
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, needle):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "keep.txt").write_text("x")
    before = tree(tmp_path)
    out = cli(args, tmp_path)
    assert out.returncode == 2, out.stderr
    errors = [line for line in out.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and needle in errors[0] and "Traceback" not in out.stderr
    assert tree(tmp_path) == before


@pytest.mark.slow
def test_run_then_rerun_trains_nothing_then_report(tmp_path):
    args = ["run", "--table", "2", "--seeds", "1,2", "--methods", "basemodel,gdw", "--levels", "0.4"]
    first = cli(args, tmp_path)
    assert first.returncode == 0, first.stderr
    records = sorted((tmp_path / "results").rglob("record.json"))
    assert len(records) == 4
    stamps = [r.stat().st_mtime_ns for r in records]
    second = cli(args, tmp_path)
    assert second.returncode == 0 and "nothing to train" in second.stdout
    assert [r.stat().st_mtime_ns for r in records] == stamps
    dry = cli(args + ["--dry-run"], tmp_path)
    assert dry.stdout.count("done ") == 4
    md = cli(["report", "--table", "2", "--seeds", "1,2"], tmp_path)
    assert md.returncode == 0 and "| GDW" in md.stdout and "(1/2)" not in md.stdout
    assert "Trained on: cpu, " in md.stdout and "(4 records)" in md.stdout
    latex = cli(["report", "--table", "2", "--seeds", "1,2,3", "--format", "latex"], tmp_path)
    assert r"\toprule" in latex.stdout and r"\textbf{" in latex.stdout and "(2/3)" in latex.stdout
    csv = cli(["report", "--table", "2", "--seeds", "1,2", "--format", "csv"], tmp_path)
    assert len(csv.stdout.strip().splitlines()) == 5
    record = json.loads(records[0].read_text())
    assert {"config_hash", "data_hash", "curve", "versions", "device", "score"} <= set(record)


@pytest.mark.slow
def test_compare_paper_with_no_runs_marks_every_cell_missing(tmp_path):
    (tmp_path / "results").mkdir()  # an empty results root (a missing one is an error: test_bad_input_surfaces)
    out = cli(["report", "--table", "2", "--profile", "paper", "--compare-paper"], tmp_path)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| GDW ")]
    assert rows and "88.14" in rows[0] and "92.94" in rows[0]
    assert rows[0].count("—") >= 12  # ours and Δ missing in all six columns


@pytest.mark.slow
def test_list_and_info(tmp_path):
    methods = cli(["list", "methods"], tmp_path).stdout
    for key in ("basemodel", "finetune", "focal", "cb", "coteaching", "glc", "l2rw", "insw", "mwnet", "softlabel",
                "genlabel", "gdw", "gdw-nozm"):
        assert f"\n{key} " in "\n" + methods
    assert "fig7" in cli(["list", "tables"], tmp_path).stdout
    assert "zero-mean" in cli(["info", "gdw"], tmp_path).stdout


@pytest.mark.slow
def test_pretrained_weights_offline_is_one_line_error_and_from_scratch_runs_apart(tmp_path):
    """Table 5 (paper profile) on a generated Clothing1M tree: with no cached ImageNet weights and
    no network, `run` stops before writing; `--from-scratch` plans `<method>+scratch` cells."""
    import os

    from conftest import write_clothing1m_tree

    write_clothing1m_tree(tmp_path / "data" / "clothing1m")
    env = {**os.environ, "GDW_BENCH_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch")}
    args = ["run", "--table", "5", "--profile", "paper", "--data-dir", "data", "--methods", "basemodel",
            "--seeds", "1", "--device", "cpu"]
    before = tree(tmp_path)
    out = subprocess.run([sys.executable, "-m", "gdw_bench.cli", *args], cwd=tmp_path, capture_output=True,
                         text=True, env=env)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.count("Error") == 1 and "--from-scratch" in out.stderr
    assert tree(tmp_path) == before
    dry = subprocess.run([sys.executable, "-m", "gdw_bench.cli", *args, "--from-scratch", "--dry-run"],
                         cwd=tmp_path, capture_output=True, text=True, env=env)
    assert dry.returncode == 0, dry.stderr
    folder = f"missing  {tmp_path}/results/clothing1m/clean/basemodel+scratch/cfg-"
    assert folder in dry.stdout and dry.stdout.split(folder)[1].split("\n")[0].endswith("/seed-1")  # absolute


@pytest.mark.slow
def test_report_rows_are_the_tables_methods_unless_asked(tmp_path):
    """Cells are shared between tables (Table 4's clean column is Table 2's), so a report shows its
    spec's methods by default, every method with records under --methods all, or the given keys."""
    run = cli(["run", "--table", "4", "--seeds", "1", "--methods", "basemodel,focal", "--levels", "1"], tmp_path)
    assert run.returncode == 0, run.stderr
    rows = lambda out: [line.split("|")[1].strip() for line in out.stdout.splitlines()[2:]  # noqa: E731
                        if line.startswith("| ") and not line.startswith("| method")]
    default = cli(["report", "--table", "2", "--seeds", "1"], tmp_path)
    assert "Focal" not in rows(default) and "BaseModel" in rows(default)
    everything = cli(["report", "--table", "2", "--seeds", "1", "--methods", "all"], tmp_path)
    assert rows(everything)[-1] == "Focal" and len(rows(everything)) == 11
    chosen = cli(["report", "--table", "2", "--seeds", "1", "--methods", "focal,basemodel"], tmp_path)
    assert rows(chosen) == ["Focal", "BaseModel"]
    bad = cli(["report", "--table", "2", "--methods", "focall"], tmp_path)
    assert bad.returncode == 2 and "did you mean 'focal'" in bad.stderr


@pytest.mark.slow
def test_same_threads_per_cell_same_numbers_whether_one_process_or_a_pool(tmp_path):
    grid = ["run", "--table", "2", "--seeds", "1,2", "--methods", "basemodel", "--levels", "0.4", "--threads", "1"]
    assert cli(grid + ["--results-dir", "serial"], tmp_path).returncode == 0
    assert cli(grid + ["--results-dir", "pool", "--jobs", "2"], tmp_path).returncode == 0
    records = {}
    for where in ("serial", "pool"):
        for path in sorted((tmp_path / where).rglob("record.json")):
            record = json.loads(path.read_text())
            assert record["torch_threads"] == 1
            records.setdefault(path.relative_to(tmp_path / where), []).append(record["score"])
    assert len(records) == 2 and all(a == b for a, b in records.values())


@pytest.mark.slow
def test_report_says_when_a_results_root_has_no_records_and_warns_about_stand_ins(tmp_path):
    (tmp_path / "results").mkdir()
    out = cli(["report", "--table", "2", "--compare-paper"], tmp_path)
    assert out.returncode == 0, out.stderr
    assert f"no records match profile 'mini' under {tmp_path}/results" in out.stderr
    assert "runs stand-ins" in out.stderr
    assert "40 % uniform Δ (stand-in)" in out.stdout and "40 % uniform paper" in out.stdout


def test_speed_confidence_interval_of_a_median_uses_the_binomial_order_statistics():
    from gdw_bench.speed import median_interval

    assert median_interval(range(1, 31)) == (10, 21)  # n = 30: the 10th and 21st of the sorted ratios
    assert median_interval(range(1, 101)) == (40, 61)
    assert median_interval([6, 1, 5, 2, 4, 3]) == (1, 6)  # n = 6: P(all on one side) = 1/32 ≤ 5 %
    assert median_interval(range(5)) == (None, None)  # n = 5 cannot reach 95 %
