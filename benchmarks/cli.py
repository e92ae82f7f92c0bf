"""The ``gdw-bench`` command line: run, report, list, info, export, speed.

Bad input is a one-line message on stderr and exit code 2, before anything is written.
"""
from __future__ import annotations

import contextlib

import json
import sys
from pathlib import Path

import click

from gdw_bench.errors import UserInputError

FORMATS = ("markdown", "latex", "csv")
SUFFIXES = {"markdown": "md", "latex": "tex", "csv": "csv"}
DEFAULT_RESULTS = Path("results")


class _NonEmptyPath(click.Path):
    """click's Path, refusing '' (which pathlib would read as the current folder)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            raise UserInputError(f"{param.opts[0] if param else 'a path'} '' is empty; valid: a path")
        return super().convert(value, param, ctx)


PATH = _NonEmptyPath(path_type=Path)


def _profile_option(default="mini"):
    return click.option("--profile", default=default, show_default=True,
                        help="paper | mini | fmnist | fmnist-paper (the base of --config / --set)")


def _config_options(command):
    command = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                           help="change one key of the profile, e.g. epochs=20, gdw.outer_lr=50, "
                                "datasets.digits.lr=0.05, seeds=1,2 (repeatable)")(command)
    return click.option("--config", "config", type=PATH, default=None,
                        help="a TOML profile (see `gdw-bench info mini --as-config`)")(command)


def _resolve_profile(profile: str, config: Path | None, sets: tuple[str, ...]):
    """The built-in profile, or the one a config file and --set overrides define on top of it."""
    from gdw_bench.specs import get_profile

    if config is None and not sets:
        return get_profile(profile)
    from gdw_bench.config import load_profile

    get_profile(profile)  # a bad --profile is still an error
    return load_profile(config, tuple(sets), base=profile)


_from_scratch_option = click.option(
    "--from-scratch", is_flag=True,
    help="ResNet-18 from random weights instead of ImageNet-pretrained (Tables 5, 7 without a network); "
         "kept apart from pretrained results")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gdw-bench")
def cli():
    """gdw-bench: data reweighting under label noise and class imbalance (GDW, NeurIPS 2021)."""


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
    from gdw_bench import grid
    from gdw_bench.engine import resolve_device
    from gdw_bench.errors import unknown_choice
    from gdw_bench.models import check_pretrained
    from gdw_bench.specs import TABLES, get_table, parse_seeds

    prof = _resolve_profile(profile, config, sets)
    if table_key is None and not prof.tables:
        raise UserInputError("--table is missing; valid: 2–8 or fig3–fig7 (or `tables = [...]` in a --config)")
    if table_key is not None and table_key.strip().lower() == "all":  # every table and figure; cells shared once
        tables = list(TABLES.values())
    else:
        tables = [get_table(table_key)] if table_key is not None else [get_table(t) for t in prof.tables]
    table = tables[0]
    results_dir = _results_root(results_dir, must_write=not dry_run)
    data_dir = _data_dir(data_dir)
    seed_list = parse_seeds(seeds) if seeds is not None else prof.seeds or table.seeds
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
    dev = resolve_device(device, here=executor == "local")
    _refuse_old_layout(results_dir)
    axes, points = _sweep_points(profile, config, sets, sweeps, prof)
    cells, seen = [], set()
    for variant in [p for p, _ in points] or [prof]:  # a sweep: one profile per point; cells they share, once
        for cell in grid.plan(tables, variant, seed_list, methods, levels, from_scratch):
            if (cell.folder(results_dir), cell.config_hash) not in seen:
                seen.add((cell.folder(results_dir), cell.config_hash))
                cells.append(cell)
    if not cells:
        raise UserInputError(f"table {', '.join(t.key for t in tables)} has no cells in profile '{prof.name}' for "
                             f"these options")
    problems: list[str] = []
    statuses = grid.cell_statuses(cells, results_dir, problems)
    for line in problems:  # damaged files: one line each, and the grid goes on
        click.echo(f"warning: {line}", err=True)
    todo = [c for c, s in zip(cells, statuses) if grid.to_train(s, rerun)]
    threads_given = threads  # SLURM tasks take theirs from SLURM_CPUS_PER_TASK unless --threads says
    jobs, threads = grid.default_parallelism(jobs, threads, dev.type, len(todo))
    from gdw_bench import costs

    measured = costs.load(results_dir)  # what cells took on this machine before (results root's costs.json)
    estimates = [grid.estimate_seconds(c, prof, dev.type, measured) for c in todo]
    parallel = jobs if executor == "local" and dev.type == "cpu" else slurm_options.parallelism if slurm_options else 1
    eta = sum(estimates) / max(1, min(parallel, len(todo)))
    if dry_run:
        for cell, status in zip(cells, statuses):
            click.echo(f"{status:8s} {cell.folder(results_dir)}")
        counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
        click.echo(f"{len(cells)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items()) +
                   f"; estimated time for the {len(todo)} to train: {_duration(eta)} on {dev.type}")
        if "done" in statuses and table.kind == "accuracy":
            from gdw_bench import report as rep

            for line in rep.regime_lines(rep.load_records(results_dir), table, prof, seed_list, from_scratch):
                click.echo(line)
        return
    if executor == "slurm" and todo:
        from gdw_bench import slurm

        slurm.check_cluster()  # before anything is written: no cluster, one line
    grid.check_data(cells, data_dir, download)
    check_pretrained(c.protocol.model for c in todo if c.protocol.pretrained)
    if prof.needs_gpu and dev.type == "cpu" and todo:
        click.echo(f"warning: the paper profile on a CPU takes about {_duration(eta)} for {len(todo)} cells; "
                   "use a GPU (--device cuda) or --profile mini", err=True)
    _explain_skipped(cells, statuses, results_dir, rerun)
    from gdw_bench import runs

    stored = runs.StoredRun(_run_name(prof, axes), prof, [t.key for t in tables], list(seed_list), methods, levels,
                            axes, points, sys.argv[1:])
    runs.save(results_dir, stored)  # what was asked, resolved: `report` reads it back by name
    if not todo:
        click.echo(f"all {len(cells)} cells of table {table.key} ({prof.name}) are done or under way; nothing to train")
        click.echo(f"report: gdw-bench report --profile {stored.name}", err=True)
        return
    click.echo(f"table {table.key} ({prof.name}): {statuses.count('done')} of {len(cells)} cells done, "
               f"training {len(todo)} (estimate {_duration(eta)}) on {dev if executor == 'local' else 'slurm'}",
               err=True)
    from gdw_bench.execute import InProcess, Pool, Slurm, execute
    from gdw_bench.options import RunOptions

    options = RunOptions(device=str(dev) if executor == "local" else device,
                         data_dir=str(data_dir) if data_dir else None,
                         threads=threads_given if executor == "slurm" else threads, tensorboard=tensorboard,
                         rerun=rerun, checkpoint_every=checkpoint_every, cuda_graphs=cuda_graphs)
    runner = Slurm(slurm_options, estimates) if executor == "slurm" else Pool(jobs) if jobs > 1 else InProcess()
    outcome = execute(cells, results_dir, options, runner, statuses=statuses,
                      estimates={c.label: e for c, e in zip(todo, estimates)}, parallel=parallel)
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
        click.echo(f"report: gdw-bench report --profile {stored.name}" +
                   ("" if results_dir.resolve() == DEFAULT_RESULTS.resolve() else f" --results-dir {results_dir}"),
                   err=True)
    if failed:
        for cell, error in failed:
            click.echo(f"failed: {cell.folder(results_dir)}: {error}", err=True)
        sys.exit(1)


def _report_profile(profile: str | None, config, sets: tuple, root: Path):
    """(profile, stored run or None) a report describes: --config/--set on a profile as `run` resolves
    them; else a run stored under the results root by that name (``gdw_bench.runs``: what was trained,
    with no --config/--set needed again); else a built-in profile. Without --profile: the run written
    last, or 'mini' when none is stored."""
    from gdw_bench import runs
    from gdw_bench.errors import unknown_choice
    from gdw_bench.specs import PROFILES

    if config is not None or sets:
        return _resolve_profile(profile or "mini", config, sets), None
    stored_names = runs.names(root) if root.is_dir() else []
    if profile is None:
        if not stored_names:
            return PROFILES["mini"], None
        profile = stored_names[0]
    if profile in stored_names:
        stored = runs.load(root, profile)
        if stored.axes:  # the header says what was swept, and how its rows are named
            import dataclasses

            swept = "; ".join(f"{k} = {', '.join(map(str, v))}" for k, v in stored.axes)
            note = f"{stored.profile.description}. Swept (run '{stored.name}'): {swept}, one row per value"
            return dataclasses.replace(stored.profile, description=note), stored
        return stored.profile, stored
    if profile not in PROFILES:
        raise unknown_choice("profile", profile, [*PROFILES, *stored_names])
    return PROFILES[profile], None


def _sweep_points(profile: str, config, sets: tuple, sweeps: tuple, base) -> tuple[list, list]:
    """--sweep KEY=V1,V2 (repeatable): the axes [(key, [values])] and one resolved profile per point of
    their product, named for it ('mini+gdw.outer_lr=10'); each point is --set KEY=V on top of the rest."""
    import itertools

    from gdw_bench.config import check_name, parse_value

    axes = []
    for item in sweeps:
        key, sep, text = item.partition("=")
        values = [v.strip() for v in text.split(",") if v.strip()]
        if not sep or not key.strip() or not values:
            raise UserInputError(f"bad --sweep '{item}'; expected KEY=V1,V2,…, e.g. gdw.outer_lr=10,50,100 or "
                                 f"epochs=20,40")
        if key.strip() in [k for k, _ in axes]:
            raise UserInputError(f"--sweep {key.strip()} is given twice; valid: each key once, its values comma-separated")
        axes.append((key.strip(), values))
    points = []
    for combination in itertools.product(*(values for _, values in axes)) if axes else []:
        assignment = dict(zip((k for k, _ in axes), combination))
        label = "+".join(f"{k}={v}" for k, v in assignment.items())
        name = f"{base.name}+{label}"
        try:
            check_name(name)
        except UserInputError:
            import hashlib

            name = f"{base.name}+sweep-{hashlib.sha256(label.encode()).hexdigest()[:8]}"
        variant = _resolve_profile(profile, config, (*sets, *(f"{k}={v}" for k, v in assignment.items()),
                                                     f"name={name}"))
        points.append((variant, {k: parse_value(v) for k, v in assignment.items()}))
    return axes, points


def _run_name(prof, axes) -> str:
    """The stored run's name: the profile's, or for a sweep the profile's and the swept keys'."""
    return prof.name if not axes else f"{prof.name}+sweep-{'+'.join(k for k, _ in axes)}"


def _refuse_old_layout(root: Path) -> None:
    """A root of the older layout would have every cell trained again: say how to move it instead."""
    from gdw_bench.migrate import old_layout_records

    if root.is_dir():
        old = old_layout_records(root)
        if old:
            raise UserInputError(f"{root} holds {len(old)} records in the older layout (<profile>/<dataset>/…, e.g. "
                                 f"{old[0].parent.relative_to(root)}); valid: run `gdw-bench migrate --results-dir "
                                 f"{root}` first (moves them in place, retrains nothing), or another --results-dir")


def _nearest_existing(path: Path) -> Path | None:
    """``path`` itself or its nearest ancestor that exists (None: none does): where writing under
    ``path`` would start, and a file there blocks it."""
    return next((p for p in (path, *path.parents) if p.exists()), None)


def _data_dir(path: Path | None) -> Path | None:
    """--data-dir: one line when it is a file (a folder, or one to be created, is fine)."""
    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise UserInputError(f"--data-dir {Path(path).resolve()} is a file; valid: a folder (or one to be created)")
    return path


MAX_JOBS = 256  # worker processes of one `run`: beyond any machine's useful parallelism, and below what
MAX_THREADS = 1024  # torch.set_num_threads accepts without overflowing


def _results_root(path: Path, must_write: bool) -> Path:
    """The results root as an absolute path (every message names it so); one-line errors when it is
    a file, or when training must write there and cannot."""
    import os

    root = Path(path).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise UserInputError(f"--results-dir {root} is a file; valid: a folder (or one to be created)")
    if must_write:
        existing = _nearest_existing(root)
        if existing is not None and not existing.is_dir():
            raise UserInputError(f"--results-dir {root} lies inside the file {existing}; valid: a folder (or one to "
                                 f"be created)")
        if existing is None or not os.access(existing, os.W_OK | os.X_OK):
            raise UserInputError(f"--results-dir {root} cannot be written (no write permission on {existing}); "
                                 f"valid: a folder you can write")
    return root


def _existing_results(root: Path) -> Path:
    """`report` and `export` read a results root: one that does not exist is a typo, not an empty grid."""
    if not root.exists():
        raise UserInputError(f"--results-dir {root} does not exist; valid: the folder `gdw-bench run` wrote "
                             f"(default ./results)")
    return root


@contextlib.contextmanager
def _writing(target: Path):
    """An output that cannot be written (read-only folder or filesystem, full disk, no permission) is one
    line naming it; every file is written to a temporary name and renamed, so none is left half-written."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or target
        raise UserInputError(f"cannot write {where} ({exc.strerror or exc}); valid: a folder you can write, on a "
                             f"filesystem with room") from None


