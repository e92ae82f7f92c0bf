"""`run` as a library call: ``prepare(plan, root, options)`` → a ``Preflight``, then ``execute`` it.

Everything `gdw-bench run` does between planning and training, for the command line and Python users
alike: the older-layout check, each cell's status (damaged files become warnings), the cells to train,
the device (resolved here, or left to each SLURM task), the parallelism, the time estimate, the data and
pretrained-weight checks, and — unless it is a dry run — the stored run that `report` reads back by
name. Every bad value is a one-line ``UserInputError`` before anything is written::

    the_plan = plan(RunRequest(table="2", seeds="1,2"))
    ready = prepare(the_plan, Path("results"), RunOptions(device="auto", threads=1))
    outcome = execute(ready.plan, ready.root, ready.options, ready.executor, statuses=ready.statuses,
                      estimates=ready.estimates_by_label, parallel=ready.parallel)   # = ready.execute()

A dry run (``dry_run=True``) imports no torch and writes nothing.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from gdw_bench.core.options import MAX_JOBS, RunOptions
from gdw_bench.errors import UserInputError, suggested_command, unknown_choice, writing
from gdw_bench.execution import slurm, status
from gdw_bench.execution.execute import InProcess, Pool, Slurm, execute
from gdw_bench.execution.progress import duration
from gdw_bench.plan import costs, runs
from gdw_bench.plan.planner import Plan, planned_device_type
from gdw_bench.storage.migrate import old_layout_records

EXECUTORS = ("local", "slurm")


@dataclass(frozen=True, kw_only=True)
class Preflight:
    """A plan checked and ready to train under ``root``: what `run` prints before it trains, and what
    ``execute`` needs."""

    plan: Plan
    root: Path
    options: RunOptions  # the device resolved for a local run (a SLURM task resolves its own), the threads set
    executor: object  # InProcess | Pool | Slurm (``gdw_bench.execution.execute``); None for a dry run
    executor_name: str  # "local" | "slurm"
    device_type: str  # "cpu" | "cuda": what the estimates are for
    statuses: list[str]  # each planned cell's status, in plan order
    todo: list  # the cells to train
    estimates: list[float]  # seconds per cell to train
    estimate_s: float  # until they are all done, at ``parallel`` cells at once
    guessed: int = 0  # cells estimated from the profile's built-in speeds (nothing timed on this machine)
    parallel: int  # cells training at once
    jobs: int  # local worker processes
    warnings: list[str] = field(default_factory=list)  # one line each: damaged files, cells left as they are, …
    stored_run: str = ""  # the name `report --profile` reads this run back by ("" for a dry run: nothing saved)

    @property
    def estimates_by_label(self) -> dict:
        return {cell.label: seconds for cell, seconds in zip(self.todo, self.estimates)}

    @property
    def report_command(self) -> str:
        return suggested_command("report", "--profile", self.stored_run or self.plan.name,
                                 *results_dir_arguments(self.root))

    def execute(self, progress: bool = True):
        """Train the cells to train (``gdw_bench.execution.execute.execute``); the grid's outcome."""

        if self.executor is None:
            raise ValueError("a dry run's preflight trains nothing; prepare it without dry_run")
        return execute(self.plan, self.root, self.options, self.executor, statuses=self.statuses, progress=progress,
                       estimates=self.estimates_by_label, parallel=self.parallel)


def results_dir_arguments(root: Path) -> tuple:
    """``--results-dir ROOT`` for a suggested command, or nothing where ROOT is the default ``results``."""
    return () if Path(root).resolve() == Path("results").resolve() else ("--results-dir", root)


