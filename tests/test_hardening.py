"""Hardening: one runner per cell, kills anywhere, corrupt state, divergence, dead workers.

The command-line tests run ``gdw-bench`` as real processes on the mini profile's Table 2 (digits,
80 epochs; a BaseModel cell takes about 1.5 s, a GDW cell about 6 s on one thread)."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gdw_bench import files
from gdw_bench.core.options import RunOptions
from gdw_bench.datasets import Corruption
from gdw_bench.plan.specs import Protocol
from gdw_bench.storage import record as record_schema
from gdw_bench.storage import store
from gdw_bench.training import cpu_tuning
from gdw_bench.training.engine import CellConfig, CellFailed, run_cell

GRID = ["run", "--table", "2", "--profile", "mini", "--levels", "0.4", "--threads", "1"]


def gdw_bench(args, cwd, **kwargs):
    return subprocess.run([sys.executable, "-m", "gdw_bench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          **kwargs)


def start(args, cwd, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "gdw_bench.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs)


def cell_folder(root, method: str, seed: int) -> Path:
    """Where GRID's cell of ``method`` and ``seed`` lives under ``root`` (found by its identity)."""
    from gdw_bench.plan.config import PROFILES
    from gdw_bench.plan.grid import cells_of_tables as plan
    from gdw_bench.plan.specs import get_table

    cell, = plan([get_table("2")], PROFILES["mini"], (seed,), method, "0.4")
    return cell.folder(Path(root))


def records(root):
    """{cell folder relative to root: usable record without its timings and provenance}."""
    out = {}
    for path in Path(root).rglob(store.RECORD):
        record, _ = record_schema.read(path)
        if record is None:
            continue
        for key in ("wall_time_s", "finished_at", "argv", "versions", "git_commit", "notes", "execution_changes",
                    "host", "slurm_job_id", "run_options"):  # how it was run (--rerun-*), not what
            record.pop(key, None)
        for entry in record["curve"]:
            entry.pop("epoch_time_s")
        out[str(path.parent.relative_to(root))] = record
    return out


def leftovers(root):
    """Files a finished grid must not hold: temporary files, run markers, checkpoints, failures."""
    names = (store.RUNNING, store.CHECKPOINT, store.FAILED, store.QUEUED)
    return sorted(str(p) for p in Path(root).rglob("*") if p.name.endswith(files.TEMP_SUFFIX) or p.name in names)


@pytest.mark.slow
def test_two_runners_on_one_results_root_train_each_cell_once(tmp_path):
    args = GRID + ["--methods", "basemodel,gdw", "--seeds", "1,2,3", "--jobs", "1"]
    runners = [start(args, tmp_path) for _ in range(2)]
    outs = [r.communicate(timeout=300) for r in runners]
    assert [r.returncode for r in runners] == [0, 0], outs
    trained = [int(out.split("trained ")[1].split()[0]) for out, _ in outs]
    assert sum(trained) == 6, outs  # six cells, each trained by exactly one of the two
    assert len(records(tmp_path / "results")) == 6
    said = "".join(err for _, err in outs)
    assert "being trained by another process" in said or "finished by another process" in said
    assert leftovers(tmp_path / "results") == []


def test_a_lock_is_released_when_its_holder_dies_and_a_stale_fallback_lock_is_taken_over(tmp_path, monkeypatch):
    import errno
    import fcntl

    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from gdw_bench.storage import store; "
                               f"store.CellLock({str(tmp_path)!r}).acquire(); print('held', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert store.lock_is_held(tmp_path)
    with pytest.raises(store.CellBusy):
        store.CellLock(tmp_path).acquire()
    holder.kill()
    holder.wait()
    assert not store.lock_is_held(tmp_path)
    with store.CellLock(tmp_path):  # the dead holder's lock is gone with it
        assert store.lock_is_held(tmp_path)

    # Filesystems without locks: a lock file with pid and host; a dead pid's is stale and taken over.
    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    owner = tmp_path / ".lock.owner"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    owner.write_text(json.dumps({"pid": int(dead.stdout), "host": os.uname().nodename}))
    lock = store.CellLock(tmp_path)
    lock.acquire()
    assert json.loads(owner.read_text())["pid"] == os.getpid()
    with pytest.raises(store.CellBusy):  # held by a live process (this one)
        store.CellLock(tmp_path).acquire()
    lock.release()
    assert not owner.exists()


