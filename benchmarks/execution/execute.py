"""One way to train a plan's cells: ``execute(plan, root, options, executor)``.

The executor decides *where* cells train — in this process (``InProcess``), in ``--jobs`` worker
processes (``Pool``), or as one SLURM job array (``Slurm``) — and nothing else: each hands every cell
the same frozen ``RunOptions`` (``gdw_bench.core.options``) and reports each cell back as a typed
``CellOutcome``, so an option can never be dropped on one path, and a cell the engine skipped (a
stale record, another process holding its lock) is counted as skipped wherever it ran.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from gdw_bench.core.options import DIED, SKIPPED, TRAINED, CellOutcome, RunOptions
from gdw_bench.execution import slurm
from gdw_bench.execution.progress import GridOutcome, Progress, _live_line
from gdw_bench.execution.status import cell_statuses, to_train
from gdw_bench.execution.workers import WorkerPool
from gdw_bench.plan import costs
from gdw_bench.storage import store

OnOutcome = Callable[[object, CellOutcome], None]


@dataclass
class InProcess:
    """Cells one after another in this process (the default on one core, and on a GPU)."""

    def train(self, cells, root: Path, options: RunOptions, on_outcome: OnOutcome, progress: Progress) -> None:
        from gdw_bench.training.engine import train_one  # torch: loaded where cells train, never by a pool's parent

        for cell in cells:
            progress.live(cell.label)

            def on_epoch(info, cell=cell):  # the live line: where the cell is, its loss and test accuracy
                progress.live(_live_line(cell.label, info["epoch"], info["epochs"], info.get("loss"),
                                         info.get("test_acc")))

            on_outcome(cell, train_one(cell, root, options, on_epoch, progress.write))


@dataclass
class Pool:
    """``jobs`` worker processes (``gdw_bench.execution.workers``); each cell gets ``options`` with the threads
    per worker filled in (the cores shared out) when the user gave none."""

    jobs: int

    def train(self, cells, root: Path, options: RunOptions, on_outcome: OnOutcome, progress: Progress) -> None:
        if options.threads is None:
            options = options.with_threads(max(1, (os.cpu_count() or 1) // self.jobs))
        pool = WorkerPool(self.jobs, str(root), options)
        pool.run(cells, on_outcome, on_epoch=(lambda m: progress.live(_live_line(*m))) if progress.interactive
                 else None, on_note=progress.write)


@dataclass
class Slurm:
    """One job array through submitit (``gdw_bench.execution.slurm``); ``wait`` off: submit and return."""

    options: object  # slurm.SlurmOptions
    estimates: list  # seconds per cell, for the time limit
    job_ids: tuple = ()

    def train(self, cells, root: Path, options: RunOptions, on_outcome: OnOutcome, progress: Progress) -> None:
        self.job_ids = tuple(slurm.submit_and_wait(cells, root, options, self.options, self.estimates, on_outcome,
                                                   progress.write))


def execute(plan, root: Path, options: RunOptions, executor, statuses: list[str] | None = None,
            progress: bool = True, estimates: dict | None = None, parallel: int = 1) -> GridOutcome:
    """Train the cells of ``plan`` (a ``planner.Plan``, or a list of cells) not done yet (``statuses``:
    their ``cell_statuses`` when the caller just read them) with ``executor``; every cell's outcome is
    counted once, the same way for every executor.
    ``estimates``: seconds per cell label (``costs.estimate``) and ``parallel`` cells at once, for the
    progress line's time left."""
    cells = list(getattr(plan, "cells", plan))
    statuses = statuses if statuses is not None else cell_statuses(cells, root)
    todo = [c for c, s in zip(cells, statuses) if to_train(s, options.rerun)]
    done_before = sum(s == "done" for s in statuses)
    outcome = GridOutcome(done_before, 0, [])
    bar = Progress(done_before + len(todo), done_before, progress, estimates=estimates, parallel=parallel)

    measured = []  # (cell, device type, seconds): what this machine took, for later estimates (costs.json)

    def settle(cell, result: CellOutcome) -> None:
        if result.kind == TRAINED:
            outcome.trained += 1
            if result.wall_s is not None:
                measured.append((cell, result.device_type, result.wall_s))
        elif result.kind == SKIPPED:
            outcome.skipped.setdefault(result.detail, []).append(cell)
        else:
            if result.kind == DIED:  # the process or job could not write its failure: this one does
                record_death(cell, root, result.detail, result.slurm_job_id)
            outcome.failed.append((cell, result.detail))
            bar.write(f"FAILED {cell.label}: {result.detail}")
        bar.finished(cell.label, result.kind)

    try:
        executor.train(todo, root, options, settle, bar)
    finally:
        bar.close()
        try:
            costs.add(root, measured)
        except OSError:
            pass  # estimates only: never fail a run over them
    return outcome


def record_death(cell, root: Path, error: str, slurm_job_id: str | None = None) -> None:
    """A cell whose process or job died before the engine could write failed.json still gets one."""
    folder = cell.folder(root)
    try:
        if not (folder / store.RECORD).exists():
            store.write_failure(folder, cell.config_hash, error,
                                **({"slurm_job_id": slurm_job_id} if slurm_job_id else {}))
        store.clear_running(folder)
        (folder / store.QUEUED).unlink(missing_ok=True)
    except OSError:
        pass