def prepare(plan: Plan, root: Path, options: RunOptions | None = None, *, jobs: int | None = None,
            executor: str = "local", slurm_options=None, download: bool = False, dry_run: bool = False,
            save_run: bool = True) -> Preflight:
    """Check ``plan`` for training under ``root`` (see the module's docstring). ``options.device`` may be
    "auto"; ``options.threads`` None picks cores / jobs; ``jobs`` None picks cores / threads, at most the
    cells to train (1 on a GPU); ``slurm_options`` (``gdw_bench.execution.slurm.SlurmOptions``) with
    ``executor="slurm"``. ``save_run`` off: no stored run (a tuner's trials, which `report` must not pick)."""
    options = options or RunOptions()
    root = Path(root)
    if executor not in EXECUTORS:
        raise unknown_choice("executor", executor, EXECUTORS)
    if executor == "slurm" and slurm_options is None:
        raise UserInputError("executor 'slurm' needs its options (gdw_bench.execution.slurm.SlurmOptions)")
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        raise UserInputError(f"--jobs {jobs} must be at least 1" if jobs < 1 else
                             f"--jobs {jobs} is more than {MAX_JOBS} processes; valid: 1…{MAX_JOBS}")
    device_type = planned_device_type(options.device)  # torch-free; a local run resolves the device below
    _refuse_old_layout(root)
    problems: list[str] = []
    statuses = status.cell_statuses(list(plan.cells), root, problems)
    warnings = [f"warning: {line}" for line in problems]
    todo = [c for c, s in zip(plan.cells, statuses) if status.to_train(s, options.rerun)]
    if not dry_run:
        from gdw_bench.training.engine import resolve_device  # torch: a dry run never gets here

        if executor == "local":
            device = resolve_device(options.device)
            device_type = device.type
            options = dataclasses.replace(options, device=str(device))
        else:
            resolve_device(options.device, here=False)  # its syntax only: each task finds its own device
    threads_given = options.threads  # SLURM tasks take theirs from SLURM_CPUS_PER_TASK unless threads says
    jobs, threads = status.default_parallelism(jobs, options.threads, device_type, len(todo))
    if executor == "local":
        options = dataclasses.replace(options, threads=threads)
    parallel = slurm_options.parallelism if executor == "slurm" else jobs if device_type == "cpu" else 1
    measured = costs.load(root, warn=lambda line: warnings.append(f"warning: {line}"))
    if not dry_run:  # the data the probes train on is checked first (a dry run probes only what it can read)
        from gdw_bench.execution import checks  # torch (models run on a blank batch): a dry run never gets here

        checks.check_data(plan.cells, Path(options.data_dir) if options.data_dir else None, download)
    # `run` probes whatever this machine never timed; a dry run, torch-free, trusts a profile's calibration
    probes = _probes(todo, plan.profile, device_type, measured, options, dry_run) if executor == "local" else {}
    measured = {**measured, **{key: [seconds] for key, seconds in probes.items()}}
    estimates = [costs.estimate(c, plan.profile, device_type, measured) for c in todo]
    estimate_s = sum(estimates) / max(1, min(parallel, len(todo)))
    guessed = sum(not costs.timed_here(c, device_type, measured) for c in todo)
    warnings += _skipped_lines(plan.cells, statuses, root, options.rerun)
    if dry_run:
        return Preflight(plan=plan, root=root, options=options, executor=None, executor_name=executor,
                         device_type=device_type, statuses=statuses, todo=todo, estimates=estimates,
                         estimate_s=estimate_s, parallel=parallel, jobs=jobs, warnings=warnings, guessed=guessed)
    from gdw_bench.training.models import check_pretrained  # torch: a dry run returned above

    if executor == "slurm" and todo:
        slurm.check_cluster()  # before anything is written: no cluster, one line
    check_pretrained(c.protocol.model for c in todo if c.protocol.pretrained)
    if plan.profile.needs_gpu and device_type == "cpu" and todo:
        warnings.append(f"warning: the {plan.profile.name} profile on a CPU takes about {duration(estimate_s)} for "
                        f"{len(todo)} cells; use a GPU (--device cuda) or --profile mini")
    stored = plan.stored_run()
    with writing(runs.path_of(root, stored.name)):  # a full disk, or a file named runs: one line
        if save_run:
            runs.save(root, stored)  # what was asked, resolved: `report` reads it back by name
        costs.add_probes(root, probes)  # a dry run keeps its probes in memory: it writes nothing
    if executor == "slurm":
        options = dataclasses.replace(options, threads=threads_given)
        runner = Slurm(slurm_options, estimates)
    else:
        runner = Pool(jobs) if jobs > 1 else InProcess()
    return Preflight(plan=plan, root=root, options=options, executor=runner, executor_name=executor,
                     device_type=device_type, statuses=statuses, todo=todo, estimates=estimates, estimate_s=estimate_s,
                     parallel=parallel, jobs=jobs, warnings=warnings, stored_run=stored.name if save_run else "",
                     guessed=guessed)


def _probes(todo, profile, device_type: str, measured: dict, options: RunOptions,
            trust_profile: bool = False) -> dict[str, float]:
    """BaseModel's seconds per epoch for each (dataset, model, protocol) among ``todo`` that nothing here has
    timed (``costs.needs_probe``), a second or two each (``training.probe``); where the data cannot be read
    yet (a dry run without it), none, and the estimate falls back to the profile's guess."""
    wanted = {}
    for cell in todo:
        if costs.needs_probe(cell, profile, device_type, measured, trust_profile):
            wanted.setdefault(costs.probe_key(cell, device_type), cell)
    if not wanted:
        return {}
    from gdw_bench.training.engine import resolve_device  # torch: only where something is to be timed
    from gdw_bench.training.probe import basemodel_seconds_per_epoch

    device = resolve_device(options.device)
    found = {}
    for key, cell in wanted.items():
        try:
            seconds = basemodel_seconds_per_epoch(cell, device, Path(options.data_dir) if options.data_dir else None,
                                                  options.threads)
            found[key] = round(seconds, 5)  # as costs.json keeps it: `run` estimates with the stored value
        except (UserInputError, OSError, RuntimeError):  # its data is missing or damaged: `run` says so itself
            continue
    return found


def _refuse_old_layout(root: Path) -> None:
    """A root of the older layout would have every cell trained again: say how to move it instead."""
    if root.is_dir():
        old = old_layout_records(root)
        if old:
            migrate = suggested_command("migrate", "--results-dir", root)
            raise UserInputError(f"{root} holds {len(old)} records in the older layout (<profile>/<dataset>/…, e.g. "
                                 f"{old[0].parent.relative_to(root)}); valid: run `{migrate}` first (moves them in place, "
                                 f"retrains nothing), or another --results-dir")


def _skipped_lines(cells, statuses, root: Path, rerun=frozenset()) -> list[str]:
    """Why cells that are not done are not trained now, one line per reason."""
    lines = []
    for kind in ("stale", "corrupt", "running", "queued"):
        hit = [c for c, s in zip(cells, statuses) if s == kind and kind not in rerun]
        if hit:
            lines.append(f"{len(hit)} cells {status.NOT_TRAINED_BECAUSE[kind]}, e.g. {hit[0].folder(root)}")
    return lines
