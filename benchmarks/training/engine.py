"""The runner of one cell: ``run_cell`` takes the cell's lock, leaves a finished, stale or damaged
record alone (or sets it aside when asked), trains through ``training`` and files a failure where the
next run sees it. The method owns one training step, ``training`` the epochs and the checkpointed
state, this module the cell's folder.

Names the rest of the suite imports from here (``CellConfig``, ``run_cell``, the exceptions, the
training helpers) stay importable from ``gdw_bench.training.engine``.
"""
from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Callable

import torch

from gdw_bench.core.cell import CellConfig, CellFailed, CellSkipped, Protocol  # noqa: F401 (re-exported)
from gdw_bench.core.options import FAILED, SKIPPED, TRAINED, CellOutcome, RunOptions
from gdw_bench.storage import record as record_schema
from gdw_bench.storage import store
from gdw_bench.training.loop import (  # noqa: F401
    CHECKPOINT_INTERVAL_S,
    SCORE_EPOCHS,
    Diverged,
    _checked_logs,
    _stderr_note,
    _train,
    _train_epoch,
    build_method,
    cosine_lr,
    evaluate,
    prepared_data,
    resolve_device,
)


def _with_tensorboard(folder: Path, on_epoch):
    """An epoch callback that also writes the epoch's scalars as TensorBoard events (flushed each
    epoch; a resumed run appends, so redone epochs appear twice and the latest point wins)."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(folder / "tensorboard"))

    def callback(info: dict) -> None:
        for key, value in info.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("epoch", "epochs"):
                writer.add_scalar(key, value, info["epoch"])
        writer.flush()
        if on_epoch is not None:
            on_epoch(info)

    return callback


def run_cell(cell: CellConfig, root: Path, options: RunOptions | None = None, *,
             on_epoch: Callable[[dict], None] | None = None, stop_after_epochs: int | None = None,
             on_note: Callable[[str], None] = _stderr_note, skip_done: bool = False) -> dict | None:
    """Train ``cell`` to its record, resuming from its checkpoint; return the record (a done cell's
    existing record, or ``CellSkipped("done")`` with ``skip_done``: a grid counts what it trained).

    Only the process holding the cell's lock trains it: another one gets ``CellSkipped("busy")``.
    Under the lock the folder is read again (another process may have finished the cell meanwhile),
    and temporary files left by a killed writer are removed. A record that is damaged ("corrupt") or
    of another configuration ("stale") is never overwritten: ``CellSkipped`` unless ``rerun`` names
    its kind, and then it is renamed aside (kept) before training. ``on_note``: one-line notes (a
    damaged checkpoint, so training from scratch).

    ``options`` (``gdw_bench.core.options.RunOptions``, every executor hands it over whole): the device,
    data folder and CPU threads; ``tensorboard``: also write each epoch's numbers as TensorBoard events
    into the cell's ``tensorboard/`` folder; ``rerun``; ``checkpoint_every``: seconds of training
    between checkpoints (default ``CHECKPOINT_INTERVAL_S``); ``cuda_graphs``: on a CUDA device, replay
    the step of a ``graph_safe`` method as a CUDA graph (``gdw_bench.training.cuda_graphs``; the record's
    ``execution`` says whether it did). The record stores them as ``run_options``.

    ``stop_after_epochs`` stops (as if killed) after that many epochs of *this call*, leaving the
    checkpoint: used by tests and for time-boxed runs. Returns None when stopped early.
    """
    options = options or RunOptions()
    folder = cell.folder(root)
    existing, _ = record_schema.read(folder / store.RECORD)
    if existing is not None and existing.get("config_hash") == cell.config_hash:
        if skip_done:
            raise CellSkipped("done", str(folder))
        return existing
    dev = resolve_device(options.device)
    if options.threads is not None:
        torch.set_num_threads(options.threads)
    rerun, data_dir = options.rerun, Path(options.data_dir) if options.data_dir else None
    lock = store.CellLock(folder)
    try:
        lock.acquire()
    except store.CellBusy:
        raise CellSkipped("busy", str(folder)) from None
    except OSError as exc:
        raise CellFailed(f"cannot write the cell folder {folder}: {exc.strerror or exc}") from exc
    try:
        store.remove_temp_files(folder)
        _set_aside_or_skip(cell, folder, rerun, on_note)
        started = time.perf_counter()
        try:
            store.mark_running(folder)
            if options.tensorboard:
                on_epoch = _with_tensorboard(folder, on_epoch)
            every = CHECKPOINT_INTERVAL_S if options.checkpoint_every is None else options.checkpoint_every
            record = _train(cell, folder, dev, data_dir, on_epoch, stop_after_epochs, started, on_note, every,
                            options)
        except Exception as exc:  # the grid goes on; the failure is recorded and the cell retried next run
            details = {"epoch": exc.epoch, "step": exc.step} if isinstance(exc, Diverged) else {}
            message = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, OSError) and exc.filename:
                message = f"cannot write in the cell folder {folder}: {exc.strerror}"
            try:
                store.write_failure(folder, cell.config_hash, message, traceback=traceback.format_exc(limit=8),
                                    **details)
            except OSError:
                pass  # an unwritable folder: the message still reaches the command's summary
            raise CellFailed(message) from exc
        finally:
            try:
                store.clear_running(folder)
            except OSError:
                pass
        return record
    finally:
        lock.release()


def _set_aside_or_skip(cell: CellConfig, folder: Path, rerun: frozenset, on_note) -> None:
    """Under the lock: skip a cell another process finished, or whose record must not be touched."""
    record, problem = record_schema.read(folder / store.RECORD)
    if record is not None and record.get("config_hash") == cell.config_hash:
        raise CellSkipped("done", str(folder))
    kind = "corrupt" if problem else "stale" if record is not None else None
    if kind is None:
        return
    if kind not in rerun:
        raise CellSkipped(kind, f"{folder / store.RECORD}: {problem or 'a record of another configuration'}")
    kept = store.set_aside(folder / store.RECORD, kind)
    on_note(f"{folder / store.RECORD}: {problem or 'a record of another configuration'}; kept as {kept.name}, "
            f"retraining the cell")


def train_one(cell, root: Path, options: RunOptions, on_epoch=None, on_note=None) -> CellOutcome:
    """Train one cell with the engine: the one call every executor makes (in this process, in a pool
    worker, in a SLURM task)."""
    try:
        record = run_cell(cell, Path(root), options, on_epoch=on_epoch, skip_done=True,
                          **({"on_note": on_note} if on_note is not None else {}))
        record = record if isinstance(record, dict) else {}
        wall = record.get("wall_time_s")
        return CellOutcome(TRAINED, wall_s=float(wall) if isinstance(wall, (int, float)) else None,
                           device_type="cuda" if str(record.get("device", "")).startswith("cuda") else "cpu")
    except CellFailed as exc:
        return CellOutcome(FAILED, str(exc))
    except CellSkipped as exc:
        return CellOutcome(SKIPPED, exc.reason)
