"""`gdw-bench report`: tables, figures, the grid summary and the results page, from the records and the
run stored beside them; each selection in a folder of its own."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from gdw_bench import statefile
from gdw_bench.cli.common import (
    DEFAULT_RESULTS,
    PATH,
    _config_options,
    _existing_results,
    _from_scratch_option,
    _resolve_profile,
    _results_root,
    cli,
    output_target,
)
from gdw_bench.core.identity import record_is_current
from gdw_bench.errors import UserInputError, refuse_repeats, suggested_command, unknown_choice, writing
from gdw_bench.files import atomic_write_bytes
from gdw_bench.plan import runs
from gdw_bench.plan.config import PROFILES
from gdw_bench.plan.specs import TABLES, get_table, parse_seeds
from gdw_bench.storage import store

FORMATS = ("markdown", "latex", "csv")


SUFFIXES = {"markdown": "md", "latex": "tex", "csv": "csv"}


def _report_profile(profile: str | None, config, sets: tuple, root: Path, problems: list[str]):
    """(profile, stored run or None) a report describes: --config/--set on a profile as `run` resolves
    them; else a run stored under the results root by that name (``gdw_bench.plan.runs``: what was trained,
    with no --config/--set needed again); else a built-in profile. Without --profile: the run written
    last, or 'mini' when none is stored. A damaged stored run is a line in ``problems`` (or, when
    --profile names it, the error)."""
    if config is not None or sets:
        return _resolve_profile(profile or "mini", config, sets), None
    stored_names = runs.names(root, problems) if root.is_dir() else []
    if profile is None:
        if not stored_names:
            return PROFILES["mini"], None
        profile = stored_names[0]
    if profile not in stored_names and profile not in PROFILES and runs.stored(root, profile):
        runs.load(root, profile)  # a stored run of that name that cannot be read: its reason, not "unknown profile"
    if profile in stored_names:
        stored = runs.load(root, profile)
        if stored.axes:  # the header says what was swept, and how its rows are named

            swept = "; ".join(f"{k} = {', '.join(map(str, v))}" for k, v in stored.axes)
            note = f"{stored.profile.description}. Swept (run '{stored.name}'): {swept}, one row per value"
            return dataclasses.replace(stored.profile, description=note), stored
        return stored.profile, stored
    if profile not in PROFILES:
        raise unknown_choice("profile", profile, [*PROFILES, *stored_names])
    return PROFILES[profile], None


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
    """--out of `report` as an absolute folder, checked before any record is read (``output_target``);
    one line too when it holds the report of another selection (whose files this one would replace)."""
    out = output_target(path, folder=True)
    if selection is not None:
        before = statefile.read(out / REPORT_MANIFEST, "report manifest", statefile.object_problem).value
        if before is not None and before != json.loads(json.dumps(selection)):
            changed = ", ".join(f"{k} {before.get(k)!r} → {v!r}" for k, v in selection.items() if before.get(k) != v)
            raise UserInputError(f"--out {out} holds the report of another selection ({changed}); valid: another "
                                 f"--out, or leave --out out (each selection gets its own folder)")
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
@_from_scratch_option
@_config_options
def report(table_key, profile, fmt, seeds, methods, compare_paper, results_dir, out, from_scratch, config, sets,
           summary_only):
    """Render tables (and figures) from the result records."""
    from gdw_bench.reporting import figures, publish  # pandas, scipy, matplotlib: loaded by `report` only
    from gdw_bench.reporting import report as rep

    if fmt not in FORMATS:
        raise unknown_choice("format", fmt, FORMATS)
    results_dir = _existing_results(_results_root(results_dir, must_write=False))
    problems: list[str] = []
    prof, stored = _report_profile(profile, config, sets, results_dir, problems)
    chosen_seeds = parse_seeds(seeds) if seeds is not None else None
    chosen_seeds = chosen_seeds or (tuple(stored.seeds) if stored and stored.seeds else None) or prof.seeds
    keys = [k.strip() for k in table_key.split(",") if k.strip()] if table_key else []
    if len(keys) > 1 and not summary_only:
        raise UserInputError(f"--table {table_key}: several tables only with --summary; valid: one table, or "
                             f"--summary --table 2,3,4,8, or no --table for the full report")
    tables = [get_table(k) for k in keys] if keys else list(TABLES.values())
    selection = {"profile": stored.name if stored else prof.name,  # a sweep's report: a folder of its own
                 "seeds": list(parse_seeds(seeds)) if seeds is not None else "default",
                 "methods": methods or "each table's", "compare_paper": compare_paper, "from_scratch": from_scratch}
    out = _output_folder(out or _default_report_folder(selection), selection)  # before any record is read
    records = rep.load_records(results_dir, problems)  # once: every table and figure below reads this list
    records = rep.with_sweep_rows(records, stored)
    rows = _report_rows(methods, records)
    tables = [rep.with_found_levels(t, prof, records) for t in tables]
    for line in problems:  # every option is valid: now the warnings
        click.echo(f"warning: {line}", err=True)
    if not any(record_is_current(r, prof) for r in records):
        train = suggested_command("run", "--table", "N", *prof.rerun_arguments())
        click.echo(f"no records match profile '{prof.name}' under {results_dir}: every cell shows as missing (run "
                   f"`{train}` first, or pass --results-dir)", err=True)
    if compare_paper and prof.name != "paper":
        click.echo(f"warning: profile '{prof.name}' runs stand-ins, not the paper's data: its Δ columns compare "
                   f"different datasets and protocols and are marked 'stand-in'", err=True)
    def seeds_of(table):
        return chosen_seeds or table.seeds

    with writing(out):
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
                    click.echo(publish.no_records_line(table, prof), err=True)
        else:
            written = publish.write_full(records, prof, tables, seeds_of, out, compare_paper=compare_paper,
                                         from_scratch=from_scratch, rows=rows,
                                         warn=lambda line: click.echo(line, err=True))
    click.echo(f"wrote {len(written)} files to {out}" + ("" if table_key or summary_only else
                                                          " (start with index.html or index.md)"),
               err=bool(table_key) or summary_only)


def _report_rows(methods: str | None, records: list[dict]):
    """--methods of `report`: None, "all", or validated keys (the paper's or any with records)."""
    from gdw_bench.reporting import report as rep  # pandas, scipy: loaded by `report` only

    if methods is None or methods.strip() == "all":
        return methods and "all"
    keys = tuple(k.strip() for k in methods.split(",") if k.strip())
    known = rep.known_methods(records)
    refuse_repeats("--methods", methods, keys)
    if not keys:
        raise UserInputError(f"--methods '{methods}' names no method; valid: 'all' or comma-separated keys of "
                             f"{', '.join(known)}")
    for key in keys:
        if key not in known:
            raise unknown_choice("method", key, ["all", *known])
    return keys
