"""`gdw-bench run`: plan the request (a sweep: one profile per point), store the resolved run, train the
cells not done yet through one executor."""
from __future__ import annotations

import sys
from pathlib import Path

import click

from gdw_bench.cli.common import (
    DEFAULT_RESULTS,
    MAX_JOBS,
    MAX_THREADS,
    PATH,
    _config_options,
    _data_dir,
    _duration,
    _from_scratch_option,
    _profile_option,
    _results_root,
    _writing,
    cli,
)
from gdw_bench.errors import UserInputError, suggested_command, unknown_choice
from gdw_bench.storage.migrate import old_layout_records


@cli.command()
@click.option("--table", "table_key", default=None,
              help="2–8, fig3–fig7 or all (see `gdw-bench list tables`); default: the config's `tables`")
@click.option("--seeds", default=None, help="comma-separated seeds (default: the table's, 1,10,100,1000,10000)")
@click.option("--methods", default=None, help="comma-separated method keys, or 'all' (default: the table's)")
@click.option("--levels", default=None, help="only these levels of the table's columns, e.g. 0,0.4")
@_profile_option()
@click.option("--results-dir", type=PATH, default=DEFAULT_RESULTS, show_default=True)
@click.option("--data-dir", type=PATH, default=None, help="default: $GDW_BENCH_DATA or ~/.cache/gdw-bench")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N")
@click.option("--jobs", default=None, type=int,
              help="cells trained in parallel processes (default on CPU: cores / --threads, at most the cells to "
                   "train; on a GPU: 1)")
@click.option("--threads", default=None, type=int,
              help="CPU threads per cell (default: cores / jobs); fix it to get the same numbers on another machine")
@click.option("--dry-run", is_flag=True, help="list every cell with its status and the estimated time left")
@click.option("--download", is_flag=True, help="download CIFAR into --data-dir when it is missing")
@_from_scratch_option
@click.option("--executor", default="local", show_default=True, help="local | slurm (one job array via submitit)")
@click.option("--slurm-partition", default=None, help="slurm: partition (default: the cluster's)")
@click.option("--slurm-time-min", type=int, default=None, help="slurm: time limit per cell (default 3× its estimate, ≥ 10)")
@click.option("--slurm-cpus", type=int, default=2, show_default=True, help="slurm: CPUs per cell")
@click.option("--slurm-mem-gb", type=float, default=8.0, show_default=True, help="slurm: memory per cell")
@click.option("--slurm-gpus", type=int, default=None, help="slurm: GPUs per cell (default 1 with --device cuda, else 0)")
@click.option("--slurm-parallelism", type=int, default=64, show_default=True, help="slurm: cells running at once")
@click.option("--slurm-option", "slurm_extra", multiple=True, help="slurm: another sbatch option KEY=VALUE (repeatable)")
@click.option("--no-wait", is_flag=True, help="slurm: submit and return (run the command again to collect)")
@click.option("--tensorboard", is_flag=True, help="also write TensorBoard events per cell (<cell>/tensorboard/)")
@click.option("--rerun-stale", is_flag=True,
              help="retrain cells whose record is of another configuration (the old record is kept beside it)")
@click.option("--rerun-corrupt", is_flag=True,
              help="retrain cells whose record is damaged (the damaged file is kept beside it)")
@click.option("--checkpoint-every", "checkpoint_every", type=float, default=None,
              help="seconds of training between checkpoints (default 10; 0: after every epoch)")
@click.option("--sweep", "sweeps", multiple=True, metavar="KEY=V1,V2,…",
              help="train the grid at each value of a hyperparameter or protocol key (gdw.outer_lr=10,50,100; "
                   "epochs=20,40); several --sweep make a product. Cells no value changes are shared, never retrained")
@click.option("--cuda-graphs/--no-cuda-graphs", "cuda_graphs", default=True, show_default=True,
              help="on a GPU, replay each step of the methods that allow it as one CUDA graph")
