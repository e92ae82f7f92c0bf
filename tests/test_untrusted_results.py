"""A results folder is something people copy, share and receive: what the suite reads from one is
untrusted, and it never writes outside it or over something that is not its own file. The damage matrix
of every state file is tests/test_state_files.py; the one-line refusals are in tests/test_bad_input.py;
here are the cases that need a results root built for them."""
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gdw_bench import files
from gdw_bench.cli import cli, main
from gdw_bench.core import identity
from gdw_bench.plan import runs
from gdw_bench.plan.config import PROFILES
from gdw_bench.storage import store
from gdw_bench.storage.migrate import migrate, old_layout_records


def record_of(method: str, seed: int, score: float, **changes) -> dict:
    from test_regime import fake_record

    record = fake_record(method, seed, score, [{"phase": "train", "epoch": e, "test_acc": score} for e in range(5)])
    return {**record, "schema": 1, **changes}


def old_layout(root: Path, record: dict, method_folder: str | None = None) -> Path:
    """``record`` where the older layout kept it (``<profile>/<dataset>/<corruption>/<method>/seed-<n>``),
    its identity naming the profile and without ``overrides``; the folder."""
    old = {k: v for k, v in record["identity"].items() if k != "overrides"}
    old["profile"] = "mini"
    record = {**record, "identity": old, "config_hash": identity.config_hash(old)}
    folder = root / "mini" / "digits" / "uniform-0.4" / (method_folder or record["method"]) / f"seed-{record['seed']}"
    files.atomic_write_json(folder / store.RECORD, record)
    return folder


def everything_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


# ----- migrate: paths from data stay inside the root; a kill at any moment is finished by a rerun --------
def test_migrate_never_moves_a_cell_outside_the_results_root(tmp_path):
    root = tmp_path / "results"
    escaping = {"dataset": "../../escaped", "corruption": {**record_of("gdw", 1, 1.0)["corruption"],
                                                           "slug": "../x"}}
    for n, changes in enumerate(({"dataset": "../escaped"}, {"dataset": "/etc"}, escaping,
                                 {"corruption": {**record_of("gdw", 1, 1.0)["corruption"], "slug": ".."}})):
        old_layout(root, record_of("gdw", n + 1, 90.0, **changes))
    good = old_layout(root, record_of("basemodel", 1, 91.0))
    before = everything_under(tmp_path)
    done = migrate(root)
    assert len(done.unreadable) == 4 and all("not a plain name" in why for _, why in done.unreadable), done.unreadable
    assert [old for old, _ in done.moved] == [good]
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
    assert {p for p in everything_under(tmp_path) if not p.startswith("results")} == \
        {p for p in before if not p.startswith("results")}  # nothing written beside the root
    for folder, _ in done.unreadable:
        assert (folder / store.RECORD).exists()  # left where it was


KILL_AT_RENAME = """
import os, signal, sys
from pathlib import Path
calls, kill_at = [0], int(sys.argv[2])
real = os.replace
def replace(src, dst):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)  # a real kill, just before this rename
    return real(src, dst)
os.replace = replace
from gdw_bench.storage.migrate import migrate
migrate(Path(sys.argv[1]))
"""


@pytest.mark.slow
def test_a_kill_at_any_moment_of_migrate_is_finished_by_a_rerun_with_no_temp_file_left(tmp_path):
    """Two cells make four renames (each record rewritten in place, then its folder moved). A real SIGKILL
    just before each of them, then a plain `migrate`: every cell ends migrated, as an uninterrupted
    migration leaves it, and no temporary file is left anywhere."""
    source = tmp_path / "source"
    for seed in (1, 2):
        old_layout(source, record_of("basemodel", seed, 90.0 + seed))
    clean = tmp_path / "clean"
    shutil.copytree(source, clean)
    assert len(migrate(clean).moved) == 2
    want = {str(p.relative_to(clean)): json.loads(p.read_text()) for p in clean.rglob(store.RECORD)}
    for kill_at in range(1, 5):
        root = tmp_path / f"killed-{kill_at}"
        shutil.copytree(source, root)
        killed = subprocess.run([sys.executable, "-c", KILL_AT_RENAME, str(root), str(kill_at)], capture_output=True)
        assert killed.returncode == -9, killed.stderr  # it died where it was told to
        if kill_at % 2 == 1:  # killed before a record's rename: its temporary file is there
            assert list(root.rglob("*.tmp")), kill_at
        migrate(root)
        got = {str(p.relative_to(root)): json.loads(p.read_text()) for p in root.rglob(store.RECORD)}
        assert got == want, kill_at
        assert not old_layout_records(root) and not list(root.rglob("*.tmp")), everything_under(root)


def test_a_record_rewritten_before_a_kill_is_moved_by_the_next_migrate(tmp_path):
    root = tmp_path / "results"
    folder = old_layout(root, record_of("basemodel", 1, 90.0))
    clean = tmp_path / "clean"
    shutil.copytree(root, clean)
    (moved_from, target), = migrate(clean).moved
    # the state a kill between the two steps leaves: the record rewritten in place, the folder not moved
    shutil.copy(target / store.RECORD, folder / store.RECORD)
    (folder / ".record.json.abc.tmp").write_text("half")
    done = migrate(root)
    assert len(done.moved) == 1 and not done.unreadable
    new = root / target.relative_to(clean)
    assert json.loads((new / store.RECORD).read_text()) == json.loads((target / store.RECORD).read_text())
    assert not list(root.rglob("*.tmp")) and not old_layout_records(root)