REPORT_MANIFEST = "report.json"  # what a report folder holds: the selection it was rendered for


def _default_report_folder(selection: dict) -> Path:
    """reports/<profile> for a profile's default selection; a narrower or wider one (--methods,
    --seeds, --compare-paper, --from-scratch) in a sub-folder named for it, so reports of different
    selections never overwrite each other's files."""
    parts = []
    if selection["methods"] != "each table's":
        parts.append(f"methods={selection['methods']}")
    if selection["seeds"] != "default":
        parts.append("seeds=" + ",".join(map(str, selection["seeds"])))
    if selection["compare_paper"]:
        parts.append("compare-paper")
    if selection["from_scratch"]:
        parts.append("from-scratch")
    folder = Path("reports") / selection["profile"]
    return folder / "+".join(parts).replace("/", "_") if parts else folder


def _output_folder(path: Path, selection: dict | None = None) -> Path:
    """--out of `report` as an absolute folder; one line when it (or a parent) is a file, or when it
    holds the report of another selection (whose files this one would silently replace)."""
    out = Path(path).expanduser().resolve()
    existing = _nearest_existing(out)
    if existing is not None and not existing.is_dir():
        raise UserInputError(f"--out {out}: {existing} is a file; valid: a folder (or one to be created)")
    manifest = out / REPORT_MANIFEST
    if selection is not None and manifest.is_file():
        try:
            before = json.loads(manifest.read_text())
        except (OSError, ValueError):
            before = None
        if before is not None and before != json.loads(json.dumps(selection)):
            changed = ", ".join(f"{k} {before.get(k)!r} → {v!r}" for k, v in selection.items() if before.get(k) != v)
            raise UserInputError(f"--out {out} holds the report of another selection ({changed}); valid: another "
                                 f"--out, or leave --out out (each selection gets its own folder)")
    return out


