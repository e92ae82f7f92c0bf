"""The results store: one folder per cell, one JSON record when (and only when) the cell is done.

Layout: ``<root>/<profile>/<dataset>/<corruption>/<method>[+diag]/seed-<seed>/``
- ``record.json``  the final record (its existence is what "done" means);
- ``checkpoint.pt`` everything needed to go on after the last finished epoch (while running);
- ``failed.json``  the error of the last failed attempt (a re-run retries the cell);
- ``running.json`` the pid/host of a run in progress;
- ``queued.json``  the SLURM job that will train the cell (``run --executor slurm``);
- ``.lock``        the advisory lock held by the one process that trains the cell (``CellLock``).
Every write goes to a temporary file in the same folder and is renamed into place; a temporary file
left by a killed writer is removed by the next process that takes the cell's lock.

The record's fields, their meaning and its schema version: ``gdw_bench.storage.record`` (written and read there).
"""
from __future__ import annotations

import errno
import fcntl
import io
import json
import os
import socket
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from gdw_bench import statefile
from gdw_bench.files import TEMP_SUFFIX, atomic_write_bytes, atomic_write_json, file_mode
from gdw_bench.storage import record as record_schema

RECORD, CHECKPOINT, FAILED, RUNNING, QUEUED = "record.json", "checkpoint.pt", "failed.json", "running.json", \
    "queued.json"
LOCK = ".lock"


def atomic_torch_save(path: Path, obj: Any) -> None:
    import torch  # torch: only the trainer writes checkpoints; planning and reports never load it

    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def read_json(path: Path) -> dict | None:
    """The JSON object in ``path``; None when it is absent, unreadable or not a JSON object."""
    return statefile.read(path, "state", statefile.object_problem).value


def checkpoint_problem(path: Path) -> str | None:
    """What is wrong with a checkpoint file, read cheaply (torch.save writes a zip archive; a truncated
    one has no central directory). None: it looks whole (loading can still fail; the engine says so)."""
    try:
        with zipfile.ZipFile(path) as archive:
            archive.namelist()
    except FileNotFoundError:
        return None
    except (OSError, zipfile.BadZipFile) as exc:
        return f"not a readable torch checkpoint ({exc}; truncated?)"
    return None


def set_aside(path: Path, reason: str) -> Path:
    """Rename a damaged or stale file out of the way (kept for the user, never deleted):
    ``record.json`` → ``record.json.<reason>-<UTC time>``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    target = Path(path).with_name(f"{Path(path).name}.{reason}-{stamp}")
    os.replace(path, target)
    return target


def remove_temp_files(folder: Path) -> None:
    """Delete the temporary files a killed writer left in ``folder`` (call only while holding its lock)."""
    for path in Path(folder).glob(f".*{TEMP_SUFFIX}"):
        path.unlink(missing_ok=True)


class CellBusy(Exception):
    """Another live process holds the cell's lock."""


class CellLock:
    """An advisory, exclusive lock on one cell folder, held while a process trains the cell.

    ``flock`` on ``<cell>/.lock``: the kernel (or the NFS lock manager, onto which Linux maps flock)
    drops it when its holder dies, however it dies, so a killed run never leaves a lock behind. Where
    the filesystem has no locks at all (ENOLCK/EOPNOTSUPP), an exclusively created lock file holding
    pid and host stands in; one whose process is dead on this host is stale and taken over.
    ``running.json`` is informational only (who trains, for `--dry-run`), never the lock."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.path = self.folder / LOCK
        self._fd: int | None = None
        self._fallback = False

    def acquire(self) -> None:
        """Take the lock or raise ``CellBusy``; OSError when the folder cannot be written."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise CellBusy(str(self.folder)) from None
        except OSError as exc:
            os.close(fd)
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            self._acquire_by_file()
            return
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
        self._fd = fd

    def _acquire_by_file(self) -> None:
        owner = self.path.with_suffix(".owner")
        for _ in range(2):
            try:
                fd = os.open(owner, os.O_WRONLY | os.O_CREAT | os.O_EXCL, file_mode())
            except FileExistsError:
                held = read_json(owner) or {}
                if held.get("host") == socket.gethostname() and not _pid_alive(int(held.get("pid", -1))):
                    owner.unlink(missing_ok=True)  # its process is dead: a stale lock, taken over
                    continue
                raise CellBusy(str(self.folder)) from None
            os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname()}).encode())
            os.close(fd)
            self._fallback = True
            return
        raise CellBusy(str(self.folder))

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
        if self._fallback:
            self.path.with_suffix(".owner").unlink(missing_ok=True)
            self._fallback = False

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc):
        self.release()