@_config_options
def run(table_key, seeds, methods, levels, profile, results_dir, data_dir, device, jobs, threads, dry_run, download,
        from_scratch, executor, no_wait, tensorboard, rerun_stale, rerun_corrupt, checkpoint_every, sweeps, cuda_graphs,
        config, sets, **slurm_args):
    """Run the cells of a table's seed × setting grid that are not done yet."""
    from gdw_bench.plan import grid, planner, runs  # each command imports its layer when it runs
    request = planner.RunRequest(table=table_key, seeds=seeds, methods=methods, levels=levels, profile=profile,
                                 config=config, sets=tuple(sets), sweeps=tuple(sweeps), from_scratch=from_scratch,
                                 argv=tuple(sys.argv[1:]))
    the_plan = planner.plan(request)  # every bad value of the request: one line, before anything is written
    prof, table, cells = the_plan.profile, the_plan.tables[0], list(the_plan.cells)
    results_dir = _results_root(results_dir, must_write=not dry_run)
    data_dir = _data_dir(data_dir)
    if jobs is not None and not 1 <= jobs <= MAX_JOBS:
        raise UserInputError(f"--jobs {jobs} must be at least 1" if jobs < 1 else
                             f"--jobs {jobs} is more than {MAX_JOBS} processes; valid: 1…{MAX_JOBS}")
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise UserInputError(f"--threads {threads} must be at least 1" if threads < 1 else
                             f"--threads {threads} is more than {MAX_THREADS}; valid: 1…{MAX_THREADS}")
    if executor not in ("local", "slurm"):
        raise unknown_choice("executor", executor, ("local", "slurm"))
    if checkpoint_every is not None and not 0 <= checkpoint_every < float("inf"):
        raise UserInputError(f"--checkpoint-every {checkpoint_every} must be a number of seconds ≥ 0")
    rerun = frozenset(k for k, on in (("stale", rerun_stale), ("corrupt", rerun_corrupt)) if on)
    if tensorboard:
        try:
            import tensorboard as _  # noqa: F401
        except ImportError:
            raise UserInputError("--tensorboard needs the tensorboard package (pip install 'gdw-bench[tensorboard]')") \
                from None
    slurm_options = _slurm_options(device, no_wait, **slurm_args) if executor == "slurm" else None
    device_type = planner.planned_device_type(device)  # torch-free; training resolves the device itself below
    _refuse_old_layout(results_dir)
    problems: list[str] = []
    statuses = the_plan.statuses(results_dir, problems)
    for line in problems:  # damaged files: one line each, and the grid goes on
        click.echo(f"warning: {line}", err=True)
    todo = [c for c, s in zip(cells, statuses) if grid.to_train(s, rerun)]
    if dry_run:  # torch-free: the plan, its statuses and an estimate
        jobs, threads = grid.default_parallelism(jobs, threads, device_type, len(todo))
        eta, _ = _estimate(the_plan, todo, results_dir, device_type, executor, slurm_options, jobs)
        _print_dry_run(the_plan, statuses, todo, results_dir, device_type, eta)
        return
    from gdw_bench.training.engine import resolve_device
    from gdw_bench.training.models import check_pretrained

    dev = resolve_device(device, here=executor == "local")
    threads_given = threads  # SLURM tasks take theirs from SLURM_CPUS_PER_TASK unless --threads says
    jobs, threads = grid.default_parallelism(jobs, threads, dev.type, len(todo))
    eta, estimates = _estimate(the_plan, todo, results_dir, dev.type, executor, slurm_options, jobs)
    if executor == "slurm" and todo:
        from gdw_bench.execution import slurm

        slurm.check_cluster()  # before anything is written: no cluster, one line
    grid.check_data(cells, data_dir, download)
    check_pretrained(c.protocol.model for c in todo if c.protocol.pretrained)
    if prof.needs_gpu and dev.type == "cpu" and todo:
        click.echo(f"warning: the paper profile on a CPU takes about {_duration(eta)} for {len(todo)} cells; "
                   "use a GPU (--device cuda) or --profile mini", err=True)
    _explain_skipped(cells, statuses, results_dir, rerun)

    stored = the_plan.stored_run()
    with _writing(runs.path_of(results_dir, stored.name)):  # a full disk, or a file named runs: one line
        runs.save(results_dir, stored)  # what was asked, resolved: `report` reads it back by name
    report_command = suggested_command("report", "--profile", stored.name, *(
        () if results_dir.resolve() == DEFAULT_RESULTS.resolve() else ("--results-dir", results_dir)))
    if not todo:
        click.echo(f"all {len(cells)} cells of table {table.key} ({prof.name}) are done or under way; nothing to train")
        click.echo(f"report: {report_command}", err=True)
        return
    click.echo(f"table {table.key} ({prof.name}): {statuses.count('done')} of {len(cells)} cells done, "
               f"training {len(todo)} (estimate {_duration(eta)}) on {dev if executor == 'local' else 'slurm'}",
               err=True)
    from gdw_bench.execution.execute import InProcess, Pool, Slurm, execute
    from gdw_bench.execution.options import RunOptions

    options = RunOptions(device=str(dev) if executor == "local" else device,
                         data_dir=str(data_dir) if data_dir else None,
                         threads=threads_given if executor == "slurm" else threads, tensorboard=tensorboard,
                         rerun=rerun, checkpoint_every=checkpoint_every, cuda_graphs=cuda_graphs)
    runner = Slurm(slurm_options, estimates) if executor == "slurm" else Pool(jobs) if jobs > 1 else InProcess()
    outcome = execute(the_plan, results_dir, options, runner, statuses=statuses,
                      estimates={c.label: e for c, e in zip(todo, estimates)},
                      parallel=_parallel(executor, dev.type, slurm_options, jobs))
    failed = outcome.failed
    for line in outcome.skipped_lines(results_dir):
        click.echo(line, err=True)
    if executor == "slurm" and not slurm_options.wait:
        click.echo(f"submitted {len(todo)} cells as SLURM job {', '.join(runner.job_ids)}; the same command with "
                   f"--dry-run shows their progress, and run again collects what failed")
    else:
        where = f"SLURM job {', '.join(runner.job_ids)}: " if executor == "slurm" else ""
        click.echo(f"{where}trained {outcome.trained} cells, {outcome.done_before} were already done, "
                   f"{len(failed)} failed; results in {results_dir}")
        click.echo(f"report: {report_command}", err=True)
    if failed:
        for cell, error in failed:
            click.echo(f"failed: {cell.folder(results_dir)}: {error}", err=True)
        sys.exit(1)


