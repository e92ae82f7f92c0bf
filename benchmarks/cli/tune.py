"""`gdw-bench tune`: the same tuning budget for every method, selected on validation data (``execution.tune``),
then the reported seeds trained with the chosen values through `run --config`."""
from __future__ import annotations

import sys

import click

from gdw_bench.cli.common import (
    DEFAULT_RESULTS,
    PATH,
    _data_dir,
    _executor_options,
    _profile_option,
    _results_root,
    _slurm_options,
    cli,
    output_target,
)
from gdw_bench.errors import suggested_command, unknown_choice, writing
from gdw_bench.files import atomic_write_bytes
from gdw_bench.plan.config import derived_name

TUNED_FOLDER = "tuned"  # under the results root: the tuned configs


@cli.command()
@click.option("--table", "table_key", default="2", show_default=True, help="the table whose methods and columns to tune")
@_profile_option()
@click.option("--config", "config", type=PATH, default=None, help="a TOML profile to tune on instead of --profile")
@click.option("--methods", default=None, help="comma-separated method keys (default: the table's)")
@click.option("--levels", default=None, help="the columns to select on, e.g. 0.4 (default: the table's)")
@click.option("--budget", type=int, default=16, show_default=True,
              help="trials per method (the same for every method; one for a method without hyperparameters)")
@click.option("--selection", default="noisy-val", show_default=True,
              help="noisy-val (10 % of the noisy training set held out) | meta (the clean meta set, a second use "
                   "of it for the methods that train on it)")
@click.option("--tuning-seeds", default=None, help="seeds of the trials, never reported ones (default: 7)")
@click.option("--results-dir", type=PATH, default=DEFAULT_RESULTS, show_default=True)
@click.option("--data-dir", type=PATH, default=None, help="default: $GDW_BENCH_DATA or ~/.cache/gdw-bench")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N")
@click.option("--jobs", default=None, type=int, help="cells trained in parallel processes (default: as `run`)")
@click.option("--threads", default=None, type=int, help="CPU threads per cell (default: cores / jobs)")
@click.option("--out", type=PATH, default=None, help="the tuned config (default: <results-dir>/tuned/<name>.toml)")
@click.option("--final/--no-final", default=True, show_default=True,
              help="then train the table's reported seeds with the tuned config")
@click.option("--dry-run", is_flag=True, help="check the request and count the trial cells; train nothing")
@_executor_options
def tune(table_key, profile, config, methods, levels, budget, selection, tuning_seeds, results_dir, data_dir, device,
         jobs, threads, out, final, dry_run, executor, **slurm_args):
    """Tune every method of a table with the same budget on validation data, then train it tuned."""
    # the run and tuning layers, and Optuna: loaded by `tune` only
    from gdw_bench.core.options import RunOptions
    from gdw_bench.execution import tune as tuner
    from gdw_bench.execution.prepare import EXECUTORS, prepare, results_dir_arguments
    from gdw_bench.execution.progress import duration
    from gdw_bench.plan import planner

    request = tuner.TuneRequest(table=table_key, profile=profile, config=config, methods=methods, levels=levels,
                                budget=budget, selection=selection, tuning_seeds=tuning_seeds)
    root = _results_root(results_dir, must_write=not dry_run)
    if executor not in EXECUTORS:
        raise unknown_choice("executor", executor, EXECUTORS)
    counted = tuner.plan_tuning(request)  # every bad value: one line, before anything is written
    name = derived_name(counted.base.profile.built_on or counted.base.profile.name,
                        f"tuned-{selection}" + (f"-{levels.replace(',', '+')}" if levels else ""))
    target = output_target(out or root / TUNED_FOLDER / f"{name}.toml")
    spaces = ", ".join(f"{t.method} ({', '.join(f'{k} {v}' for k, v in t.space.items()) or 'defaults only'})"
                       for t in counted.tunings)
    click.echo(f"tuning {len(counted.tunings)} methods on table {counted.base.tables[0].key} "
               f"({config or profile}), {budget} trials each where there is a space: {spaces}", err=True)
    estimate = tuner.estimate_seconds(counted, root, device, jobs, threads)
    click.echo(f"{counted.cells} trial cells on tuning seeds {','.join(map(str, counted.base.seeds))} (estimate "
               f"{duration(estimate)} where none is done), {tuner.SELECTION_NOTES[selection]}", err=True)
    if dry_run:
        return
    data_dir = _data_dir(data_dir)
    options = RunOptions(device=device, data_dir=str(data_dir) if data_dir else None, threads=threads)
    # each round waits for its job array: the sampler needs the trials' scores before it asks again
    slurm_options = _slurm_options(device, False, **slurm_args) if executor == "slurm" else None
    result = tuner.run_tuning(counted, root, options, jobs=jobs, on_round=lambda line: click.echo(line, err=True),
                              executor=executor, slurm_options=slurm_options)
    with writing(target):
        atomic_write_bytes(target, result.config_text(name, target.parent).encode())
    left = f", {result.diverged} had diverged before (failed trials)" if result.diverged else ""
    click.echo(f"trained {result.trained} of {result.cells} trial cells ({result.cells - result.trained - result.diverged} "
               f"were done{left}); tuned config: {target}")
    for tuning in result.tunings:
        best = tuning.best
        click.echo(f"  {tuning.method:12s} " + (f"{best.score:6.2f} validation  {best.values or 'defaults'}" if best
                                                else "every trial failed: its defaults stay"))
    reported = planner.RunRequest(table=table_key, methods=",".join(t.method for t in result.tunings),
                                  levels=levels, config=target, argv=tuple(sys.argv[1:]))
    run_command = suggested_command("run", "--config", target, "--table", table_key,
                                    "--methods", reported.methods, *(["--levels", levels] if levels else []),
                                    *results_dir_arguments(root))
    if not final:
        click.echo(f"train it: {run_command}")
        return
    the_plan = planner.plan(reported)
    ready = prepare(the_plan, root, options, jobs=jobs, executor=executor, slurm_options=slurm_options)
    click.echo(f"training the reported seeds with it: {len(ready.todo)} cells (estimate {duration(ready.estimate_s)})",
               err=True)
    if ready.todo:
        outcome = ready.execute()
        if outcome.failed:
            click.echo(f"{len(outcome.failed)} cells of the tuned run failed; `{run_command}` retries them", err=True)
            sys.exit(1)
    click.echo(f"report: {ready.report_command}", err=True)

