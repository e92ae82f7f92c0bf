"""How a run reports itself while it trains (``Progress``) and what it did (``GridOutcome``)."""
from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gdw_bench.core.cell import CellConfig
from gdw_bench.execution.status import NOT_TRAINED_BECAUSE


@dataclass
class GridOutcome:
    done_before: int
    trained: int
    failed: list[tuple[CellConfig, str]]
    skipped: dict = dataclasses.field(default_factory=dict)  # reason → cells not trained by this run

    def skipped_lines(self, root: Path) -> list[str]:
        """One line per reason cells were left to others or to the user, e.g. "3 cells were being
        trained by another process"."""
        return [f"{len(cells)} cells {NOT_TRAINED_BECAUSE.get(reason, reason)}, e.g. {cells[0].folder(root)}"
                for reason, cells in self.skipped.items()]



def _live_line(label: str, epoch: int, epochs: int, loss, test_acc) -> str:
    text = f"{label} epoch {epoch}/{epochs}"
    text += f" loss {loss:.3f}" if isinstance(loss, float) else ""
    return text + (f" test {test_acc:.2f}%" if isinstance(test_acc, float) else "")


class Progress:
    """How a grid reports itself. On a terminal: tqdm's live bar, with the running cell's epoch, loss and
    test accuracy. Anywhere else (CI, a SLURM log, a file) a bar would rewrite its line every epoch of
    every cell, so instead: one line per finished cell and a summary line (done, elapsed, time left at
    the pace so far) at most every ``summary_every_s`` seconds."""

    def __init__(self, total: int, done_before: int, enabled: bool = True, stream=None,
                 summary_every_s: float = 30.0, estimates: dict | None = None, parallel: int = 1):
        from tqdm import tqdm

        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.interactive = enabled and hasattr(self.stream, "isatty") and self.stream.isatty()
        self.total, self.done, self.done_before = total, done_before, done_before
        self.summary_every_s = summary_every_s
        self.started = self.last_summary = time.monotonic()
        # time left from the cells' estimated costs (measured on this machine where it could), scaled by
        # how the finished cells' real time compared with their estimate; the bare pace without estimates
        self.estimates, self.parallel = dict(estimates or {}), max(1, parallel)
        self.estimated_left = sum(self.estimates.values())
        self.estimated_done = 0.0
        self.bar = tqdm(total=total, initial=done_before, disable=not self.interactive, unit="cell",
                        file=self.stream, dynamic_ncols=True, desc="cells")

    def write(self, line: str) -> None:
        """A line of its own (a note, a failure), shown even when progress is off; above the bar on a terminal."""
        if self.interactive:
            self.bar.write(line, file=self.stream)
        else:
            print(line, file=self.stream, flush=True)

    def live(self, text: str) -> None:
        """Where the running cell is: shown on a terminal only."""
        if self.interactive:
            self.bar.set_postfix_str(text)

    def time_left(self, elapsed: float) -> float:
        this_run = self.done - self.done_before
        if self.estimates and self.estimated_done > 0:
            scale = elapsed / (self.estimated_done / self.parallel)
            return self.estimated_left / self.parallel * scale
        return (self.total - self.done) * elapsed / this_run if this_run else float("nan")

    def finished(self, label: str, how: str = "trained") -> None:
        self.done += 1
        spent = self.estimates.pop(label, 0.0)
        self.estimated_left -= spent
        self.estimated_done += spent
        if self.interactive:
            self.bar.update(1)
            return
        if not self.enabled:
            return
        print(f"[{self.done}/{self.total}] {how} {label}", file=self.stream, flush=True)
        now = time.monotonic()
        if now - self.last_summary >= self.summary_every_s or self.done == self.total:
            self.last_summary = now
            elapsed = now - self.started
            left = self.time_left(elapsed)
            how = "by the cells' estimated costs" if self.estimates or self.estimated_done else "at this pace"
            print(f"progress: {self.done}/{self.total} cells done, {_clock(elapsed)} elapsed" +
                  (f", about {_clock(left)} left {how}" if self.done < self.total and left == left else ""),
                  file=self.stream, flush=True)

    def close(self) -> None:
        self.bar.close()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


def duration(seconds: float) -> str:
    """An estimate as a person reads it: "45 s", "12 min", "2.5 h"."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