def _slurm_options(device, no_wait, slurm_partition, slurm_time_min, slurm_cpus, slurm_mem_gb, slurm_gpus,
                   slurm_parallelism, slurm_extra):
    from gdw_bench import slurm

    for name, value in (("--slurm-time-min", slurm_time_min), ("--slurm-cpus", slurm_cpus),
                        ("--slurm-mem-gb", slurm_mem_gb), ("--slurm-parallelism", slurm_parallelism)):
        if value is not None and not value > 0:
            raise UserInputError(f"{name} {value} must be positive")
    if slurm_gpus is not None and slurm_gpus < 0:
        raise UserInputError(f"--slurm-gpus {slurm_gpus} must be 0 or more")
    extra = slurm.parse_extra(slurm_extra)
    slurm.check_available()
    gpus = slurm_gpus if slurm_gpus is not None else int(device.startswith("cuda"))
    return slurm.SlurmOptions(slurm_partition, slurm_time_min, slurm_cpus, slurm_mem_gb, gpus, slurm_parallelism,
                              extra, wait=not no_wait)


def _explain_skipped(cells, statuses, results_dir, rerun=frozenset()) -> None:
    """Say why cells that are not done are not trained now."""
    from gdw_bench.grid import NOT_TRAINED_BECAUSE

    for status in ("stale", "corrupt", "running", "queued"):
        why = NOT_TRAINED_BECAUSE[status]
        hit = [c for c, s in zip(cells, statuses) if s == status and status not in rerun]
        if hit:
            click.echo(f"{len(hit)} cells {why}, e.g. {hit[0].folder(results_dir)}", err=True)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@cli.command()
