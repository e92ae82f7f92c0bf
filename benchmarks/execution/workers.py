"""Worker processes that train cells for `run --jobs N`, each knowing which cell it holds.

``concurrent.futures.ProcessPoolExecutor`` breaks as a whole when one worker dies (every pending
cell fails with ``BrokenProcessPool``, and it cannot say which cell the dead worker held). Here each
worker has its own pipe: the parent sends it one cell at a time, and a worker that dies (killed,
out of memory) fails only the cell it held, named with the signal; a fresh worker takes its place
and the grid goes on. Workers are started with ``spawn`` (torch is not fork-safe) and keep their
per-process data cache across the cells they train, as a pool would.
"""
from __future__ import annotations

import multiprocessing
import signal
from dataclasses import dataclass
from multiprocessing.connection import wait
from typing import Callable

from gdw_bench.core.options import DIED, CellOutcome

# Messages a worker sends: ("epoch", label, epoch, epochs, loss, test_acc) and ("note", line) while
# training, then ("done", CellOutcome) for its cell.


def _worker_main(conn, root: str, options) -> None:
    from gdw_bench.training.engine import train_one  # torch: in the worker process, never in the parent

    while True:
        try:
            cell = conn.recv()
        except (EOFError, KeyboardInterrupt):
            return
        if cell is None:
            return

        def on_epoch(info, cell=cell):
            conn.send(("epoch", cell.label, info["epoch"], info["epochs"], info.get("loss"),
                       info.get("test_acc")))

        conn.send(("done", train_one(cell, root, options, on_epoch, lambda line: conn.send(("note", line)))))


def death_message(exitcode: int | None) -> str:
    """'killed by signal 9 (SIGKILL)' for a negative exit code, else the exit code."""
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = "unknown signal"
        hint = " (out of memory?)" if -exitcode == signal.SIGKILL else ""
        return f"worker process died: killed by signal {-exitcode} ({name}){hint}"
    return f"worker process died with exit code {exitcode}"


@dataclass
class _Worker:
    process: multiprocessing.Process
    conn: object
    cell: object = None


class WorkerPool:
    """Up to ``jobs`` worker processes training ``cells``; callbacks report each cell's outcome."""

    def __init__(self, jobs: int, root: str, options):
        self.jobs = jobs
        self.args = (root, options)  # the RunOptions, whole: every worker trains as this process would
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []

    def _start(self) -> _Worker:
        parent, child = self.context.Pipe()
        process = self.context.Process(target=_worker_main, args=(child, *self.args), daemon=True)
        process.start()
        child.close()
        worker = _Worker(process, parent)
        self.workers.append(worker)
        return worker

    def run(self, cells: list, on_outcome: Callable[[object, tuple | None], None],
            on_epoch: Callable[[tuple], None] | None = None, on_note: Callable[[str], None] = print) -> None:
        """Train every cell; ``on_outcome(cell, CellOutcome)`` (a worker that dies fails the cell it held
        as ``died``); ``on_note``: the engine's one-line notes from any worker."""
        self.on_note = on_note
        todo = list(reversed(cells))
        try:
            for _ in range(min(self.jobs, len(todo))):
                self._give(self._start(), todo)
            while any(w.cell is not None for w in self.workers):
                ready = wait([w.conn for w in self.workers] + [w.process.sentinel for w in self.workers], timeout=1.0)
                for worker in list(self.workers):
                    if worker.conn in ready:
                        self._read(worker, todo, on_outcome, on_epoch)
                    elif worker.process.sentinel in ready or not worker.process.is_alive():
                        self._buried(worker, todo, on_outcome)
        finally:
            self.close()

    def _give(self, worker: _Worker, todo: list) -> None:
        if todo:
            worker.cell = todo.pop()
            worker.conn.send(worker.cell)
        else:
            worker.cell = None

    def _read(self, worker: _Worker, todo, on_outcome, on_epoch) -> None:
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                if message[0] == "epoch":
                    if on_epoch is not None:
                        on_epoch(message[1:])
                elif message[0] == "note":
                    self.on_note(message[1])
                else:
                    cell, worker.cell = worker.cell, None
                    on_outcome(cell, message[1])
                    self._give(worker, todo)
        except (EOFError, OSError):  # its pipe closed: the process is gone
            self._buried(worker, todo, on_outcome)

    def _buried(self, worker: _Worker, todo, on_outcome) -> None:
        """A worker died: fail the cell it held, start another worker if cells are left."""
        worker.process.join(timeout=5)
        self.workers.remove(worker)
        worker.conn.close()
        if worker.cell is not None:
            on_outcome(worker.cell, CellOutcome(DIED, death_message(worker.process.exitcode)))
        if todo:
            self._give(self._start(), todo)

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker.conn.send(None)
            except (OSError, ValueError):
                pass
        for worker in self.workers:
            worker.process.join(timeout=5)
            if worker.process.is_alive():
                worker.process.terminate()
        self.workers = []
