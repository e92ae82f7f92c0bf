"""The results store: one folder per cell, one JSON record when (and only when) the cell is done.

Layout: ``<root>/<profile>/<dataset>/<corruption>/<method>[+diag]/seed-<seed>/``
- ``record.json``  the final record (its existence is what "done" means);
- ``checkpoint.pt`` everything needed to go on after the last finished epoch (while running);
- ``failed.json``  the error of the last failed attempt (a re-run retries the cell);
- ``running.json`` the pid/host of a run in progress;
- ``queued.json``  the SLURM job that will train the cell (``run --executor slurm``).
Every write goes to a temporary file in the same folder and is renamed into place.

Record fields (schema 1; the contract between ``run`` and ``report``):
  schema, profile, dataset, setting, level, corruption, method, method_title, hyperparameters,
  seed, data_seed_words, train_seed, protocol, model, diagnostics, config_hash,
  score (mean test accuracy of the last 5 evaluations of the final phase, %),
  score_net2 (second network, Co-teaching), curve [{phase, epoch, lr, loss, test_acc, ...}],
  diagnostics_per_epoch, extras, wall_time_s, versions, git_commit, device, data_hash, data_info,
  finished_at.
"""
from __future__ import annotations

import json
import os
import socket
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

SCHEMA_VERSION = 1
RECORD, CHECKPOINT, FAILED, RUNNING, QUEUED = "record.json", "checkpoint.pt", "failed.json", "running.json", \
    "queued.json"


def cell_dir(root: Path, profile: str, dataset: str, corruption_slug: str, method_folder: str, seed: int) -> Path:
    return Path(root) / profile / dataset / corruption_slug / method_folder / f"seed-{seed}"


def _file_mode() -> int:
    """0666 less the process umask: what ``open()`` would give, so colleagues on a shared results
    folder can read what we write (``mkstemp`` alone gives 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode())


def atomic_torch_save(path: Path, obj: Any) -> None:
    import io

    import torch

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def read_json(path: Path) -> dict | None:
    try:
        return json.loads(Path(path).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cell_status(folder: Path, config_hash: str | None = None, active_jobs: set[str] | None = None) -> str:
    """done | stale (done under another config) | running | queued | partial (resumable) | failed | missing.

    ``active_jobs``: the scheduler's pending or running job ids (None: no scheduler here); a cell
    whose ``queued.json`` names one of them is "queued" (its job will train it)."""
    folder = Path(folder)
    record = read_json(folder / RECORD)
    if record is not None:
        if config_hash is not None and record.get("config_hash") != config_hash:
            return "stale"
        return "done"
    running = read_json(folder / RUNNING)
    if running and running.get("host") == socket.gethostname() and _pid_alive(int(running.get("pid", -1))):
        return "running"
    queued = read_json(folder / QUEUED) if active_jobs else None
    if queued and str(queued.get("job_id")) in active_jobs:
        return "queued"
    failed, checkpoint = folder / FAILED, folder / CHECKPOINT
    if failed.exists() and (not checkpoint.exists() or failed.stat().st_mtime >= checkpoint.stat().st_mtime):
        return "failed"  # its last attempt failed (a run resumes it from its checkpoint, if any)
    if checkpoint.exists():
        return "partial"
    return "missing"


def write_failure(folder: Path, config_hash: str, error: str, **details) -> None:
    """``failed.json``: the error of this attempt (the cell is retried by the next run)."""
    atomic_write_json(Path(folder) / FAILED, {
        "config_hash": config_hash, "error": error, **details,
        "failed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")})


def mark_running(folder: Path) -> None:
    atomic_write_json(Path(folder) / RUNNING, {"pid": os.getpid(), "host": socket.gethostname()})


def clear_running(folder: Path) -> None:
    (Path(folder) / RUNNING).unlink(missing_ok=True)
    (Path(folder) / QUEUED).unlink(missing_ok=True)


def iter_records(root: Path) -> Iterator[dict]:
    """Every finished record under ``root`` (any profile), with its folder under ``_folder``."""
    root = Path(root)
    if not root.exists():
        return
    for path in sorted(root.rglob(RECORD)):
        record = read_json(path)
        if record is not None and record.get("schema") == SCHEMA_VERSION:
            record["_folder"] = str(path.parent)
            yield record