@click.option("--table", "table_key", default=None,
              help="one table or figure, printed in --format; default: every table in every format, and every "
                   "figure, into --out with an index.md")
@click.option("--profile", default=None,
              help="a run stored under --results-dir (its name: `run` prints it) or a built-in profile; default: "
                   "the run written last, else mini")
@click.option("--format", "fmt", default="markdown", show_default=True, help="markdown | latex | csv (with --table)")
@click.option("--seeds", default=None, help="the seeds a full cell has (default: each table's, 1,10,100,1000,10000)")
@click.option("--methods", default=None,
              help="rows: comma-separated keys, or 'all' (the table's plus any other method with records in its "
                   "columns); default: the table's")
@click.option("--compare-paper", is_flag=True, help="the paper's value and our difference beside each column")
@click.option("--results-dir", type=PATH, default=DEFAULT_RESULTS, show_default=True)
@click.option("--out", type=PATH, default=None, help="report folder (default: reports/<profile>)")
@click.option("--summary", "summary_only", is_flag=True,
              help="only the grid summary over every accuracy table (average rank, wins/ties/losses, cost, "
                   "critical-difference diagram): printed, and written to --out")
@_from_scratch_option
@_config_options
def report(table_key, profile, fmt, seeds, methods, compare_paper, results_dir, out, from_scratch, config, sets,
           summary_only):
    """Render tables (and figures) from the result records."""
    from gdw_bench import figures, publish
    from gdw_bench import report as rep
    from gdw_bench import store
    from gdw_bench.errors import unknown_choice
    from gdw_bench.identity import record_is_current
    from gdw_bench.specs import TABLES, get_table, parse_seeds
    from gdw_bench.store import atomic_write_bytes

    if fmt not in FORMATS:
        raise unknown_choice("format", fmt, FORMATS)
    results_dir = _existing_results(_results_root(results_dir, must_write=False))
    prof, stored = _report_profile(profile, config, sets, results_dir)
    chosen_seeds = parse_seeds(seeds) if seeds is not None else None
    chosen_seeds = chosen_seeds or (tuple(stored.seeds) if stored and stored.seeds else None) or prof.seeds
    tables = [get_table(table_key)] if table_key else list(TABLES.values())
    problems: list[str] = []
    records = rep.load_records(results_dir, problems)  # once: every table and figure below reads this list
    records = rep.with_sweep_rows(records, stored)
    rows = _report_rows(methods, records)
    tables = [rep.with_found_levels(t, prof, records) for t in tables]
    selection = {"profile": prof.name, "seeds": list(parse_seeds(seeds)) if seeds is not None else "default",
                 "methods": methods or "each table's", "compare_paper": compare_paper, "from_scratch": from_scratch}
    out = _output_folder(out or _default_report_folder(selection), selection)
    for line in problems:  # every option is valid: now the warnings
        click.echo(f"warning: {line}", err=True)
    if not any(record_is_current(r, prof) for r in records):
        click.echo(f"no records match profile '{prof.name}' under {results_dir}: every cell shows as missing (run "
                   f"`gdw-bench run --table N --profile {prof.name}` first, or pass --results-dir)", err=True)
    if compare_paper and prof.name != "paper":
        click.echo(f"warning: profile '{prof.name}' runs stand-ins, not the paper's data: its Δ columns compare "
                   f"different datasets and protocols and are marked 'stand-in'", err=True)
    def seeds_of(table):
        return chosen_seeds or table.seeds

    with _writing(out):
        if out.exists():
            store.remove_temp_files(out)  # left by a report that was killed while writing
        atomic_write_bytes(out / REPORT_MANIFEST, json.dumps(selection, indent=1).encode())
        if summary_only:
            text, written = publish.write_summary(records, prof, tables, seeds_of, out)
            click.echo(text)
        elif table_key:
            table = tables[0]
            written = []
            if table.kind != "figure":
                text = rep.render(records, table, prof, seeds_of(table), fmt, compare_paper, from_scratch, rows)
                click.echo(text)
                path = out / f"table{table.key}.{SUFFIXES[fmt]}"
                atomic_write_bytes(path, text.encode())
                written.append(path)
            if table.key in figures.FIGURES:
                written += figures.FIGURES[table.key](records, table, prof, seeds_of(table), out)
                if not written:
                    click.echo(f"{table.key}: no records to draw yet (run `gdw-bench run --table {table.key} "
                               f"--profile {prof.name}`)", err=True)
        else:
            written = publish.write_full(records, prof, tables, seeds_of, out, compare_paper=compare_paper,
                                         from_scratch=from_scratch, rows=rows,
                                         warn=lambda line: click.echo(line, err=True))
    click.echo(f"wrote {len(written)} files to {out}" + ("" if table_key or summary_only else
                                                          " (start with index.html or index.md)"),
               err=bool(table_key) or summary_only)


