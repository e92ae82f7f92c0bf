"""The grid summary: who wins, where, at what cost, over every accuracy table a results root holds.

Reads records only (the list ``report.load_records`` read once), never methods. The unit of evidence
is a *column*: one (dataset, corruption) that ran here, counted once however many tables print it
(Table 4's μ = 1 is Table 2's clean column). A method's score in a column is its mean over the seeds it
has there; only complete cells (every asked seed) take part, as in the tables' bold.

- **Average rank**: in each column the methods are ranked by mean score (1 = best, ties share the mean
  rank); a method's average is over the columns it ran in (their number is printed beside it).
- **Wins / ties / losses**: against every other method, in every column both ran in, the tables' own
  test (``report.compare``: a paired t-test over the seeds, which share data and initial weights;
  Welch's where the seeds differ) at 5 %: significantly higher mean = a win, lower = a loss, else a
  tie; the counts are summed over columns and opponents.
- **Cost**: the median seconds per epoch (within the protocol's epoch budget: Fine-tuning's short
  meta-set epochs would otherwise pull it down) and per cell of its records, and the median over shared
  columns of its per-cell time over BaseModel's (×BaseModel), from the records' own clocks (compare
  only within one device and thread count: the provenance line says where they ran).
- **Critical-difference diagram** (Demšar, 2006, §3.2.2): Friedman's test over a complete block (the
  methods every one of its columns has: the largest such block, and a second for the methods it
  leaves out), the Nemenyi critical difference CD = q_α·√(k(k+1)/6N) with q_α from the studentized
  range (scipy), and bars joining methods whose average ranks differ by less than CD.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from gdw_bench.plan.specs import Profile, TableSpec
from gdw_bench.reporting.report import _column_title, collect, compare, display_name, table_summary

ALPHA = 0.05


@dataclass
class GridColumn:
    """One (dataset, corruption) that ran here, with the tables that print it."""

    key: tuple[str, str]  # (dataset that ran, corruption slug)
    label: str  # "Table 2: cifar10→digits 40 % uniform"
    tables: list[str] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)  # method → mean over its seeds
    seconds_per_cell: dict[str, float] = field(default_factory=dict)  # method → median over its seeds
    cells: dict = field(default_factory=dict)  # method → report.Cell (per-seed scores)


@dataclass
class Block:
    """A complete block for Friedman/Nemenyi: every method has a score in every column."""

    methods: list[str]
    columns: list[GridColumn]
    average_ranks: dict[str, float]
    friedman_p: float
    critical_difference: float


def grid_columns(records, tables: list[TableSpec], profile: Profile, seeds_of) -> list[GridColumn]:
    """Every column of the accuracy tables present, once, with each method's mean score over complete
    cells (``seeds_of(table)``: the seeds a full cell has)."""

    columns: dict[tuple[str, str], GridColumn] = {}
    for table in tables:
        if table.kind != "accuracy":
            continue
        seeds = seeds_of(table)
        frame = collect(records, table, profile, seeds)
        if frame.empty:
            continue
        methods, cells, present = table_summary(records, table, profile, seeds, False, "all")
        for i in present:
            dataset, corruption = profile.resolve(table.columns[i])
            key = (dataset, corruption.canonical().slug)
            column = columns.setdefault(key, GridColumn(key, f"Table {table.key}: "
                                                            f"{_column_title(table.columns[i], profile)}"))
            column.tables.append(table.key)
            for method in methods:
                if "[" in method:  # a sweep's value (gdw[outer_lr=10]) is a variant of its method, not a method:
                    continue       # the summary and its CD diagram rank methods
                cell = cells[(method, i)]
                if cell.n >= cell.expected and method not in column.scores:
                    column.scores[method] = cell.mean
                    column.cells[method] = cell
                    times = [r.get("wall_time_s") for r in frame.loc[(frame["method"] == method) &
                                                                    (frame["column"] == i), "record"]]
                    times = [t for t in times if isinstance(t, (int, float))]
                    if times:
                        column.seconds_per_cell[method] = float(np.median(times))
    return [c for c in columns.values() if len(c.scores) >= 2]


def _ranks(scores: dict[str, float], methods: list[str]) -> dict[str, float]:
    values = np.array([scores[m] for m in methods])
    return dict(zip(methods, stats.rankdata(-values, method="average")))


def average_ranks(columns: list[GridColumn]) -> tuple[dict[str, float], dict[str, int]]:
    """Each method's mean rank over the columns it ran in, and their number."""
    ranks: dict[str, list[float]] = {}
    for column in columns:
        for method, rank in _ranks(column.scores, list(column.scores)).items():
            ranks.setdefault(method, []).append(rank)
    return {m: float(np.mean(r)) for m, r in ranks.items()}, {m: len(r) for m, r in ranks.items()}


