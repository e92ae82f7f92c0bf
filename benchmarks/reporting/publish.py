"""A report folder from the records: every table in every format, every figure, the grid summary,
``index.md`` and the self-contained ``index.html``.

The `report` command's library half (the CLI parses and validates; this writes). Reads records only.
Every file is written whole under a temporary name and renamed (``files.atomic_write_bytes``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from gdw_bench.datasets.corruption import corruption_label
from gdw_bench.errors import suggested_command
from gdw_bench.files import atomic_write_bytes
from gdw_bench.plan.specs import Profile, TableSpec, reader_name
from gdw_bench.reporting import figures, site, summary
from gdw_bench.reporting import report as rep
from gdw_bench.reporting.tuned import compare_tuned

SUFFIXES = {"markdown": "md", "latex": "tex", "csv": "csv"}


def no_records_line(table: TableSpec, profile: Profile) -> str:
    """What a figure without records says, with the command that trains them."""
    return (f"{table.key}: no records to draw yet (run "
            f"`{suggested_command('run', '--table', table.key, *profile.rerun_arguments())}`)")


def grid_summary(records, profile: Profile, tables: list[TableSpec], seeds_of: Callable) -> tuple[str, list, list]:
    """(markdown, columns, complete blocks) of the grid summary over ``tables``."""
    columns = summary.grid_columns(records, tables, profile, seeds_of)
    blocks = summary.complete_blocks(columns)
    frame = rep.collect_all(records, profile)
    return summary.render_markdown(records, columns, blocks, rep.provenance_lines(frame)), columns, blocks


def write_summary(records, profile: Profile, tables: list[TableSpec], seeds_of: Callable,
                  out: Path) -> tuple[str, list[Path]]:
    """summary.md and the critical-difference diagram into ``out``: (the markdown, written paths)."""
    text, _, blocks = grid_summary(records, profile, tables, seeds_of)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(out / "summary.md", text.encode())
    return text, [out / "summary.md", *figures.cd_diagram(records, blocks, out)]


def _ran_here(table: TableSpec, profile: Profile) -> str:
    """What a heading adds where the profile runs stand-ins: the paper's title names its data ("on
    Clothing1M"), the page says what ran instead (" — here: Clothing1M → digits, 40 % uniform")."""
    ran = []
    for column in table.columns:
        resolved = profile.resolve(column)
        if resolved is None or not rep.is_stand_in(profile, column):
            continue
        dataset, corruption = resolved
        stand = profile.stand_in(column.dataset)
        fixed = f", {corruption_label(corruption.canonical())}" if stand is not None and stand.corruption else ""
        entry = f"{reader_name(column.dataset)} → {reader_name(dataset)}{fixed}"
        if entry not in ran:
            ran.append(entry)
    return f" — here: {'; '.join(ran)} (stand-in{'s' if len(ran) > 1 else ''})" if ran else ""


def _stand_in_titles(table: TableSpec, profile: Profile) -> set[str]:
    return {rep._column_title(c, profile) for c in table.columns
            if rep.is_stand_in(profile, c) and profile.resolve(c) is not None}