@pytest.mark.slow
def test_chaos_kill_the_whole_grid_at_random_moments_then_finish(tmp_path):
    """kill -9 of the process group (runner and its pool workers) four times at random moments (once
    during start-up, three times mid-training), then a run to the end: the records equal an
    uninterrupted run's, bit for bit, with nothing left over."""
    args = GRID + ["--methods", "basemodel,gdw", "--seeds", "1,2", "--jobs", "2", "--checkpoint-every", "0"]
    (tmp_path / "reference").mkdir()
    (tmp_path / "chaos").mkdir()
    reference = gdw_bench(args, tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr
    rng = random.Random(2026)
    at_kill = []
    for kill in range(4):
        runner = start(args, tmp_path / "chaos")
        if kill == 0:  # during start-up, data preparation or the first epochs
            time.sleep(rng.uniform(1.0, 8.0))
        else:  # mid-training: once this runner has written a checkpoint, 0–1.5 s later
            started, deadline = time.time(), time.time() + 120
            while runner.poll() is None and time.time() < deadline and not any(
                    p.stat().st_mtime > started for p in (tmp_path / "chaos").rglob(store.CHECKPOINT)):
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 1.5))
        try:
            os.killpg(runner.pid, signal.SIGKILL)
        except ProcessLookupError:  # a loaded machine: the runner finished its last cell before the kill
            pass
        runner.communicate()
        at_kill.append((len(list((tmp_path / "chaos").rglob(store.RECORD))),
                        len(list((tmp_path / "chaos").rglob(store.CHECKPOINT)))))
    print(f"(records, checkpoints) after each kill: {at_kill}")
    assert any(checkpoints for _, checkpoints in at_kill)  # some kill fell mid-cell, after a checkpoint
    final = gdw_bench(args, tmp_path / "chaos")
    assert final.returncode == 0, final.stderr
    assert "Traceback" not in final.stderr
    got, want = records(tmp_path / "chaos" / "results"), records(tmp_path / "reference" / "results")
    assert sorted(got) == sorted(want) and len(want) == 4
    for folder in want:
        assert got[folder] == want[folder], folder
    assert leftovers(tmp_path / "chaos" / "results") == []
    for folder in (tmp_path / "chaos" / "results").rglob("seed-*"):
        assert sorted(p.name for p in folder.iterdir()) == [store.LOCK, store.RECORD]

    # Kill `report` while it writes: every report file present is whole (the same as a full report's).
    out = tmp_path / "chaos" / "reports"
    seen = []
    for _ in range(3):
        reporter = start(["report", "--profile", "mini", "--out", str(out)], tmp_path / "chaos")
        time.sleep(rng.uniform(2.5, 8.0))
        os.killpg(reporter.pid, signal.SIGKILL)
        reporter.communicate()
        seen.append({p.name: p.read_bytes() for p in out.glob("*") if not p.name.startswith(".")} if out.exists()
                    else {})
    full = gdw_bench(["report", "--profile", "mini", "--out", str(out)], tmp_path / "chaos")
    assert full.returncode == 0, full.stderr
    complete = {p.name: p.read_bytes() for p in out.glob("*")}
    for snapshot in seen:
        for name, data in snapshot.items():
            if name.endswith((".md", ".tex", ".csv", ".txt")):
                assert data == complete[name], name
            elif name.endswith(".png"):
                assert data.endswith(b"IEND\xaeB`\x82"), name  # a PNG's last chunk: the file is whole
    assert not [name for name in complete if name.endswith(files.TEMP_SUFFIX)]