def _report_rows(methods: str | None, records: list[dict]):
    """--methods of `report`: None, "all", or validated keys (the paper's or any with records)."""
    from gdw_bench import report as rep
    from gdw_bench.errors import unknown_choice

    if methods is None or methods.strip() == "all":
        return methods and "all"
    keys = tuple(k.strip() for k in methods.split(",") if k.strip())
    known = rep.known_methods(records)
    if not keys:
        raise UserInputError(f"--methods '{methods}' names no method; valid: 'all' or comma-separated keys of "
                             f"{', '.join(known)}")
    for key in keys:
        if key not in known:
            raise unknown_choice("method", key, ["all", *known])
    return keys


@cli.command("list")
@click.argument("what", default="methods")
@_config_options
def list_(what, config, sets):
    """List methods, models, tables, datasets or profiles (models: also those a --config / --set names)."""
    from gdw_bench.errors import unknown_choice

    if (config is not None or sets) and what != "models":
        raise UserInputError(f"--config and --set go with `list models` (the models a profile names), not "
                             f"`list {what}`")

    if what == "methods":
        from gdw_bench.methods import get_method, list_methods

        from gdw_bench.methods import plugin_errors

        for key in list_methods():
            cls = get_method(key)
            needs = [n for n, on in (("meta set", cls.needs_meta_set), ("per-instance state", cls.per_instance_state),
                                     (f"{cls.num_networks} networks", cls.num_networks > 1)) if on]
            builtin = Path(cls.origin).parent == Path(sys.modules["gdw_bench.methods"].__file__).parent
            click.echo(f"{key:11s} {cls.title:18s} {cls.paper}" + (f"  [{', '.join(needs)}]" if needs else "") +
                       ("" if builtin else f"  (from {cls.origin})"))
        for line in plugin_errors():
            click.echo(f"warning: {line}", err=True)
    elif what == "tables":
        from gdw_bench.specs import TABLES

        for t in TABLES.values():
            cols = ", ".join(dict.fromkeys(c.label for c in t.columns))
            also = f" (also trained for the regime verdict: {', '.join(t.regime_methods)})" if t.regime_methods else ""
            click.echo(f"{t.key:5s} {t.title}\n      methods: {', '.join(t.methods)}{also}\n      columns: {cols}\n"
                       f"      metric: {t.metric}\n      seeds: {','.join(map(str, t.seeds))}")
    elif what == "datasets":
        from gdw_bench.datasets import DATASETS

        for d in DATASETS.values():
            click.echo(f"{d.key:14s} {d.num_classes:4d} classes  {d.description}")
    elif what == "profiles":
        from gdw_bench.specs import PROFILES

        for p in PROFILES.values():
            click.echo(f"{p.name:12s} {p.description}")
    elif what == "models":
        from gdw_bench.models import MODELS, build_model, model_plugin_errors, parameter_count, resolve_model

        errors = model_plugin_errors()  # registers the entry points' models first
        rows = {name: entry.origin for name, entry in MODELS.items()}
        if config is not None or sets:  # the models a profile names that the registry does not hold
            prof = _resolve_profile("mini", config, sets)
            for dataset, protocol in prof.protocols.items():
                if protocol.model not in rows:
                    rows[protocol.model] = f"{prof.source}, datasets.{dataset}"
        click.echo(f"{'model':12s} {'params 1×28×28':>14s} {'params 3×32×32':>14s}  (10 classes)")
        for name, origin in rows.items():
            counts = [parameter_count(build_model(name, 10, pretrained=False, image_shape=shape))
                      for shape in ((1, 28, 28), (3, 32, 32))]
            where = "" if origin == "built-in" else f"  (from {origin})"
            click.echo(f"{name:12s} {counts[0]:14,d} {counts[1]:14,d}  {resolve_model(name).description}{where}")
        for line in errors:
            click.echo(f"warning: {line}", err=True)
    else:
        raise unknown_choice("list", what, ["methods", "models", "tables", "datasets", "profiles"])


