"""How a grid reports itself: a live bar on a terminal; elsewhere one line per finished cell and a
summary at most every 30 s (a CI or SLURM log is not rewritten once per epoch of every cell)."""
import io

from gdw_bench.execution.progress import Progress


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_outside_a_terminal_each_finished_cell_is_one_line_and_summaries_are_rationed():
    stream = io.StringIO()
    progress = Progress(total=5, done_before=1, stream=stream, summary_every_s=30.0)
    progress.live("digits/uniform-0.4/gdw/seed-1 epoch 3/80 loss 1.2")  # epoch updates: never written to a log
    for i in range(1, 5):
        progress.finished(f"cell-{i}", "trained" if i != 3 else "failed")
    progress.write("a note")
    progress.close()
    lines = stream.getvalue().splitlines()
    assert lines[:4] == ["[2/5] trained cell-1", "[3/5] trained cell-2", "[4/5] failed cell-3", "[5/5] trained cell-4"]
    summaries = [line for line in lines if line.startswith("progress:")]
    assert len(summaries) == 1 and summaries[0].startswith("progress: 5/5 cells done,")  # the last one only
    assert lines[-1] == "a note" and "epoch 3/80" not in stream.getvalue()


def test_a_summary_line_comes_when_its_interval_has_passed():
    stream = io.StringIO()
    progress = Progress(total=10, done_before=0, stream=stream, summary_every_s=0.0)
    progress.finished("cell-1")
    assert "progress: 1/10 cells done, 0:00 elapsed, about" in stream.getvalue()


def test_on_a_terminal_the_bar_is_live_and_no_per_cell_lines_are_printed():
    stream = Terminal()
    progress = Progress(total=3, done_before=0, stream=stream)
    progress.live("cell-1 epoch 1/2")
    progress.finished("cell-1")
    progress.close()
    assert progress.interactive and "[1/3]" not in stream.getvalue() and "cells" in stream.getvalue()


def test_disabled_progress_prints_notes_only():
    stream = io.StringIO()
    progress = Progress(total=2, done_before=0, enabled=False, stream=stream)
    progress.finished("cell-1")
    progress.write("FAILED cell-2: reason")
    progress.close()
    assert stream.getvalue() == "FAILED cell-2: reason\n"
