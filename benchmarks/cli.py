"""The ``gdw-bench`` command line: run, report, list, info, export, speed.

Bad input is a one-line message on stderr and exit code 2, before anything is written.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from gdw_bench.errors import UserInputError

FORMATS = ("markdown", "latex", "csv")
DEFAULT_RESULTS = Path("results")


def _profile_option(default="mini"):
    return click.option("--profile", default=default, show_default=True, help="paper | mini | fmnist")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gdw-bench")
def cli():
    """gdw-bench: data reweighting under label noise and class imbalance (GDW, NeurIPS 2021)."""


@cli.command()
@click.option("--table", "table_key", required=True, help="2–8 or fig3–fig7 (see `gdw-bench list tables`)")
@click.option("--seeds", default="1,10,100,1000,10000", show_default=True, help="comma-separated seeds")
@click.option("--methods", default=None, help="comma-separated method keys, or 'all' (default: the table's)")
@click.option("--levels", default=None, help="only these levels of the table's columns, e.g. 0,0.4")
@_profile_option()
@click.option("--results-dir", type=click.Path(path_type=Path), default=DEFAULT_RESULTS, show_default=True)
@click.option("--data-dir", type=click.Path(path_type=Path), default=None, help="default: $GDW_BENCH_DATA or ~/.cache/gdw-bench")
@click.option("--device", default="auto", show_default=True, help="auto | cpu | cuda | cuda:N")
@click.option("--jobs", default=1, show_default=True, type=int, help="cells trained in parallel processes (CPU)")
@click.option("--dry-run", is_flag=True, help="list every cell with its status and the estimated time left")
@click.option("--download", is_flag=True, help="download CIFAR into --data-dir when it is missing")
def run(table_key, seeds, methods, levels, profile, results_dir, data_dir, device, jobs, dry_run, download):
    """Run the cells of a table's seed × setting grid that are not done yet."""
    from gdw_bench import grid, store
    from gdw_bench.engine import resolve_device
    from gdw_bench.specs import get_profile, get_table, parse_seeds

    table, prof, seed_list = get_table(table_key), get_profile(profile), parse_seeds(seeds)
    method_keys = grid.resolve_methods(methods, table)
    level_set = grid.parse_levels(levels, table)
    if jobs < 1:
        raise UserInputError(f"--jobs {jobs} must be at least 1")
    dev = resolve_device(device)
    cells = grid.table_cells(table, prof, seed_list, method_keys, level_set)
    if not cells:
        raise UserInputError(f"table {table.key} has no cells in profile '{prof.name}' for these options")
    statuses = [store.cell_status(c.folder(results_dir), c.config_hash) for c in cells]
    missing = [c for c, s in zip(cells, statuses) if s != "done"]
    eta = sum(grid.estimate_seconds(c, prof, dev.type) for c in missing) / max(1, jobs if dev.type == "cpu" else 1)
    if dry_run:
        for cell, status in zip(cells, statuses):
            click.echo(f"{status:8s} {cell.folder(results_dir)}")
        counts = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
        click.echo(f"{len(cells)} cells: " + ", ".join(f"{n} {s}" for s, n in counts.items()) +
                   f"; estimated time for the rest: {_duration(eta)} on {dev.type}")
        return
    if prof.needs_gpu and dev.type == "cpu" and missing:
        click.echo(f"warning: the paper profile on a CPU takes about {_duration(eta)} for {len(missing)} cells; "
                   "use a GPU (--device cuda) or --profile mini", err=True)
    if download:
        import os

        os.environ["GDW_BENCH_DOWNLOAD"] = "1"
    grid.check_data(cells, data_dir)
    if not missing:
        click.echo(f"all {len(cells)} cells of table {table.key} ({prof.name}) are done; nothing to train")
        return
    click.echo(f"table {table.key} ({prof.name}): {len(cells) - len(missing)} of {len(cells)} cells done, "
               f"training {len(missing)} (estimate {_duration(eta)}) on {dev}", err=True)
    outcome = grid.run_grid(cells, results_dir, str(dev), data_dir, jobs)
    click.echo(f"trained {outcome.trained} cells, {outcome.done_before} were already done, "
               f"{len(outcome.failed)} failed; results in {results_dir}")
    if outcome.failed:
        for cell, error in outcome.failed:
            click.echo(f"failed: {cell.folder(results_dir)}: {error}", err=True)
        sys.exit(1)


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@cli.command()
@click.option("--table", "table_key", default=None, help="one table or figure; default: all of them into --out")
@_profile_option()
@click.option("--format", "fmt", default="markdown", show_default=True, help="markdown | latex | csv")
@click.option("--seeds", default="1,10,100,1000,10000", show_default=True, help="the seeds a full cell has")
@click.option("--compare-paper", is_flag=True, help="the paper's value and our difference beside each column")
@click.option("--results-dir", type=click.Path(path_type=Path), default=DEFAULT_RESULTS, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None, help="report folder (default: reports/<profile>)")
def report(table_key, profile, fmt, seeds, compare_paper, results_dir, out):
    """Render tables (and figures) from the result records."""
    from gdw_bench import figures
    from gdw_bench import report as rep
    from gdw_bench.errors import unknown_choice
    from gdw_bench.specs import TABLES, get_profile, get_table, parse_seeds

    if fmt not in FORMATS:
        raise unknown_choice("format", fmt, FORMATS)
    prof, seed_list = get_profile(profile), parse_seeds(seeds)
    tables = [get_table(table_key)] if table_key else list(TABLES.values())
    out = out or Path("reports") / prof.name
    suffix = {"markdown": "md", "latex": "tex", "csv": "csv"}[fmt]
    written = []
    for table in tables:
        if table.kind != "figure":
            text = rep.render(results_dir, table, prof, seed_list, fmt, compare_paper)
            if table_key:
                click.echo(text)
            path = out / f"table{table.key}.{suffix}"
            out.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
        if table.key in figures.FIGURES:
            paths = figures.FIGURES[table.key](results_dir, table, prof, seed_list, out)
            written += paths
            if table_key and not paths:
                click.echo(f"{table.key}: no records to draw yet (run `gdw-bench run --table {table.key} "
                           f"--profile {prof.name}`)", err=True)
    click.echo(f"wrote {len(written)} files to {out}" + ("" if table_key else ": " + ", ".join(p.name for p in written)),
               err=bool(table_key))


