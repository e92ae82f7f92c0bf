"""A run as data: cells found by identity (a --set or --sweep of one method's hyperparameter reuses every
other cell), the resolved run stored and read back by `report`, report folders per selection, and
results roots of the older layout migrated in place, never retrained."""
import json
import re

import pytest
from click.testing import CliRunner

from gdw_bench import files
from gdw_bench.cli import cli
from gdw_bench.core import identity
from gdw_bench.datasets import Corruption
from gdw_bench.plan import runs
from gdw_bench.plan.config import PROFILES
from gdw_bench.storage import store
from gdw_bench.training.engine import CellConfig, run_cell

DRY = ["run", "--table", "2", "--profile", "mini", "--dry-run"]


def folders(output: str) -> dict[str, set[str]]:
    """Cell folders a dry run lists, by method."""
    found: dict[str, set[str]] = {}
    for line in output.splitlines():
        match = re.match(r"\w+\s+(\S+/(\w[\w+-]*)/cfg-\w+/seed-\d+)$", line)
        if match:
            found.setdefault(match.group(2), set()).add(match.group(1))
    return found


def test_a_sweep_of_one_hyperparameter_plans_new_cells_for_that_method_only(tmp_path):
    plain = CliRunner().invoke(cli, [*DRY, "--results-dir", str(tmp_path)])
    swept = CliRunner().invoke(cli, [*DRY, "--results-dir", str(tmp_path), "--sweep", "gdw.outer_lr=10,50,100"])
    assert plain.exit_code == 0 and swept.exit_code == 0, swept.output
    before, after = folders(plain.output), folders(swept.output)
    assert "165 cells" not in swept.output and "180 cells" in swept.output  # 9 × 15 shared + 3 × 15 GDW
    for method in before:
        if method != "gdw":
            assert after[method] == before[method], method  # the very same folders: nothing retrained
    assert len(after["gdw"]) == 45 and not after["gdw"] & before["gdw"]


def test_set_on_one_method_shares_every_other_methods_cells_and_epochs_changes_them_all(tmp_path):
    base = folders(CliRunner().invoke(cli, [*DRY, "--results-dir", str(tmp_path)]).output)
    one = folders(CliRunner().invoke(cli, [*DRY, "--results-dir", str(tmp_path), "--set", "gdw.outer_lr=50"]).output)
    assert {m for m in base if base[m] != one[m]} == {"gdw"}
    epochs = folders(CliRunner().invoke(cli, [*DRY, "--results-dir", str(tmp_path), "--set", "epochs=20"]).output)
    assert all(not (base[m] & epochs[m]) for m in base)


def test_a_plan_is_the_request_resolved_once_as_plain_data():
    """plan(RunRequest) -> Plan: every cell with its protocol, resolved hyperparameters (defaults applied),
    method version and identity; a sweep's points each a resolved profile; the stored run made from it."""
    from gdw_bench.methods.cards import card
    from gdw_bench.plan.planner import RunRequest, plan

    the_plan = plan(RunRequest(table="2", seeds="1,10", sweeps=("gdw.outer_lr=10,50",), sets=("epochs=20",)))
    assert [k for k, _ in the_plan.axes] == ["gdw.outer_lr"]
    assert the_plan.name == f"{the_plan.profile.name}+sweep-gdw.outer_lr" and the_plan.profile.name.startswith("mini+")
    gdw = [c for c in the_plan.cells if c.method == "gdw"]
    # mini Table 2: 3 columns × 2 seeds; the 9 other methods once, GDW once per swept value
    assert len(the_plan.cells) == 9 * 3 * 2 + 2 * 3 * 2 and len(gdw) == 12
    for cell in the_plan.cells:
        ident = cell.identity()
        assert ident["protocol"]["epochs"] == 20 and ident["method_version"] == card(cell.method).version
        assert ident["hyperparameters"] == card(cell.method).resolve(dict(cell.hyperparameters))
    assert {c.identity()["hyperparameters"]["outer_lr"] for c in gdw} == {10.0, 50.0}
    stored = the_plan.stored_run()
    assert stored.seeds == [1, 10] and [p.name for p, _ in stored.points] == [p.name for p, _ in the_plan.points]


def test_a_bad_sweep_is_one_line_and_writes_nothing(tmp_path):
    for sweep, needle in (("gdw.outer_lr", "expected KEY=V1,V2"), ("gdw.outer_lr=", "expected KEY=V1,V2"),
                          ("gdw.nope=1,2", "nope")):
        out = CliRunner().invoke(cli, ["run", "--table", "2", "--results-dir", str(tmp_path / "r"), "--sweep", sweep])
        assert out.exit_code != 0 and needle in str(out.exception) + out.output, (sweep, out.output)
    assert not (tmp_path / "r").exists()


def test_report_describes_the_stored_run_without_set_again(small_grid):
    stored = json.loads(next((small_grid / "runs").glob("*.json")).read_text())
    assert stored["profile"]["protocols"]["digits"]["epochs"] == 3 and stored["seeds"] == [1, 10, 100]
    out = CliRunner().invoke(cli, ["report", "--table", "2", "--results-dir", str(small_grid), "--out",
                                   str(small_grid.parent / "stored-report")])
    assert out.exit_code == 0, out.output
    assert "3 epochs" in out.output and "seeds 1,10,100" in out.output
    assert f"Profile '{stored['name']}'" in out.output