@cli.command()
@click.argument("key", required=False)
@click.option("--as-config", is_flag=True, help="with a profile: print it as a TOML config to copy and edit")
@_config_options
def info(key, as_config, config, sets):
    """Describe a method, table, dataset or profile (or the profile --config / --set resolve to)."""
    from gdw_bench.errors import unknown_choice
    from gdw_bench.specs import PROFILES, TABLES

    if config is not None or sets or as_config:
        from gdw_bench.config import to_toml

        if key is not None and key not in PROFILES:
            raise unknown_choice("profile", key, PROFILES)
        prof = _resolve_profile(key or "mini", config, sets)
        if not as_config:
            click.echo(f"# profile '{prof.name}' as resolved from {prof.source or 'the built-in definition'}")
        click.echo(to_toml(prof), nl=False)
        return
    if key is None:
        raise UserInputError("info needs a KEY (a method, table, dataset or profile) or --config FILE")
    if key.removeprefix("table") in TABLES or key in PROFILES:  # specs only: no torch for these
        _describe_spec(key)
        return
    from gdw_bench.datasets import DATASETS
    from gdw_bench.methods import get_method, list_methods

    if key in list_methods():
        click.echo(get_method(key).describe())
    elif key in DATASETS:
        d = DATASETS[key]
        click.echo(f"{d.key}: {d.description}; {d.num_classes} classes; meta set {d.meta_per_class} per class")
    else:
        raise unknown_choice("key", key, list(list_methods()) + list(TABLES) + list(DATASETS) + list(PROFILES))


