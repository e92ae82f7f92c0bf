"""How cells are trained (never what): one frozen value handed whole from `run` to the engine by every
executor — in-process, the ``--jobs`` worker pool and SLURM array tasks alike — and the typed outcome
each cell comes back with. Torch-free: planning and reporting import it without torch.

A field added here reaches the engine everywhere at once; ``tests/test_execute.py`` runs every field
through each executor and reads it back from the record the engine wrote (``record["run_options"]``).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gdw_bench.errors import UserInputError

TRAINED, FAILED, SKIPPED, DIED = "trained", "failed", "skipped", "died"
MAX_JOBS = 256  # worker processes of one `run`: beyond any machine's useful parallelism
MAX_THREADS = 1024  # torch.set_num_threads accepts without overflowing
RERUN_KINDS = ("stale", "corrupt")


@dataclass(frozen=True, kw_only=True)
class RunOptions:
    """Every option of `run` that changes how, not what, is trained (a cell's identity ignores them)."""

    device: str = "cpu"  # "cpu" | "cuda" | "cuda:N" as resolved for the machine that trains ("auto" until then)
    data_dir: str | None = None  # where datasets are read (None: $GDW_BENCH_DATA or ~/.cache/gdw-bench)
    threads: int | None = None  # torch CPU threads per cell (None: the executor's share of the cores)
    tensorboard: bool = False  # also write TensorBoard events per cell
    rerun: frozenset = frozenset()  # "stale" and/or "corrupt": retrain cells whose record is of that kind
    checkpoint_every: float | None = None  # seconds of training between checkpoints (None: the engine's 10 s)
    cuda_graphs: bool = True  # replay graph-safe methods' steps as CUDA graphs on a GPU

    def __post_init__(self):
        """Every field checked where it is made, for the CLI and Python callers alike: one line each."""
        object.__setattr__(self, "rerun", frozenset(self.rerun))
        if self.device != "auto" and self.device != "cpu" and not self.device.startswith("cuda"):
            raise UserInputError(f"unknown device '{self.device}'; valid: auto, cpu, cuda, cuda:N")
        if self.threads is not None and (isinstance(self.threads, bool) or not 1 <= self.threads <= MAX_THREADS):
            raise UserInputError(f"--threads {self.threads} must be at least 1" if self.threads < 1 else
                                 f"--threads {self.threads} is more than {MAX_THREADS}; valid: 1…{MAX_THREADS}")
        if self.checkpoint_every is not None and not 0 <= self.checkpoint_every < float("inf"):
            raise UserInputError(f"--checkpoint-every {self.checkpoint_every} must be a number of seconds ≥ 0")
        if not self.rerun <= set(RERUN_KINDS):
            raise UserInputError(f"rerun {sorted(self.rerun)}: valid: {', '.join(RERUN_KINDS)}")

    def for_record(self) -> dict:
        """The options as plain data, as the engine stores them in each record it writes."""
        out = dataclasses.asdict(self)
        out["rerun"] = sorted(self.rerun)
        return out

    def with_threads(self, threads: int | None) -> "RunOptions":
        return dataclasses.replace(self, threads=threads)


@dataclass(frozen=True)
class CellOutcome:
    """What became of one cell: trained, failed (its error), skipped (done meanwhile, busy in another
    process, or a stale/corrupt record not to be touched: the reason), or died (its process or job was
    lost before the engine could say)."""

    kind: str  # TRAINED | FAILED | SKIPPED | DIED
    detail: str = ""  # the error, the skip reason, or how it died
    slurm_job_id: str | None = None  # the array task that died, when one did
    # A trained cell's cost, from its record, for later estimates (costs.json): wall seconds and device type
    wall_s: float | None = None
    device_type: str = ""

    @property
    def trained(self) -> bool:
        return self.kind == TRAINED
