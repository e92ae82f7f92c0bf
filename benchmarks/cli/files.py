"""`gdw-bench migrate` (an older results layout, moved in place) and `gdw-bench export` (records as rows)."""
from __future__ import annotations

import io
from pathlib import Path

import click

from gdw_bench.cli.common import DEFAULT_RESULTS, PATH, _existing_results, _results_root, cli, output_target
from gdw_bench.errors import UserInputError, unknown_choice, writing
from gdw_bench.files import atomic_write_bytes
from gdw_bench.storage import store
from gdw_bench.storage.migrate import migrate as move


@cli.command()
@click.option("--results-dir", type=PATH, default=DEFAULT_RESULTS, show_default=True)
@click.option("--dry-run", is_flag=True, help="list what would move, move nothing")
def migrate(results_dir, dry_run):
    """Move a results root of the older layout (<profile>/<dataset>/…) to today's, in place: nothing is
    retrained or deleted."""
    root = _existing_results(_results_root(results_dir, must_write=not dry_run))
    with writing(root):
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
              help="output file (default: <results-dir>/results.csv, or results_curves.csv with --curves; "
                   ".parquet → parquet)")
@click.option("--format", "fmt", default=None, help="csv | parquet (default: from --out's suffix, else csv)")
@click.option("--curves", is_flag=True, help="one row per cell × epoch (learning curves, regime columns) instead")
def export(results_dir, out, fmt, curves):
    """Write every record as tidy rows: one per cell (and seed), or one per cell × epoch."""
    from gdw_bench import results  # pandas and the report layer: loaded by `export` only

    results_dir = _existing_results(_results_root(results_dir, must_write=False))
    # by default beside the records it was made from (the results root is git-ignored; the repo root is not)
    out = Path(out) if out is not None else results_dir / ("results_curves.csv" if curves else "results.csv")
    fmt = fmt or ("parquet" if out.suffix == ".parquet" else "csv")
    if fmt not in ("csv", "parquet"):
        raise unknown_choice("format", fmt, ("csv", "parquet"))
    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UserInputError("--format parquet needs pyarrow (pip install 'gdw-bench[parquet]'); valid "
                                 "without it: csv") from None
    out = output_target(out)  # before any record is read
    problems: list[str] = []
    records = list(store.iter_records(results_dir, problems))
    for line in problems:
        click.echo(f"warning: {line}", err=True)
    frame = results.curves(records=records) if curves else results.load(records=records)
    with writing(out):
        if fmt == "parquet":
            buffer = io.BytesIO()
            frame.to_parquet(buffer, index=False)
            atomic_write_bytes(out, buffer.getvalue())
        else:
            atomic_write_bytes(out, frame.to_csv(index=False).encode())
    click.echo(f"wrote {len(frame)} rows ({'cell × epoch' if curves else 'cell'}) from {results_dir} to {out}")