def pairwise(columns: list[GridColumn], a: str, b: str) -> list[str]:
    """'win' | 'tie' | 'loss' of a against b in each column both ran in, by the tables' test at 5 %."""

    outcomes = []
    for column in columns:
        if a in column.cells and b in column.cells:
            tested = compare(column.cells[a], column.cells[b])
            if tested is None or tested[0] >= ALPHA:
                outcomes.append("tie")
            else:
                outcomes.append("win" if column.scores[a] > column.scores[b] else "loss")
    return outcomes


def cost(records, method: str, columns: list[GridColumn]) -> dict:
    """Median seconds per epoch and per cell over the method's records in these columns, and the
    median over shared columns of its per-cell time relative to BaseModel's."""
    keys = {c.key for c in columns}
    mine = [r for r in records if r["method"] == method and (r["dataset"], r["corruption"]["slug"]) in keys]
    per_epoch = [e["epoch_time_s"] for r in mine for e in r.get("curve", [])
                 if isinstance(e.get("epoch_time_s"), (int, float))
                 and e.get("global_epoch", 0) < (r.get("protocol") or {}).get("epochs", math.inf)]
    per_cell = [r["wall_time_s"] for r in mine if isinstance(r.get("wall_time_s"), (int, float))]
    ratios = [c.seconds_per_cell[method] / c.seconds_per_cell["basemodel"] for c in columns
              if method in c.seconds_per_cell and c.seconds_per_cell.get("basemodel")]
    return {"s_per_epoch": float(np.median(per_epoch)) if per_epoch else math.nan,
            "s_per_cell": float(np.median(per_cell)) if per_cell else math.nan,
            "x_basemodel": float(np.median(ratios)) if ratios else math.nan}


def nemenyi_cd(k: int, n: int, alpha: float = ALPHA) -> float:
    """Critical difference of average ranks for k methods over n blocks (Demšar 2006, eq. 5)."""
    q = stats.studentized_range.ppf(1 - alpha, k, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(k * (k + 1) / (6.0 * n)))


def _block(methods: list[str], columns: list[GridColumn]) -> Block:
    matrix = np.array([[c.scores[m] for m in methods] for c in columns])
    ranks = np.mean([stats.rankdata(-row, method="average") for row in matrix], axis=0)
    friedman = float(stats.friedmanchisquare(*matrix.T).pvalue) if len(methods) >= 3 else math.nan
    return Block(methods, columns, dict(zip(methods, ranks.tolist())), friedman, nemenyi_cd(len(methods), len(columns)))


def complete_blocks(columns: list[GridColumn], most: int = 2) -> list[Block]:
    """The complete block with the most (methods × columns), then, for the methods it leaves out, the
    block that covers most of them; each with ≥ 3 methods and ≥ 2 columns."""
    candidates = []
    for column in columns:
        methods = sorted(column.scores)
        covered = [c for c in columns if all(m in c.scores for m in methods)]
        if len(methods) >= 3 and len(covered) >= 2:
            candidates.append((methods, covered))
    blocks, left = [], None
    for _ in range(most):
        if not candidates:
            break
        if left is None:
            methods, covered = max(candidates, key=lambda mc: (len(mc[0]) * len(mc[1]), len(mc[0])))
        else:
            methods, covered = max(candidates, key=lambda mc: (len(left & set(mc[0])), len(mc[1])))
            if not left & set(methods):
                break
        blocks.append(_block(methods, covered))
        left = (left if left is not None else {m for c in columns for m in c.scores}) - set(methods)
        candidates = [mc for mc in candidates if mc[0] != methods]
    return blocks


