"""`gdw-bench run`: parse → plan (``plan.planner``; a sweep: one profile per point) → prepare (``execution.prepare``:
statuses, device, estimate, checks, the stored run) → print → execute → print. Python users make the same
three calls (README, "Results from Python")."""
from __future__ import annotations

import sys

import click

from gdw_bench.cli.common import (
    DEFAULT_RESULTS,
    PATH,
    _config_options,
    _data_dir,
    _executor_options,
    _from_scratch_option,
    _profile_option,
    _results_root,
    _slurm_options,
    cli,
)
from gdw_bench.errors import UserInputError


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
@_executor_options
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
    # the run layer, loaded by `run` only (the other commands start without it)
    from gdw_bench.core.options import RunOptions
    from gdw_bench.execution.prepare import prepare
    from gdw_bench.execution.progress import duration
    from gdw_bench.plan import planner

    request = planner.RunRequest(table=table_key, seeds=seeds, methods=methods, levels=levels, profile=profile,
                                 config=config, sets=tuple(sets), sweeps=tuple(sweeps), from_scratch=from_scratch,
                                 argv=tuple(sys.argv[1:]))
    the_plan = planner.plan(request)  # every bad value of the request: one line, before anything is written
    results_dir = _results_root(results_dir, must_write=not dry_run)
    data_dir = _data_dir(data_dir)
    if tensorboard:
        try:
            import tensorboard as _  # noqa: F401
        except ImportError:
            raise UserInputError("--tensorboard needs the tensorboard package (pip install 'gdw-bench[tensorboard]')") \
                from None
    options = RunOptions(device=device, data_dir=str(data_dir) if data_dir else None, threads=threads,
                         tensorboard=tensorboard, checkpoint_every=checkpoint_every, cuda_graphs=cuda_graphs,
                         rerun=frozenset(k for k, on in (("stale", rerun_stale), ("corrupt", rerun_corrupt)) if on))
    slurm_options = _slurm_options(device, no_wait, **slurm_args) if executor == "slurm" else None
    ready = prepare(the_plan, results_dir, options, jobs=jobs, executor=executor, slurm_options=slurm_options,
                    download=download, dry_run=dry_run)
    for line in ready.warnings:  # damaged files, cells left as they are and why: one line each, the grid goes on
        click.echo(line, err=True)
    if dry_run:  # torch-free: the plan, its statuses and an estimate
        _print_dry_run(the_plan, ready.statuses, ready.todo, results_dir, ready.device_type, ready.estimate_s,
                       ready.guessed)
        return
    table, prof = the_plan.tables[0], the_plan.profile
    if not ready.todo:
        click.echo(f"all {len(the_plan.cells)} cells of table {table.key} ({prof.name}) are done or under way; "
                   f"nothing to train")
        click.echo(f"report: {ready.report_command}", err=True)
        return
    where = ready.options.device if executor == "local" else "slurm"
    click.echo(f"table {table.key} ({prof.name}): {ready.statuses.count('done')} of {len(the_plan.cells)} cells done, "
               f"training {len(ready.todo)} (estimate {duration(ready.estimate_s)}) on {where}", err=True)
    outcome = ready.execute()
    failed = outcome.failed
    for line in outcome.skipped_lines(results_dir):
        click.echo(line, err=True)
    if executor == "slurm" and not slurm_options.wait:
        click.echo(f"submitted {len(ready.todo)} cells as SLURM job {', '.join(ready.executor.job_ids)}; the same "
                   f"command with --dry-run shows their progress, and run again collects what failed")
    else:
        prefix = f"SLURM job {', '.join(ready.executor.job_ids)}: " if executor == "slurm" else ""
        click.echo(f"{prefix}trained {outcome.trained} cells, {outcome.done_before} were already done, "
                   f"{len(failed)} failed; results in {results_dir}")
        click.echo(f"report: {ready.report_command}", err=True)
    if failed:
        for cell, error in failed:
            click.echo(f"failed: {cell.folder(results_dir)}: {error}", err=True)
        sys.exit(1)


def _print_dry_run(the_plan, statuses, todo, results_dir, device_type, eta, guessed: int = 0) -> None:
    """Every cell with its status, the counts, the estimated time for the cells to train, and (for an
    accuracy table with results) the regime verdicts of its columns."""
    from gdw_bench.execution.progress import duration  # the run layer, loaded by `run` only

    for cell, status in zip(the_plan.cells, statuses):
        click.echo(f"{status:8s} {cell.folder(results_dir)}")
    counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    click.echo(f"{len(the_plan.cells)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items()) +
               f"; estimated time for the {len(todo)} to train: {duration(eta)} on {device_type}" +
               (f" ({guessed} of them from the profile's built-in speeds: nothing timed on this machine yet; `run` "
                f"times them first)" if guessed else ""))
    table = the_plan.tables[0]
    if "done" in statuses and table.kind == "accuracy":
        from gdw_bench.reporting import report as rep  # pandas, scipy: only for a table with results

        for line in rep.regime_lines(rep.load_records(results_dir), table, the_plan.profile, list(the_plan.seeds),
                                     the_plan.request.from_scratch):
            click.echo(line)