def lock_is_held(folder: Path) -> bool:
    """Whether some process holds the cell's lock now (a shared-lock probe, released at once)."""
    path = Path(folder) / LOCK
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        owner = read_json(path.with_suffix(".owner"))
        return bool(owner)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)  # closing drops the probe's shared lock
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cell_status(folder: Path, config_hash: str | None = None, active_jobs: set[str] | None = None,
                problems: list[str] | None = None) -> str:
    """done | stale (done under another config) | corrupt (a damaged record, left for the user) |
    running | queued | partial (resumable) | failed | missing.

    ``active_jobs``: the scheduler's pending or running job ids (None: no scheduler here); a cell
    whose ``queued.json`` names one of them is "queued" (its job will train it). ``problems``: each
    damaged file of the cell is added as one line ("<path>: what is wrong; what happens")."""
    folder = Path(folder)
    say = problems.append if problems is not None else (lambda line: None)
    if folder.exists() and not folder.is_dir():
        say(f"{folder} is a file, not a cell folder; the cell cannot be trained until it is moved away")
        return "missing"
    record, problem = record_schema.read(folder / RECORD)
    if problem:
        say(f"{folder / RECORD}: {problem}; left as is (--rerun-corrupt sets it aside and retrains the cell)")
        return "corrupt"
    if record is not None:
        if config_hash is not None and record.get("config_hash") != config_hash:
            return "stale"
        return "done"
    if lock_is_held(folder):
        return "running"
    for name in (FAILED, QUEUED, RUNNING):
        if (folder / name).exists() and read_json(folder / name) is None:
            say(f"{folder / name}: unreadable or not a JSON object; ignored (the next run replaces it)")
    queued = read_json(folder / QUEUED) if active_jobs else None
    if queued and str(queued.get("job_id")) in active_jobs:
        return "queued"
    failed, checkpoint = folder / FAILED, folder / CHECKPOINT
    damaged = checkpoint_problem(checkpoint)
    if damaged:
        say(f"{checkpoint}: {damaged}; the cell will be trained from scratch")
    if failed.exists() and (not checkpoint.exists() or failed.stat().st_mtime >= checkpoint.stat().st_mtime):
        return "failed"  # its last attempt failed (a run resumes it from its checkpoint, if any)
    if checkpoint.exists() and not damaged:
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


def _files_named(root: Path, name: str) -> list[Path]:
    """Every entry called ``name`` under ``root`` — a folder, or a symlink that loops or dangles, included,
    so that its reader can say what is wrong with it — sorted. Symlinked folders are followed,
    each real folder once (a cycle of them ends)."""
    found, seen = [], set()
    for folder, subfolders, files in os.walk(root, followlinks=True):
        try:
            info = os.stat(folder)
        except OSError:
            subfolders[:] = []
            continue
        if (info.st_dev, info.st_ino) in seen:
            subfolders[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        found += [Path(folder) / name for entry in (*files, *subfolders) if entry == name]
    return sorted(found)


def iter_records(root: Path, problems: list[str] | None = None) -> Iterator[dict]:
    """Every usable record under ``root`` (any profile), with its folder under ``_folder``. A damaged
    one is skipped, and one line about it goes to ``problems`` when given."""
    root = Path(root)
    if not root.exists():
        return
    for path in _files_named(root, RECORD):
        record, problem = record_schema.read(path)
        if record is not None:
            record["_folder"] = str(path.parent)
            yield record
        elif problem and problems is not None:
            problems.append(f"{path}: {problem}; skipped")