def _name(method: str, titles: dict[str, str]) -> str:
    return display_name(method, titles.get(method))


def summary_frame(records, columns: list[GridColumn]) -> pd.DataFrame:
    """One row per method, best average rank first."""
    titles = {r["method"]: r.get("method_title") or r["method"] for r in records}
    ranks, counts = average_ranks(columns)
    methods = sorted(ranks, key=lambda m: (ranks[m], m))
    rows = []
    for method in methods:
        outcomes = [o for other in methods if other != method for o in pairwise(columns, method, other)]
        spent = cost(records, method, columns)
        rows.append({
            "method": _name(method, titles), "avg rank": f"{ranks[method]:.2f}", "columns": counts[method],
            "W / T / L": f"{outcomes.count('win')} / {outcomes.count('tie')} / {outcomes.count('loss')}",
            "s / epoch": _seconds(spent["s_per_epoch"]), "s / cell": _seconds(spent["s_per_cell"]),
            "× BaseModel, as recorded": "—" if math.isnan(spent["x_basemodel"]) else f"{spent['x_basemodel']:.1f}×",
        })
    return pd.DataFrame(rows).set_index("method")


def _seconds(value: float) -> str:
    return "—" if math.isnan(value) else (f"{value:.3f}" if value < 1 else f"{value:.1f}")


def summary_lines(columns: list[GridColumn], blocks: list[Block], records) -> list[str]:
    titles = {r["method"]: r.get("method_title") or r["method"] for r in records}
    tables = sorted({t for c in columns for t in c.tables}, key=lambda t: (len(t), t))
    lines = [f"Over {len(columns)} distinct columns of Tables {', '.join(tables)} (a column shared by tables counts "
             f"once); complete cells only. Average rank: 1 = best in a column, over the columns the method ran in. "
             f"W / T / L: against each other method in each column both ran in, the tables' paired t-test over "
             f"seeds at 5 % (significantly better, not significantly different, significantly worse), summed over "
             f"columns and opponents. Cost: median seconds per epoch and per cell from the records, and "
             f"the median over shared columns of the per-cell time relative to BaseModel's — as recorded, so cells "
             f"trained under different loads (other jobs, the test suite beside them) are not comparable: "
             f"`gdw-bench speed` times every method's step side by side in one process."]
    for block in blocks:
        best = min(block.average_ranks, key=block.average_ranks.get)
        tied = [m for m in block.methods if m != best and
                block.average_ranks[m] - block.average_ranks[best] < block.critical_difference]
        lines.append(f"Critical-difference block of {len(block.methods)} methods × {len(block.columns)} columns: "
                     f"Friedman p = {block.friedman_p:.2g}; Nemenyi CD = {block.critical_difference:.2f} ranks at 5 %; "
                     f"best average rank {_name(best, titles)} ({block.average_ranks[best]:.2f}); not significantly "
                     f"different from it: {', '.join(_name(m, titles) for m in tied) or 'none'}.")
    return lines


def render_markdown(records, columns: list[GridColumn], blocks: list[Block], provenance: list[str]) -> str:
    if not columns:
        return "### Grid summary\n\n_No accuracy column has complete cells of two methods yet._\n"
    frame = summary_frame(records, columns)
    lines = summary_lines(columns, blocks, records) + provenance
    return ("### Grid summary\n\n" + "\n".join(f"_{line}_" for line in lines) + "\n\n"
            + frame.to_markdown(disable_numparse=True) + "\n")
