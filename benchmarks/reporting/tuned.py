"""`report --compare-tuned NAME`: each method at its defaults (the profile's records) beside the same method
tuned by `gdw-bench tune` (the records of the tuned run NAME), on the same seeds: the means, the difference
with the tables' own test (``report.compare``: paired over shared seeds, Welch where they differ), each
method's rank in either ordering, and Kendall's τ between the default and the tuned ordering and between
each and the paper's."""
from __future__ import annotations

import math

import pandas as pd
from scipy import stats

from gdw_bench.plan.specs import Profile, TableSpec
from gdw_bench.reporting.report import (
    _column_title,
    _fmt,
    _paper_value,
    collect,
    compare,
    method_name,
    paper_results,
    table_summary,
    to_markdown,
)


def _tau(a: dict, b: dict) -> str:
    common = [m for m in a if m in b and not math.isnan(a[m]) and b[m] is not None and not math.isnan(b[m])]
    if len(common) < 3:
        return f"— ({len(common)} methods in both; at least 3 are needed)"
    tau, p = stats.kendalltau([a[m] for m in common], [b[m] for m in common])
    return f"{tau:+.2f} (p = {p:.2g}, {len(common)} methods)"


def compare_tuned(records, table: TableSpec, default: Profile, tuned: Profile,
                  seeds) -> tuple[pd.DataFrame, dict[str, str], list[str]]:
    """(one row per (column, method): default, tuned, Δ, p, ranks; column title → its τ line; the titles of
    the columns no method has both default and tuned records in)."""
    d_methods, d_cells, present = table_summary(records, table, default, seeds, methods="all")
    t_methods, t_cells, _ = table_summary(records, table, tuned, seeds, methods="all")
    frame = collect(records, table, default, seeds)
    paper = paper_results()
    rows, taus, untuned = [], {}, []
    for i in present:
        column = table.columns[i]
        title = _column_title(column, default)
        methods = [m for m in d_methods if d_cells[(m, i)].n and (m, i) in t_cells and t_cells[(m, i)].n]
        if not methods:
            untuned.append(title)
            continue
        before = {m: d_cells[(m, i)].mean for m in methods}
        after = {m: t_cells[(m, i)].mean for m in methods}
        rank_before = dict(zip(methods, stats.rankdata([-before[m] for m in methods], method="min").astype(int)))
        rank_after = dict(zip(methods, stats.rankdata([-after[m] for m in methods], method="min").astype(int)))
        for m in methods:
            tested = compare(t_cells[(m, i)], d_cells[(m, i)])
            same = d_cells[(m, i)].by_seed == t_cells[(m, i)].by_seed  # untuned: the very same records
            p = "—" if same or tested is None else f"{tested[0]:.2g}"
            dataset, corruption = default.resolve(column)
            rows.append({"key": f"{dataset}/{corruption.canonical().slug}", "column": title,
                         "method": method_name(m, frame), "default": _fmt(d_cells[(m, i)]),
                         "tuned": _fmt(t_cells[(m, i)]), "Δ": f"{after[m] - before[m]:+.2f}",
                         "paired p": p, "rank": f"{rank_before[m]} → {rank_after[m]}"})
        theirs = {m: _paper_value(paper, table, column, m) for m in methods}
        taus[title] = (f"{title}: Kendall's τ default vs tuned ordering {_tau(before, after)}; vs the paper's: "
                       f"default {_tau(before, theirs)}, tuned {_tau(after, theirs)}.")
    # key: the (dataset, corruption) a column ran, where two tables share a stand-in column
    frame = pd.DataFrame(rows, columns=["key", "column", "method", "default", "tuned", "Δ", "paired p", "rank"])
    return frame, taus, untuned


def render_compare_tuned(records, table: TableSpec, default: Profile, tuned: Profile, seeds) -> str:
    frame, taus, untuned = compare_tuned(records, table, default, tuned, seeds)
    lines = list(taus.values()) + ([f"No method has both default and tuned records in: {', '.join(untuned)}."]
                                   if untuned else [])
    header = [f"Table {table.key}: defaults ('{default.name}') vs tuned ('{tuned.name}': {tuned.description}), "
              f"mean ± std over seeds {','.join(map(str, seeds))}; Δ = tuned − default; paired p: a paired t-test "
              f"over the seeds (Welch where they differ); rank: default → tuned (1 = best)."]
    if frame.empty:
        return "\n".join(header + lines) + "\n"
    return to_markdown(frame.drop(columns="key").set_index("method"), header, lines)