def _describe_spec(key: str) -> None:
    """`info` of a table or a profile, from the specs alone."""
    from gdw_bench.specs import PROFILES, TABLES

    if key.removeprefix("table") in TABLES:
        t = TABLES[key.removeprefix("table")]
        also = f" (also trained for the regime verdict: {', '.join(t.regime_methods)})" if t.regime_methods else ""
        click.echo(f"table {t.key}: {t.title}\nmethods: {', '.join(t.methods)}{also}\nmetric: {t.metric}\n"
                   f"seeds: {','.join(map(str, t.seeds))}\ncolumns:")
        for c in t.columns:
            click.echo(f"  {c.label}: {c.corruption}")
        click.echo("per profile (dataset run: model, epochs, batch, lr):")
        for p in PROFILES.values():
            runs = {p.resolve(c)[0] for c in t.columns if p.resolve(c) is not None}
            text = "; ".join(f"{d}: {p.protocols[d].model}, {p.protocols[d].epochs} epochs, batch "
                             f"{p.protocols[d].batch_size}, lr {p.protocols[d].lr:g}" for d in sorted(runs))
            click.echo(f"  {p.name}: {text or 'omitted'}")
    else:
        p = PROFILES[key]
        click.echo(f"{p.name}: {p.description}")
        for name, proto in p.protocols.items():
            click.echo(f"  {name}: {proto}")


@cli.command()
@click.option("--results-dir", type=PATH, default=DEFAULT_RESULTS, show_default=True)
@click.option("--dry-run", is_flag=True, help="list what would move, move nothing")
def migrate(results_dir, dry_run):
    """Move a results root of the older layout (<profile>/<dataset>/…) to today's, in place: nothing is
    retrained or deleted."""
    from gdw_bench.migrate import migrate as move

    root = _existing_results(_results_root(results_dir, must_write=not dry_run))
    with _writing(root):
        done = move(root, dry_run=dry_run)
    for old, new in done.moved:
        click.echo(f"{'would move' if dry_run else 'moved'} {old.relative_to(root)} → {new.relative_to(root)}")
    for folder in done.duplicates:
        click.echo(f"left {folder.relative_to(root)}: the same cell is already in the new layout", err=True)
    for folder, why in done.unreadable:
        click.echo(f"left {folder.relative_to(root)}: {why}", err=True)
    click.echo(f"{len(done.moved)} cells {'to move' if dry_run else 'moved'}, {len(done.duplicates)} duplicates and "
               f"{len(done.unreadable)} unreadable left in place; nothing retrained")


@cli.command()
@click.option("--results-dir", type=PATH, default=DEFAULT_RESULTS, show_default=True)
@click.option("--out", type=PATH, default=None,
              help="output file (default: results.csv, or results_curves.csv with --curves; .parquet → parquet)")
@click.option("--format", "fmt", default=None, help="csv | parquet (default: from --out's suffix, else csv)")
@click.option("--curves", is_flag=True, help="one row per cell × epoch (learning curves, regime columns) instead")
def export(results_dir, out, fmt, curves):
    """Write every record as tidy rows: one per cell (and seed), or one per cell × epoch."""
    from gdw_bench import results, store
    from gdw_bench.errors import unknown_choice

    out = Path(out) if out is not None else Path("results_curves.csv" if curves else "results.csv")
    fmt = fmt or ("parquet" if out.suffix == ".parquet" else "csv")
    if fmt not in ("csv", "parquet"):
        raise unknown_choice("format", fmt, ("csv", "parquet"))
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UserInputError("--format parquet needs pyarrow (pip install 'gdw-bench[parquet]'); valid "
                                 "without it: csv") from None
    results_dir = _existing_results(_results_root(results_dir, must_write=False))
    out = out.expanduser().resolve()
    if out.exists() and out.is_dir():
        raise UserInputError(f"--out {out} is a folder; valid: a file path")
    parent = _nearest_existing(out.parent)
    if parent is not None and not parent.is_dir():
        raise UserInputError(f"--out {out}: {parent} is a file; valid: a file path in a folder")
    problems: list[str] = []
    records = list(store.iter_records(results_dir, problems))
    for line in problems:
        click.echo(f"warning: {line}", err=True)
    frame = results.curves(records=records) if curves else results.load(records=records)
    with _writing(out):
        if fmt == "parquet":
            import io

            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            store.atomic_write_bytes(out, buffer.getvalue())
        else:
            store.atomic_write_bytes(out, frame.to_csv(index=False).encode())
    click.echo(f"wrote {len(frame)} rows ({'cell × epoch' if curves else 'cell'}) from {results_dir} to {out}")