def write_full(records, profile: Profile, tables: list[TableSpec], seeds_of: Callable, out: Path, *,
               compare_paper: bool, from_scratch: bool, rows, warn: Callable[[str], None],
               tuned: Profile | None = None) -> list[Path]:
    """Every table (md, tex, per-seed csv), figure, the summary, index.md and index.html into ``out``.
    The HTML page always shows the paper's values beside ours (stand-in columns marked)."""
    written, index = [], [f"# gdw-bench report — profile '{profile.name}'\n"]
    sections: list[site.Section] = []
    for table in tables:
        seeds = seeds_of(table)
        title = f"Table {table.key}: {table.title}" if table.kind != "figure" else table.title
        section = site.Section(f"table{table.key}", title + _ran_here(table, profile))
        if table.kind != "figure":
            for fmt, suffix in SUFFIXES.items():
                text = rep.render(records, table, profile, seeds, fmt, compare_paper, from_scratch, rows)
                path = out / f"table{table.key}.{suffix}"
                atomic_write_bytes(path, text.encode())
                written.append(path)
                if fmt == "markdown":
                    index.append(text)
            _fill_section(section, records, table, profile, seeds, from_scratch, rows)
        if table.key in figures.FIGURES:
            paths = figures.FIGURES[table.key](records, table, profile, seeds, out)
            written += paths
            for png in (p for p in paths if p.suffix == ".png"):
                caption = png.with_suffix(".txt").read_text().strip()
                index.append(f"![{png.stem}]({png.name})\n\n_{caption}_\n")
                section.figures.append((png, caption))
            if not paths:
                message = no_records_line(table, profile)
                warn(message)
                index.append(f"_{message}_\n")
                section.notes.append(message)
        sections.append(section)
    text, columns, blocks = grid_summary(records, profile, tables, seeds_of)
    atomic_write_bytes(out / "summary.md", text.encode())
    written.append(out / "summary.md")
    cd_paths = figures.cd_diagram(records, blocks, out)
    written += cd_paths
    index.insert(1, text)
    summary_section = site.Section("summary", "Grid summary")
    if columns:
        summary_section.notes = summary.summary_lines(columns, blocks, records)
        summary_section.table = site.table_html(summary.summary_frame(records, columns))
    else:
        summary_section.notes = ["No accuracy column has complete cells of two methods yet."]
    for png in (p for p in cd_paths if p.suffix == ".png"):
        summary_section.figures.append((png, png.with_suffix(".txt").read_text().strip()))
    sections.insert(0, summary_section)
    if tuned is not None:  # `report --compare-tuned`: after the summary, before the tables
        sections.insert(1, _tuned_section(records, profile, tuned, tables, seeds_of))
    atomic_write_bytes(out / "index.md", "\n".join(index).encode())
    written.append(out / "index.md")
    frame = rep.collect_all(records, profile)
    provenance = rep.provenance_lines(frame) + rep.code_lines(frame) + rep.stale_lines(records, profile)
    intro = [f"Profile '{profile.name}': {profile.description}.",
             "Paper values and our difference stand beside each column; tinted columns ran on a stand-in dataset, "
             "so their Δ compares different data. Click a column header to sort."]
    page = site.page(f"gdw-bench report — profile '{profile.name}'", intro, sections, provenance)
    atomic_write_bytes(out / "index.html", page.encode())
    written.append(out / "index.html")
    return written


def _fill_section(section: site.Section, records, table: TableSpec, profile: Profile, seeds, from_scratch, rows):
    """The page's view of a table: with the paper's values beside ours where the paper has them."""
    if table.kind == "weight_ratios":
        matrix = rep.weight_ratio_matrix(records, table, profile, seeds)
        section.notes = rep.header_lines(table, profile, seeds)[1:-1]
        if matrix is None:
            section.notes.append("Missing: run this table first.")
            return
        shown = matrix.map(lambda v: f"{v:.3f}")
        shown.index.name = "weight/class"
        section.table = site.table_html(shown)
        paper = rep.paper_weight_ratios()
        if paper is not None:
            shown_paper = paper.map(lambda v: f"{v:.3f}")
            shown_paper.index.name = "paper: weight/class"
            section.table += site.table_html(shown_paper)
            section.footer = rep.weight_ratio_comparison(matrix, paper)
        return
    frame, header, marks = rep.accuracy_frame(records, table, profile, seeds, compare_paper=True,
                                              from_scratch=from_scratch, methods=rows)
    section.notes = header[1:]
    section.table = site.table_html(frame, marks, _stand_in_titles(table, profile))
    section.footer = rep.regime_lines(records, table, profile, seeds, from_scratch) + \
        rep.ordering_lines(records, table, profile, seeds, from_scratch, rows)


def _tuned_section(records, profile: Profile, tuned: Profile, tables: list[TableSpec], seeds_of) -> site.Section:
    section = site.Section("tuned", f"Defaults vs tuned ('{tuned.name}')", notes=[
        f"{tuned.description}. Mean ± std over the reported seeds; Δ = tuned − default; paired p: a paired t-test "
        f"over the seeds (Welch where they differ); rank: default → tuned (1 = best)."])
    frames, shown = [], set()
    for table in (t for t in tables if t.kind == "accuracy"):
        frame, taus, _ = compare_tuned(records, table, profile, tuned, seeds_of(table))
        frame = frame[~frame["key"].isin(shown)]  # a stand-in column another table showed already: once
        if not frame.empty:
            shown |= set(frame["key"])
            frames.append(frame.assign(table=table.key))
            section.footer += [f"Table {table.key}, {taus[title]}" for title in dict.fromkeys(frame["column"])]
    if frames:
        joined = pd.concat(frames).drop(columns="key")
        section.table = site.table_html(joined[["table", *[c for c in joined.columns if c != "table"]]]
                                        .set_index("method"))
    else:
        section.notes.append("No method has both default and tuned records yet.")
    return section