# ----- writes never replace what is not the suite's own ---------------------------------------------
def test_a_report_never_replaces_a_special_file_inside_its_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    out = tmp_path / "rep"
    out.mkdir()
    os.mkfifo(out / "table2.md")
    with pytest.raises(SystemExit) as exited:
        main(["report", "--table", "2", "--out", str(out)])
    assert exited.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Error")]
    assert len(err) == 1 and "is a FIFO, not a file gdw-bench wrote" in err[0], err
    assert stat.S_ISFIFO(os.lstat(out / "table2.md").st_mode)
    assert not list(out.glob("*.tmp"))


def test_atomic_writes_refuse_to_replace_a_special_file_or_a_symlink(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    os.symlink("/dev/null", tmp_path / "link")
    for name in ("fifo", "link"):
        with pytest.raises(FileExistsError):
            files.atomic_write_bytes(tmp_path / name, b"x")
    assert stat.S_ISFIFO(os.lstat(tmp_path / "fifo").st_mode) and os.readlink(tmp_path / "link") == "/dev/null"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "link"]


def test_run_with_a_file_named_runs_in_the_results_root_is_one_line_and_trains_nothing(tmp_path, capsys):
    root = tmp_path / "results"
    root.mkdir()
    (root / "runs").write_text("not a folder")
    with pytest.raises(SystemExit) as exited:
        main(["run", "--table", "2", "--methods", "basemodel", "--seeds", "1", "--levels", "0.4", "--threads", "1",
              "--results-dir", str(root)])
    assert exited.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("Error")]
    assert len(err) == 1 and "cannot write" in err[0] and "runs" in err[0], err
    assert sorted(p.name for p in root.iterdir()) == ["runs"]


# ----- stored runs -----------------------------------------------------------------------------------
def test_a_damaged_run_written_last_is_named_and_the_report_uses_the_last_good_one(small_grid, tmp_path):
    root = tmp_path / "results"
    shutil.copytree(small_grid, root)
    (good,) = runs.names(root)
    broken = json.loads(runs.path_of(root, good).read_text())
    broken.update(name="broken", written_at="2999-01-01T00:00:00+00:00", seeds="abc")
    runs.path_of(root, "broken").write_text(json.dumps(broken))
    os.mkfifo(runs.path_of(root, "piped"))  # would block a plain read
    shown = CliRunner().invoke(cli, ["report", "--table", "2", "--results-dir", str(root), "--out",
                                     str(tmp_path / "rep")])
    assert shown.exit_code == 0, shown.output
    warnings = [line for line in shown.output.splitlines() if line.startswith("warning") and "runs/" in line]
    assert len(warnings) == 2, warnings
    assert any("broken.json: field 'seeds' is text" in w for w in warnings)
    assert any("piped.json: it is a FIFO" in w for w in warnings)
    assert "every cell shows as missing" not in shown.output  # the good run was used


def test_a_stored_run_with_another_name_inside_is_not_a_way_out_of_the_root(tmp_path):
    root = tmp_path / "results"
    run = runs.StoredRun(name="mini", profile=PROFILES["mini"], tables=["2"],
                          seeds=[1], written_at="2026-01-01T00:00:00+00:00").to_json()
    (root / "runs").mkdir(parents=True)
    (root / "runs" / "mini.json").write_text(json.dumps({**run, "name": "../../elsewhere"}))
    problems = []
    assert runs.names(root, problems) == [] and "is not a plain name" in problems[0]


# ----- method cards --------------------------------------------------------------------------------
CARDS_FROM = """
import sys
from pathlib import Path
from click.testing import CliRunner
from gdw_bench.methods import cards
cards.STORED = Path(sys.argv[1])
from gdw_bench.cli import cli
for args in (["list", "methods"], ["info", "gdw"], ["run", "--table", "2", "--dry-run", "--results-dir", sys.argv[2]]):
    result = CliRunner().invoke(cli, args)
    print("EXIT", args[0], result.exit_code, repr(result.exception) if result.exception else "")
    print(result.output)
"""