@pytest.mark.slow
def test_corrupt_state_is_reported_left_alone_and_retrained_only_when_asked(tmp_path):
    args = GRID + ["--methods", "basemodel", "--seeds", "1,2,3,4,5,6"]
    (tmp_path / "ref").mkdir()
    assert gdw_bench(args, tmp_path / "ref").returncode == 0
    import shutil

    shutil.copytree(tmp_path / "ref" / "results", tmp_path / "results")
    cells = {s: cell_folder(tmp_path / "results", "basemodel", s) for s in range(1, 8)}
    (cells[1] / store.RECORD).write_text((cells[1] / store.RECORD).read_text()[:300])  # truncated
    bad = json.loads((cells[2] / store.RECORD).read_text())
    del bad["score"]
    (cells[2] / store.RECORD).write_text(json.dumps(bad))  # valid JSON, not a record
    (cells[3] / store.RECORD).unlink()
    (cells[3] / store.CHECKPOINT).write_bytes(b"PK\x03\x04 truncated")
    (cells[4] / store.RECORD).unlink()
    (cells[4] / store.FAILED).write_text("{not json")
    (cells[5] / store.RECORD).unlink()
    (cells[5] / store.QUEUED).write_text("")
    (cells[5] / store.RUNNING).write_text("[1, 2]")
    stale = json.loads((cells[6] / store.RECORD).read_text())
    stale["config_hash"] = "0123456789ab"
    (cells[6] / store.RECORD).write_text(json.dumps(stale))
    cells[7].write_text("a file where the cell folder should be")  # seed 7: cannot be written
    damaged = {s: (cells[s] / store.RECORD).read_bytes() for s in (1, 2, 6)}
    args = args[:-1] + ["1,2,3,4,5,6,7"]

    dry = gdw_bench(args + ["--dry-run"], tmp_path)
    assert dry.returncode == 0 and "Traceback" not in dry.stderr, dry.stderr
    status = {line.split()[1].rsplit("seed-", 1)[1]: line.split()[0] for line in dry.stdout.splitlines()
              if "seed-" in line}
    assert status == {"1": "corrupt", "2": "corrupt", "3": "missing", "4": "failed", "5": "missing", "6": "stale",
                      "7": "missing"}, dry.stdout
    warnings = [line for line in dry.stderr.splitlines() if line.startswith("warning:")]
    for needle in ("seed-1/record.json: not valid JSON", "seed-2/record.json: field 'score' is missing",
                   "seed-3/checkpoint.pt: not a readable torch checkpoint", "seed-4/failed.json: unreadable",
                   "seed-5/queued.json: unreadable", "seed-5/running.json: unreadable", "seed-7 is a file"):
        assert sum(needle in line for line in warnings) == 1, (needle, warnings)

    for command in (["report", "--table", "2", "--profile", "mini"], ["export", "--out", "all.csv"]):
        out = gdw_bench(command, tmp_path)
        assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
        assert sum("seed-1/record.json: not valid JSON" in line for line in out.stderr.splitlines()) == 1
        assert sum("seed-2/record.json: field 'score' is missing" in line for line in out.stderr.splitlines()) == 1

    run = gdw_bench(args, tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr  # seed 7 failed; the rest went on
    assert "trained 3 cells" in run.stdout
    assert "seed-7" in run.stderr and "cannot write the cell folder" in run.stderr
    assert "checkpoint.pt: unreadable" in run.stderr  # seed 3: said, and trained from scratch
    assert all((cells[s] / store.RECORD).read_bytes() == damaged[s] for s in (1, 2, 6))  # untouched
    want = records(tmp_path / "ref" / "results")
    got = records(tmp_path / "results")
    for s in (3, 4, 5):
        key = str(cells[s].relative_to(tmp_path / "results"))
        assert got[key] == want[key]
    assert json.loads((cells[3] / store.RECORD).read_text())["notes"][0].endswith("trained from scratch")

    rerun = gdw_bench(args + ["--rerun-corrupt", "--rerun-stale"], tmp_path)
    assert rerun.returncode == 1 and "trained 3 cells" in rerun.stdout, rerun.stderr
    got = records(tmp_path / "results")
    for s in (1, 2, 6):
        key = str(cells[s].relative_to(tmp_path / "results"))
        assert got[key] == want[key]
        kept = list(cells[s].glob("record.json.*"))  # the damaged or stale file, kept beside it
        assert len(kept) == 1 and kept[0].read_bytes() == damaged[s]


@pytest.mark.slow
def test_a_killed_pool_worker_fails_only_its_cell_and_the_grid_goes_on(tmp_path):
    args = GRID + ["--methods", "basemodel,gdw", "--seeds", "1,2", "--jobs", "2"]
    runner = start(args, tmp_path)
    running = cell_folder(tmp_path / "results", "gdw", 1) / store.RUNNING
    deadline = time.time() + 120
    while store.read_json(running) is None and time.time() < deadline:
        time.sleep(0.05)
    os.kill(store.read_json(running)["pid"], signal.SIGKILL)
    out, err = runner.communicate(timeout=300)
    assert runner.returncode == 1 and "Traceback" not in err, err
    assert "trained 3 cells" in out and "1 failed" in out
    failure = store.read_json(running.parent / store.FAILED)
    assert "killed by signal 9 (SIGKILL)" in failure["error"]
    assert store.cell_status(running.parent) == "failed" and not running.exists()
    again = gdw_bench(args, tmp_path)
    assert again.returncode == 0 and "trained 1 cells" in again.stdout, again.stderr


PROTO = Protocol(model="mlp128bn", epochs=6, eval_batch_size=1000)


def cell(method="basemodel"):
    return CellConfig(profile="test", dataset="digits", setting="uniform", level="0.4",
                      corruption=Corruption("uniform", 0.4), method=method, seed=1, protocol=PROTO)


def test_a_loss_that_turns_nan_mid_run_fails_the_cell_with_its_epoch_and_step(tmp_path, monkeypatch):
    from gdw_bench.methods import basemodel

    calls, plain = [0], basemodel.BaseModel.train_step
    steps_per_epoch = []

    def diverge_later(self, batch, meta_batch=None):
        calls[0] += 1
        logs = plain(self, batch, meta_batch)
        if steps_per_epoch and calls[0] == 3 * steps_per_epoch[0] + 5:  # epoch 4, step 5
            logs = {**logs, "loss": torch.tensor(float("inf"))}
        return logs

    monkeypatch.setattr(basemodel.BaseModel, "train_step", diverge_later)
    c = cell()
    with pytest.raises(CellFailed, match="epoch 4 .*step 5 of"):
        run_cell(c, tmp_path, RunOptions(checkpoint_every=0), on_epoch=lambda info: steps_per_epoch.append(calls[0])
                 if not steps_per_epoch else None)
    failure = store.read_json(c.folder(tmp_path) / store.FAILED)
    assert (failure["epoch"], failure["step"]) == (4, 5)
    assert store.cell_status(c.folder(tmp_path), c.config_hash) == "failed"  # checkpointed epochs: still failed


def test_a_cell_resumed_under_another_thread_count_says_so_in_its_record(tmp_path):
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        assert run_cell(cell(), tmp_path, stop_after_epochs=2) is None
        torch.set_num_threads(2)
        record = run_cell(cell(), tmp_path)
    finally:
        torch.set_num_threads(threads)
    kept = cpu_tuning.apply()["host_memory_kept"]  # True on glibc
    assert record["execution_changes"] == [{"from_global_epoch": 2,
                                            "before": {"device": "cpu", "torch_threads": 1, "memory_format": "contiguous",
                                                       "host_memory_kept": kept},
                                            "after": {"device": "cpu", "torch_threads": 2, "memory_format": "contiguous",
                                                      "host_memory_kept": kept}}]
    assert record["torch_threads"] == 2
