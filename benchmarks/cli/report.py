"""`gdw-bench report`: tables, figures, the grid summary and the results page, from the records and the
run stored beside them; each selection in a folder of its own."""
from __future__ import annotations

import json
from pathlib import Path

import click

from gdw_bench.cli.common import (
    DEFAULT_RESULTS,
    PATH,
    _config_options,
    _existing_results,
    _from_scratch_option,
    _results_root,
    cli,
    output_target,
)
from gdw_bench.errors import UserInputError, suggested_command, unknown_choice, writing
from gdw_bench.files import atomic_write_bytes
from gdw_bench.storage import store

FORMATS = ("markdown", "latex", "csv")


SUFFIXES = {"markdown": "md", "latex": "tex", "csv": "csv"}


def _output_folder(path: Path, query=None) -> Path:
    """--out of `report` as an absolute folder, checked before any record is read (``output_target``);
    one line too when it holds the report of another selection (whose files this one would replace)."""
    out = output_target(path, folder=True)
    wrong = query.other_selection_in(out) if query is not None else None
    if wrong:
        raise UserInputError(wrong)
    return out


@cli.command()
@click.option("--table", "table_key", default=None,
              help="one table or figure, printed in --format (with --summary: several, e.g. 2,3,4,8); default: every "
                   "table in every format, and every figure, into --out with index.md and index.html")
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
@click.option("--compare-tuned", "compare_tuned", default=None, metavar="NAME",
              help="each method at its defaults beside it tuned by `gdw-bench tune` (NAME: the tuned run `tune` "
                   "printed), with paired tests, ranks and Kendall's τ; with --table: printed, else a file of the report")
@_from_scratch_option
@_config_options
def report(table_key, profile, fmt, seeds, methods, compare_paper, results_dir, out, from_scratch, config, sets,
           summary_only, compare_tuned):
    """Render tables (and figures) from the result records."""
    # pandas, scipy, matplotlib: loaded by `report` only
    from gdw_bench.reporting import figures, publish
    from gdw_bench.reporting import report as rep
    from gdw_bench.reporting.query import MANIFEST, resolve_query
    from gdw_bench.reporting.tuned import render_compare_tuned

    if fmt not in FORMATS:
        raise unknown_choice("format", fmt, FORMATS)
    results_dir = _existing_results(_results_root(results_dir, must_write=False))
    problems: list[str] = []
    query = resolve_query(results_dir, table_key=table_key, profile=profile, seeds=seeds, methods=methods,
                          compare_paper=compare_paper, from_scratch=from_scratch, summary_only=summary_only,
                          config=config, sets=sets, problems=problems, compare_tuned=compare_tuned)
    prof, seeds_of, tuned = query.profile, query.seeds_of, query.tuned
    out = _output_folder(out or query.default_folder(), query)  # before any record is read
    records = rep.load_records(results_dir, problems)  # once: every table and figure below reads this list
    records = rep.with_sweep_rows(records, query.stored)
    rows = query.rows(rep.known_methods(records))
    tables = [rep.with_found_levels(t, prof, records) for t in query.tables]
    for line in problems:  # every option is valid: now the warnings
        click.echo(f"warning: {line}", err=True)
    if not any(records.is_current(r, prof) for r in records):
        train = suggested_command("run", "--table", "N", *prof.rerun_arguments())
        click.echo(f"no records match profile '{prof.name}' under {results_dir}: every cell shows as missing (run "
                   f"`{train}` first, or pass --results-dir)", err=True)
    if compare_paper and prof.name != "paper":
        click.echo(f"warning: profile '{prof.name}' runs stand-ins, not the paper's data: its Δ columns compare "
                   f"different datasets and protocols and are marked 'stand-in'", err=True)

    picked = [t for t in tables if t.kind == "accuracy"]
    if tuned is not None and not picked:
        raise UserInputError(f"--compare-tuned compares accuracy tables; --table {table_key} is not one (valid: 2–8)")
    with writing(out):
        if out.exists():
            store.remove_temp_files(out)  # left by a report that was killed while writing
        atomic_write_bytes(out / MANIFEST, json.dumps(query.selection, indent=1).encode())
        if tuned is not None:
            text = "\n".join(render_compare_tuned(records, t, prof, tuned, seeds_of(t)) for t in picked)
            path = out / (f"table{picked[0].key}_tuned.md" if table_key else "tuned_vs_default.md")
            atomic_write_bytes(path, text.encode())
            click.echo(text if table_key else f"default vs tuned: {path}")
            if table_key:
                click.echo(f"wrote 1 file to {out}", err=True)
                return
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
                    click.echo(publish.no_records_line(table, prof), err=True)
        else:
            written = publish.write_full(records, prof, tables, seeds_of, out, compare_paper=compare_paper,
                                         from_scratch=from_scratch, rows=rows,
                                         warn=lambda line: click.echo(line, err=True), tuned=tuned)
    click.echo(f"wrote {len(written)} files to {out}" + ("" if table_key or summary_only else
                                                          " (start with index.html or index.md)"),
               err=bool(table_key) or summary_only)