@pytest.mark.parametrize("content", ["null", '{"format": 1, "source_hash": "x", "methods": [{"key": 3}]}', "[]"])
def test_damaged_method_cards_are_one_warning_and_list_info_and_dry_run_still_work(tmp_path, content):
    from gdw_bench.methods import cards

    damaged = tmp_path / "cards.json"
    stored = json.loads(cards.STORED.read_text(encoding="utf-8"))
    if content.startswith('{"format"'):  # a matching hash: the file would be trusted on it alone
        content = content.replace('"x"', json.dumps(stored["source_hash"]))
    damaged.write_text(content)
    done = subprocess.run([sys.executable, "-c", CARDS_FROM, str(damaged), str(tmp_path / "results")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [line.split()[2] for line in done.stdout.splitlines() if line.startswith("EXIT")] == ["0", "0", "0"], \
        done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    said = done.stdout + done.stderr  # the commands' own streams are the runner's, printed as its output
    warnings = [line for line in said.splitlines() if "cards.json" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning:"), said
    assert "GDW" in done.stdout and "gdw" in done.stdout


# ----- printed commands are quoted -----------------------------------------------------------------
def test_a_suggested_command_pastes_as_the_same_arguments_and_runs_nothing(tmp_path):
    from gdw_bench.plan.config import load_profile
    from gdw_bench.plan.specs import get_table
    from gdw_bench.reporting import report as rep

    hostile = "description=a;touch PWNED $(touch PWNED2) 'x"
    profile = load_profile(None, (hostile, "epochs=3"), base="mini")
    lines = rep.regime_lines([record_of("basemodel", 1, 90.0)], get_table("2"), profile, (1,))
    line = next(line for line in lines if "train it:" in line)
    command = line.split("train it: ", 1)[1].split(").", 1)[0]
    assert shlex.split(command) == ["gdw-bench", "run", "--table", "2", "--set", hostile, "--set", "epochs=3",
                                    "--methods", "basemodel", "--levels", "0.4"]
    done = subprocess.run(["sh", "-c", f"printf '%s\\n' {command[len('gdw-bench '):]}"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0 and hostile in done.stdout.splitlines()
    assert not list(tmp_path.iterdir())  # pasted, it ran nothing it held


def test_the_report_command_run_prints_is_quoted(tmp_path):
    from gdw_bench.errors import suggested_command

    line = suggested_command("report", "--profile", "mini", "--results-dir", tmp_path / "my results; rm -rf x")
    assert shlex.split(line)[-1] == str(tmp_path / "my results; rm -rf x")


# ----- names and sets ----------------------------------------------------------------------------------
def test_generated_names_stay_within_the_limit_by_construction():
    from gdw_bench.plan import planner
    from gdw_bench.plan.config import NAME_MAX, check_name

    long_key = "gdw." + "outer_lr"  # a real key, with a long base name and many values
    request = planner.RunRequest(table="2", seeds="1", methods="gdw", levels="0.4", profile="mini",
                                 sets=(f"name={'n' * NAME_MAX}",),
                                 sweeps=(f"{long_key}=10,20", "epochs=3,4", "datasets.digits.lr=0.05,0.1"))
    the_plan = planner.plan(request)
    for name in [the_plan.name, *(p.name for p, _ in the_plan.points)]:
        assert len(name) <= NAME_MAX and check_name(name) == name
    assert len({p.name for p, _ in the_plan.points}) == len(the_plan.points) == 8


def test_an_extended_file_with_a_space_or_an_accent_in_its_stem_can_be_extended(tmp_path):
    from gdw_bench.plan.config import load_profile

    (tmp_path / "my base é.toml").write_text('extends = "mini"\n[datasets.digits]\nepochs = 7\n')
    (tmp_path / "child.toml").write_text('extends = "my base é.toml"\nname = "child-run"\n')
    profile = load_profile(tmp_path / "child.toml")
    assert profile.name == "child-run" and profile.protocols["digits"].epochs == 7


# ----- two methods with one title ----------------------------------------------------------------------
def test_two_methods_with_one_title_are_told_apart_in_every_format(tmp_path, monkeypatch):
    root = tmp_path / "results"
    for seed in (1, 2):
        for method, title, score in (("gdw", "GDW", 90.0 + seed), ("gdw_clone", "GDW", 80.0 + seed),
                                     ("sce", "SCE", 70.0 + seed), ("sce2", "SCE", 60.0 + seed)):
            record = record_of(method, seed, score, method_title=title)
            folder = root / "digits" / "uniform-0.4" / method / "cfg-x" / f"seed-{seed}"
            files.atomic_write_json(folder / store.RECORD, record)
    monkeypatch.chdir(tmp_path)
    for fmt in ("markdown", "latex", "csv"):
        shown = CliRunner().invoke(cli, ["report", "--table", "2", "--methods", "all", "--seeds", "1,2", "--format",
                                         fmt, "--out", str(tmp_path / f"rep-{fmt}")])
        assert shown.exit_code == 0, (fmt, shown.output, shown.exception)
        if fmt == "csv":  # one row per seed, keyed by the method's key
            assert {",gdw,", ",gdw_clone,", ",sce,", ",sce2,"} <= {f",{line.split(',')[6]}," for line in
                                                                   shown.output.splitlines()[1:] if line.count(",") > 6}
            continue
        for name in ("GDW (gdw_clone)", "SCE (sce)", "SCE (sce2)"):
            assert (name.replace("_", "\\_") if fmt == "latex" else name) in shown.output, (fmt, name)
    full = CliRunner().invoke(cli, ["report", "--methods", "all", "--seeds", "1,2", "--out", str(tmp_path / "full")])
    assert full.exit_code == 0, (full.output, full.exception)
    page = (tmp_path / "full" / "index.html").read_text()
    assert "GDW (gdw_clone)" in page and "SCE (sce2)" in page