def _parallel(executor: str, device_type: str, slurm_options, jobs: int) -> int:
    """Cells that train at once: --jobs on a local CPU, the array's parallelism on SLURM, else one."""
    if executor == "slurm":
        return slurm_options.parallelism
    return jobs if device_type == "cpu" else 1


def _estimate(the_plan, todo, results_dir, device_type, executor, slurm_options, jobs) -> tuple[float, list[float]]:
    """Seconds until the cells to train are done (their estimates over the cells running at once), and
    each cell's estimate: what this machine measured (the results root's costs.json), else the profile's."""
    from gdw_bench.plan import costs, grid
    measured = costs.load(results_dir, warn=lambda line: click.echo(f"warning: {line}", err=True))
    estimates = [grid.estimate_seconds(c, the_plan.profile, device_type, measured) for c in todo]
    parallel = _parallel(executor, device_type, slurm_options, jobs)
    return sum(estimates) / max(1, min(parallel, len(todo))), estimates


def _print_dry_run(the_plan, statuses, todo, results_dir, device_type, eta) -> None:
    """Every cell with its status, the counts, the estimated time for the cells to train, and (for an
    accuracy table with results) the regime verdicts of its columns."""
    for cell, status in zip(the_plan.cells, statuses):
        click.echo(f"{status:8s} {cell.folder(results_dir)}")
    counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    click.echo(f"{len(the_plan.cells)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items()) +
               f"; estimated time for the {len(todo)} to train: {_duration(eta)} on {device_type}")
    table = the_plan.tables[0]
    if "done" in statuses and table.kind == "accuracy":
        from gdw_bench.reporting import report as rep

        for line in rep.regime_lines(rep.load_records(results_dir), table, the_plan.profile, list(the_plan.seeds),
                                     the_plan.request.from_scratch):
            click.echo(line)


def _refuse_old_layout(root: Path) -> None:
    """A root of the older layout would have every cell trained again: say how to move it instead."""
    if root.is_dir():
        old = old_layout_records(root)
        if old:
            migrate = suggested_command("migrate", "--results-dir", root)
            raise UserInputError(f"{root} holds {len(old)} records in the older layout (<profile>/<dataset>/…, e.g. "
                                 f"{old[0].parent.relative_to(root)}); valid: run `{migrate}` first (moves them in place, "
                                 f"retrains nothing), or another --results-dir")


def _slurm_options(device, no_wait, slurm_partition, slurm_time_min, slurm_cpus, slurm_mem_gb, slurm_gpus,
                   slurm_parallelism, slurm_extra):
    from gdw_bench.execution import slurm

    for name, value in (("--slurm-time-min", slurm_time_min), ("--slurm-cpus", slurm_cpus),
                        ("--slurm-mem-gb", slurm_mem_gb), ("--slurm-parallelism", slurm_parallelism)):
        if value is not None and not value > 0:
            raise UserInputError(f"{name} {value} must be positive")
    if slurm_gpus is not None and slurm_gpus < 0:
        raise UserInputError(f"--slurm-gpus {slurm_gpus} must be 0 or more")
    extra = slurm.parse_extra(slurm_extra)
    slurm.check_available()
    gpus = slurm_gpus if slurm_gpus is not None else int(device.startswith("cuda"))
    return slurm.SlurmOptions(partition=slurm_partition, timeout_min=slurm_time_min, cpus_per_task=slurm_cpus,
                              mem_gb=slurm_mem_gb, gpus_per_task=gpus, parallelism=slurm_parallelism, extra=extra,
                              wait=not no_wait)


def _explain_skipped(cells, statuses, results_dir, rerun=frozenset()) -> None:
    """Say why cells that are not done are not trained now."""
    from gdw_bench.plan.grid import NOT_TRAINED_BECAUSE
    for status in ("stale", "corrupt", "running", "queued"):
        why = NOT_TRAINED_BECAUSE[status]
        hit = [c for c, s in zip(cells, statuses) if s == status and status not in rerun]
        if hit:
            click.echo(f"{len(hit)} cells {why}, e.g. {hit[0].folder(results_dir)}", err=True)