@pytest.mark.slow  # trains 12 cells end to end (the fast tier plans sweeps: test_a_sweep_of_one_hyperparameter…)
def test_a_sweep_trains_only_its_new_cells_and_reports_one_row_per_value(small_grid, tmp_path, monkeypatch):
    """On a copy of the small grid, a sweep of GDW's outer_lr trains 2 values × 2 columns × 3 seeds and
    nothing else (every other cell is found where it is); its report has the base row, labelled with
    what it has on the swept axis, and one row per value."""
    import shutil

    root = tmp_path / "results"
    shutil.copytree(small_grid, root)
    args = ["run", "--table", "2", "--set", "epochs=3", "--seeds", "1,10,100", "--methods", "basemodel,mwnet,gdw",
            "--levels", "0,0.4", "--threads", "1", "--results-dir", str(root), "--sweep", "gdw.outer_lr=10,50"]
    out = CliRunner().invoke(cli, args)
    assert out.exit_code == 0, out.output
    assert "training 12 " in out.output and "trained 12 cells, 12 were already done" in out.output
    report = CliRunner().invoke(cli, ["report", "--table", "2", "--results-dir", str(root), "--out", str(tmp_path / "r")])
    assert report.exit_code == 0, report.output
    rows = [line.split("|")[1].strip() for line in report.output.splitlines() if line.startswith("| GDW")]
    assert rows == ["GDW (outer_lr=default)", "GDW (outer_lr=10)", "GDW (outer_lr=50)"]
    assert "gdw.outer_lr = 10, 50, one row per value" in report.output
    assert "Each swept value is a line of its own" in (tmp_path / "r" / "table2_curves.txt").read_text()
    # the sweep ran Table 2: Table 4 (which shares its clean column) and the summary show no sweep rows
    table4 = CliRunner().invoke(cli, ["report", "--table", "4", "--results-dir", str(root), "--out", str(tmp_path / "r4")])
    assert table4.exit_code == 0, table4.output
    assert [line.split("|")[1].strip() for line in table4.output.splitlines() if line.startswith("| GDW")] == ["GDW"]
    summary = CliRunner().invoke(cli, ["report", "--summary", "--table", "2,4", "--results-dir", str(root), "--out",
                                       str(tmp_path / "rs")])
    assert summary.exit_code == 0 and "outer_lr" not in "".join(
        line for line in summary.output.splitlines() if line.startswith("|")), summary.output
    # a sweep and its base profile report into folders of their own
    sweep_name, base_name = runs.names(root)
    assert "+sweep-" in sweep_name and "+sweep-" not in base_name
    monkeypatch.chdir(tmp_path)
    for name in (sweep_name, base_name):
        done = CliRunner().invoke(cli, ["report", "--table", "2", "--profile", name, "--results-dir", str(root)])
        assert done.exit_code == 0, done.output
        assert json.loads((tmp_path / "reports" / name / "report.json").read_text())["profile"] == name


def test_a_report_folder_keeps_one_selection(small_grid, tmp_path):
    args = ["report", "--table", "2", "--results-dir", str(small_grid), "--out", str(tmp_path)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    before = (tmp_path / "table2.md").read_text()
    other = CliRunner().invoke(cli, [*args, "--methods", "all"])
    assert other.exit_code != 0 and "another selection" in str(other.exception)
    assert (tmp_path / "table2.md").read_text() == before  # untouched


def old_layout_record(root, cell: CellConfig, scratch):
    """A cell trained today (in ``scratch``), then put under ``root`` where and how the older layout
    kept it: in its profile's folder, its identity naming the profile and without ``overrides``."""
    record = run_cell(cell, scratch)
    old = {k: v for k, v in record["identity"].items() if k != "overrides"}
    old["profile"] = cell.profile
    record["identity"], record["config_hash"] = old, identity.config_hash(old)
    folder = root / cell.profile / cell.dataset / cell.corruption.slug / cell.method_folder / f"seed-{cell.seed}"
    files.atomic_write_json(folder / store.RECORD, record)
    return record


def test_an_older_layout_is_read_as_is_refused_by_run_and_migrated_without_retraining(tmp_path):
    mini = PROFILES["mini"]
    cell = CellConfig(profile="mini", dataset="digits", setting="uniform", level="0.4",
                      corruption=Corruption("uniform", 0.4), method="basemodel", seed=1,
                      protocol=mini.protocols["digits"])
    root = tmp_path / "results"
    record = old_layout_record(root, cell, tmp_path / "scratch")
    grid = ["--table", "2", "--profile", "mini", "--methods", "basemodel", "--seeds", "1", "--levels", "0.4",
            "--results-dir", str(root)]
    shown = CliRunner().invoke(cli, ["report", "--table", "2", "--profile", "mini", "--seeds", "1", "--results-dir",
                                     str(root), "--out", str(tmp_path / "rep")])
    assert f"{record['score']:.2f}" in shown.output  # read as it is
    refused = CliRunner().invoke(cli, ["run", *grid])
    assert refused.exit_code != 0 and "gdw-bench migrate" in str(refused.exception)
    moved = CliRunner().invoke(cli, ["migrate", "--results-dir", str(root)])
    assert moved.exit_code == 0 and "1 cells moved" in moved.output, moved.output
    assert not (root / "mini").exists()
    dry = CliRunner().invoke(cli, ["run", *grid, "--dry-run"])
    assert "1 cells: 1 done" in dry.output, dry.output
    migrated = json.loads((cell.folder(root) / store.RECORD).read_text())
    assert migrated["score"] == record["score"] and migrated["migrated_from"] == "mini/digits/uniform-0.4/basemodel/seed-1"
