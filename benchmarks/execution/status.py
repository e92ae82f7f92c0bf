"""Each cell's status under a results root, which statuses `run` trains, why the others are left, and how
many cells train at once (torch-free: `run --dry-run` reads them)."""
from __future__ import annotations

import os
from pathlib import Path

from gdw_bench.core.cell import CellConfig
from gdw_bench.execution.slurm import active_jobs
from gdw_bench.storage import store

# Why cells are not trained: by their status before a run (`run` says so up front), or by the reason
# the engine skipped them during it (said at the end).
NOT_TRAINED_BECAUSE = {
    "stale": "hold a record of another configuration (left as is; --rerun-stale retrains them)",
    "corrupt": "hold a damaged record (left as is; --rerun-corrupt retrains them)",
    "running": "are being trained by another process (their lock is held)",
    "queued": "are queued or running as SLURM jobs",
    "busy": "were being trained by another process",
    "done": "were finished by another process meanwhile",
}


def default_parallelism(jobs: int | None, threads: int | None, device_type: str, cells: int) -> tuple[int, int | None]:
    """(--jobs, --threads) where not given. On CPU, one thread per cell and as many cells as cores:
    measured on 2 cores, 2 cells × 1 thread filled the grids of the mini and fmnist profiles
    faster than 1 cell × 2 threads (README, "Speed"), since their small networks' steps do not
    split over threads. On a GPU one process: with CUDA graphs an H100 trained 817 fmnist-paper
    cell-epochs an hour with one process and 775–785 with 2, 4 or 8 (without MPS the GPU time-slices
    between processes, so their kernels never overlap)."""
    cores = os.cpu_count() or 1
    if device_type != "cpu":
        return jobs or 1, threads
    if jobs is None:
        jobs = max(1, min(cores // (threads or 1), max(cells, 1)))
    if threads is None and jobs > 1:
        threads = max(1, cores // jobs)
    return jobs, threads


NOT_TO_TRAIN = ("done", "stale", "corrupt", "running", "queued")  # stale, corrupt: records never overwritten


def cell_statuses(cells: list[CellConfig], root: Path, problems: list[str] | None = None) -> list[str]:
    """Each cell's store status; SLURM is asked (once) only when some cell has a queued.json.
    ``problems``: one line per damaged file met."""
    active = None
    if any((c.folder(root) / store.QUEUED).exists() for c in cells):
        active = active_jobs()
    return [store.cell_status(c.folder(root), c.config_hash, active, problems) for c in cells]


def to_train(status: str, rerun: frozenset = frozenset()) -> bool:
    """Whether ``run`` trains a cell of this status (``rerun``: the kinds of record to retrain)."""
    return status not in NOT_TO_TRAIN or status in rerun