@cli.command()
@click.option("--device", default="auto", show_default=True)
@click.option("--steps", default=10, show_default=True, help="timed steps per method per round")
@click.option("--rounds", default=3, show_default=True, help="interleaved rounds over all methods")
@click.option("--methods", default="all", show_default=True)
@click.option("--model", default="resnet32", show_default=True)
@click.option("--pack", default=None,
              help="instead: cells packed on one device, e.g. 1,2,4,8 worker processes (steady-state throughput) "
                   "of one method (--methods, default basemodel)")
@click.option("--profile", default="fmnist-paper", show_default=True, help="with --pack: the profile whose cells run")
@click.option("--data-dir", type=PATH, default=None, help="with --pack / --engine")
@click.option("--phases", "show_phases", is_flag=True, help="instead: the per-phase cost of one meta step")
@click.option("--engine", "engine", is_flag=True,
              help="instead: an epoch of `run` against a bare PyTorch loop (BaseModel, --profile, default fmnist)")
@click.option("--cuda-graphs/--no-cuda-graphs", "cuda_graphs", default=True, show_default=True,
              help="on a GPU: also time the steps replayed as CUDA graphs (with --pack: the cells use them)")
@click.option("--memory-format", "memory_format", default="auto", show_default=True,
              help="the models' layout: auto (as `run`: channels_last for conv models), contiguous or "
                   "channels_last")
def speed(device, steps, rounds, methods, model, pack, profile, data_dir, show_phases, engine, cuda_graphs,
          memory_format):
    """Time one training step of every method (batch 100 / meta 100) and print ratios to BaseModel."""
    from gdw_bench import grid
    from gdw_bench import speed as speed_module
    from gdw_bench.engine import resolve_device
    from gdw_bench.errors import unknown_choice
    from gdw_bench.models import MEMORY_FORMATS, resolve_model
    from gdw_bench.specs import get_profile, get_table

    for name, value in (("--steps", steps), ("--rounds", rounds)):  # everything checked before any timing
        if value < 1:
            raise UserInputError(f"{name} {value} must be at least 1")
    resolve_model(model)
    if memory_format != "auto" and memory_format not in MEMORY_FORMATS:
        raise unknown_choice("--memory-format", memory_format, ("auto", *MEMORY_FORMATS))
    layout = None if memory_format == "auto" else memory_format
    resolve_device(device)
    grid.resolve_methods(methods, get_table("2"))
    get_profile(profile)
    data_dir = _data_dir(data_dir)
    if show_phases:
        shape = {"small_cnn": (1, 8, 8), "mlp128": (1, 8, 8), "small_cnn28": (1, 28, 28),
                 "conv_fc128": (1, 28, 28), "mlp512": (1, 28, 28)}.get(model, (3, 32, 32))
        speed_module.phases(device, model, steps=steps, image_shape=shape, memory_format=layout)
        return
    if engine:
        speed_module.engine_overhead("fmnist" if profile == "fmnist-paper" else profile,
                                     device="cpu" if device == "auto" else device, data_dir=data_dir)
        return
    if pack is not None:
        counts = []
        for item in pack.split(","):
            if not item.strip().isdigit() or int(item) < 1:
                raise UserInputError(f"bad --pack '{pack}'; valid: comma-separated process counts ≥ 1, e.g. 1,2,4,8")
            counts.append(int(item))
        keys = grid.resolve_methods(methods, get_table("2")) if methods != "all" else ("basemodel",)
        if len(keys) != 1:
            raise UserInputError(f"--pack times one method; --methods '{methods}' names {len(keys)}")
        speed_module.pack(device, tuple(counts), profile, keys[0], data_dir=data_dir, cuda_graphs=cuda_graphs)
        return
    speed_module.main(device, steps, rounds, methods, model, graphs=cuda_graphs, memory_format=layout)


def main(argv=None):
    """Entry point: one-line errors with exit code 2 for bad input (ours and click's)."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except UserInputError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except click.UsageError as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