@cli.command("list")
@click.argument("what", default="methods")
def list_(what):
    """List methods, tables, datasets or profiles."""
    from gdw_bench.errors import unknown_choice

    if what == "methods":
        from gdw_bench.methods import get_method, list_methods

        for key in list_methods():
            cls = get_method(key)
            needs = [n for n, on in (("meta set", cls.needs_meta_set), ("per-instance state", cls.per_instance_state),
                                     (f"{cls.num_networks} networks", cls.num_networks > 1)) if on]
            click.echo(f"{key:11s} {cls.title:18s} {cls.paper}" + (f"  [{', '.join(needs)}]" if needs else ""))
    elif what == "tables":
        from gdw_bench.specs import TABLES

        for t in TABLES.values():
            cols = ", ".join(dict.fromkeys(c.label for c in t.columns))
            click.echo(f"{t.key:5s} {t.title}\n      methods: {', '.join(t.methods)}\n      columns: {cols}")
    elif what == "datasets":
        from gdw_bench.datasets import DATASETS

        for d in DATASETS.values():
            click.echo(f"{d.key:14s} {d.num_classes:4d} classes  {d.description}")
    elif what == "profiles":
        from gdw_bench.specs import PROFILES

        for p in PROFILES.values():
            click.echo(f"{p.name:7s} {p.description}")
    else:
        raise unknown_choice("list", what, ["methods", "tables", "datasets", "profiles"])


@cli.command()
@click.argument("key")
def info(key):
    """Describe a method, table, dataset or profile."""
    import dataclasses

    from gdw_bench.datasets import DATASETS
    from gdw_bench.errors import unknown_choice
    from gdw_bench.methods import get_method, list_methods
    from gdw_bench.specs import PROFILES, TABLES

    if key in list_methods():
        cls = get_method(key)
        click.echo(f"{key}: {cls.title} — {cls.paper}")
        click.echo(f"needs meta set: {cls.needs_meta_set}; per-instance state: {cls.per_instance_state}; "
                   f"networks: {cls.num_networks}; relative step cost: {cls.relative_cost}")
        hp = dataclasses.asdict(cls.Hyperparameters())
        click.echo("hyperparameters: " + (", ".join(f"{k}={v}" for k, v in hp.items()) or "none"))
        click.echo((sys.modules[cls.__module__].__doc__ or "").strip())
    elif key.removeprefix("table") in TABLES:
        t = TABLES[key.removeprefix("table")]
        click.echo(f"table {t.key}: {t.title}\nmethods: {', '.join(t.methods)}")
        for c in t.columns:
            click.echo(f"  {c.label}: {c.corruption}")
    elif key in DATASETS:
        d = DATASETS[key]
        click.echo(f"{d.key}: {d.description}; {d.num_classes} classes; meta set {d.meta_per_class} per class")
    elif key in PROFILES:
        p = PROFILES[key]
        click.echo(f"{p.name}: {p.description}")
        for name, proto in p.protocols.items():
            click.echo(f"  {name}: {proto}")
    else:
        raise unknown_choice("key", key, list(list_methods()) + list(TABLES) + list(DATASETS) + list(PROFILES))


@cli.command()
@click.option("--results-dir", type=click.Path(path_type=Path), default=DEFAULT_RESULTS, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("results.csv"), show_default=True)
def export(results_dir, out):
    """Write every record as one tidy CSV row per cell and seed."""
    from gdw_bench import store

    frame = store.tidy_frame(results_dir)
    store.atomic_write_bytes(out, frame.to_csv(index=False).encode())
    click.echo(f"wrote {len(frame)} rows to {out}")


@cli.command()
@click.option("--device", default="auto", show_default=True)
@click.option("--steps", default=10, show_default=True, help="timed steps per method per round")
@click.option("--rounds", default=3, show_default=True, help="interleaved rounds over all methods")
@click.option("--methods", default="all", show_default=True)
@click.option("--model", default="resnet32", show_default=True)
def speed(device, steps, rounds, methods, model):
    """Time one training step of every method (batch 100 / meta 100) and print ratios to BaseModel."""
    from gdw_bench.speed import main as speed_main

    speed_main(device, steps, rounds, methods, model)


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
