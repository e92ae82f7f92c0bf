"""Running a grid's missing cells on SLURM: one job array through submitit (``run --executor slurm``).

Each array task trains one cell with the same ``run_cell`` as a local run, so records, resume and
determinism do not depend on where a cell ran. The job is checkpointable: on a time-out or
preemption submitit requeues it and the cell resumes from its last per-epoch checkpoint. Submitted
cells get a ``queued.json`` naming their job, so a second ``run`` or ``--dry-run`` sees them as
"queued" instead of submitting them twice. submitit's own files (pickles, stdout/stderr logs) go
under ``<results>/.slurm/<job id>/``.

Optional dependency: ``pip install 'gdw-bench[slurm]'``.
"""
from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from gdw_bench import files
from gdw_bench.core.options import DIED, CellOutcome
from gdw_bench.errors import UserInputError, first_line
from gdw_bench.storage import store

POLL_SECONDS = 5.0  # between status checks while waiting; submitit batches them into one sacct call


@dataclass(frozen=True, kw_only=True)
class SlurmOptions:
    partition: str | None = None
    timeout_min: int | None = None  # None: 3 × the slowest cell's estimate, at least 10 min
    cpus_per_task: int = 2
    mem_gb: float = 8.0
    gpus_per_task: int = 0
    parallelism: int = 64  # array tasks running at once
    extra: dict = field(default_factory=dict)  # further sbatch options, e.g. {"account": "lab"}
    wait: bool = True


def check_available() -> None:
    """One-line errors, before anything is written, when SLURM cannot be used from here."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise UserInputError("--executor slurm needs submitit: pip install 'gdw-bench[slurm]'; "
                             "valid executors here: local") from None
    if shutil.which("sbatch") is None:
        raise UserInputError("--executor slurm: no 'sbatch' on PATH (not a SLURM login node?); "
                             "valid executors here: local")


def active_jobs() -> set[str] | None:
    """Job ids (``123`` and ``123_4``) SLURM lists as pending or running; None without squeue."""
    if shutil.which("squeue") is None:
        return None
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-o", "%i", "-t", "PENDING,RUNNING,CONFIGURING,COMPLETING,REQUEUED"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return {line.strip() for line in out.stdout.splitlines() if line.strip()} if out.returncode == 0 else None


def parse_extra(items) -> dict:
    """``KEY=VALUE`` strings → {key: value}; the keys are sbatch long options without dashes."""
    extra = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"bad --slurm-option '{item}'; expected KEY=VALUE, e.g. account=mylab")
        extra[key.strip().replace("-", "_")] = value.strip()
    return extra


class CellJob:
    """The array task: train one cell with the run's ``RunOptions``, whole (threads, when not given, from
    the task's ``SLURM_CPUS_PER_TASK``). Returns its ``CellOutcome``. Checkpointable: submitit calls
    ``checkpoint`` on time-out or preemption and requeues the same call, which resumes from the cell's
    per-epoch checkpoint."""

    def __call__(self, cell, root: str, options):
        from gdw_bench.training.engine import train_one  # torch: in the SLURM task, never in the submitting process

        if options.threads is None:
            options = options.with_threads(int(os.environ.get("SLURM_CPUS_PER_TASK", "1")))
        return train_one(cell, root, options)

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(self, *args, **kwargs)


def timeout_minutes(options: SlurmOptions, estimates: list[float]) -> int:
    if options.timeout_min is not None:
        return options.timeout_min
    return max(10, math.ceil(3 * max(estimates, default=600.0) / 60))


def check_cluster(timeout_s: float = 20.0) -> None:
    """One line, before anything is written, when this machine cannot submit to SLURM: submitit missing,
    no ``sbatch`` on PATH, or the controller not answering ``sinfo`` within ``timeout_s`` seconds."""
    try:
        import submitit  # noqa: F401
    except ImportError:
        raise UserInputError("--executor slurm needs submitit (pip install 'gdw-bench[slurm]'); valid here: "
                             "--executor local") from None
    if shutil.which("sbatch") is None or shutil.which("sinfo") is None:
        raise UserInputError("--executor slurm: no sbatch/sinfo on PATH, so no SLURM cluster can be reached from "
                             "here; valid: a SLURM login node, or --executor local")
    try:
        answer = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UserInputError(f"--executor slurm: sinfo did not answer ({type(exc).__name__}); valid: a reachable "
                             f"SLURM controller, or --executor local") from None
    if answer.returncode != 0:
        first = (answer.stderr or answer.stdout).strip().splitlines()[:1]
        raise UserInputError(f"--executor slurm: sinfo failed ({first[0] if first else f'exit {answer.returncode}'}); "
                             f"valid: a reachable SLURM controller, or --executor local")


def submit_and_wait(cells, root: Path, options, slurm_options: SlurmOptions, estimates: list[float],
                    on_outcome, say=print) -> list[str]:
    """Submit ``cells`` as one job array, each task handed ``options`` (``RunOptions``) whole; unless
    ``slurm_options.wait`` is off, wait and report each cell's ``CellOutcome`` to ``on_outcome`` as its
    task ends. Returns the job ids."""
    import submitit


    executor = submitit.AutoExecutor(folder=Path(root) / ".slurm" / "%j", cluster="slurm")
    params = dict(name="gdw-bench", timeout_min=timeout_minutes(slurm_options, estimates),
                  cpus_per_task=slurm_options.cpus_per_task, mem_gb=slurm_options.mem_gb,
                  slurm_array_parallelism=slurm_options.parallelism)
    if slurm_options.gpus_per_task:
        params["gpus_per_node"] = slurm_options.gpus_per_task
    if slurm_options.partition:
        params["slurm_partition"] = slurm_options.partition
    if slurm_options.extra:
        params["slurm_additional_parameters"] = dict(slurm_options.extra)
    executor.update_parameters(**params)
    n = len(cells)
    jobs = executor.map_array(CellJob(), cells, [str(root)] * n, [options] * n)
    submitted_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    for cell, job in zip(cells, jobs):
        folder = cell.folder(root)
        if not (folder / store.RECORD).exists():
            files.atomic_write_json(folder / store.QUEUED, {"job_id": job.job_id, "submitted_at": submitted_at,
                                                            "stdout": str(job.paths.stdout)})
    job_ids = sorted({str(job.job_id).split("_")[0] for job in jobs})
    if not slurm_options.wait:
        return job_ids
    say(f"SLURM job {', '.join(job_ids)}: {n} cells submitted; waiting")
    pending = dict(zip(jobs, cells))
    while pending:
        for job in [j for j in pending if j.done()]:
            cell = pending.pop(job)
            result, error = _outcome(job)
            on_outcome(cell, result if error is None else CellOutcome(DIED, error, str(job.job_id)))
        if pending:
            time.sleep(POLL_SECONDS)
    return job_ids


def _outcome(job):
    """(the task's CellOutcome, None) or (None, why the job died without one: time-out after the last
    requeue, out of memory, scancel, a crash outside the engine)."""
    try:
        return job.result(), None
    except Exception as exc:  # submitit's FailedJobError / UncompletedJobError
        why = first_line(exc, type(exc).__name__)
        return None, f"SLURM job {job.job_id} ({job.state}): {why}; log: {job.paths.stderr}"
