"""Tables from result records: markdown, LaTeX (booktabs) and per-seed CSV.

Reads records only (``load_records``, once per command; every function here takes that list);
never imports methods or models. Cells with fewer
seeds than asked are marked partial ("(k/n)"), missing cells "—"; nothing is silently averaged.
A t-test (scipy) per column compares the best method with each other method: paired over seeds
when both share their seeds (every method of a seed starts from the same weights and data), Welch
otherwise; "†" marks a difference that is not significant at 5 %. Under each table, the regime
verdicts of its noisy columns (``regime.py``).
"""
from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from gdw_bench.datasets.corruption import corruption_label
from gdw_bench.errors import suggested_command
from gdw_bench.plan.specs import (
    PAPER_METHOD_NAMES,
    Column,
    Profile,
    TableSpec,
    extra_levels,
    reader_name,
    takes_levels,
    with_levels,
)
from gdw_bench.reporting import regime
from gdw_bench.reporting.records import ReportRecords, is_current, remembered
from gdw_bench.storage import store

ALPHA = 0.05


def paper_results() -> pd.DataFrame:
    """The paper's Tables 2–8 as tidy data (shipped copy of paper_results.csv)."""
    with resources.files("gdw_bench").joinpath("data/paper_results.csv").open() as handle:
        frame = pd.read_csv(handle, dtype={"level": str, "table": str})
    frame["level"] = frame["level"].fillna("")
    return frame


def _column_title(column: Column, profile: Profile) -> str:
    """'cifar10 40 % uniform', 'cifar10→digits μ = 0.1', 'clothing1m real labels', from what runs here."""
    stand = profile.stand_in(column.dataset)
    resolved = profile.resolve(column)
    if stand is None or resolved is None:
        return f"{column.dataset} {column.setting} {column.level}".strip()
    name = column.dataset if stand.dataset == column.dataset else f"{column.dataset}→{stand.dataset}"
    if column.setting == "real" and stand.corruption is None:
        return f"{name} real labels"
    return f"{name} {corruption_label(resolved[1])}"


def with_found_levels(table: TableSpec, profile: Profile, records: list[dict]) -> TableSpec:
    """The table with a column for every level beyond the paper's that the profile asks for (a config's
    ``levels``) or that its records hold (``run --levels 0.2,0.8``): extra columns, marked in the header."""
    if not takes_levels(table):
        return table
    setting = table.columns[0].setting
    have = {c.level for c in table.columns}
    ran = {profile.resolve(c)[0] for c in table.columns if profile.resolve(c) is not None}
    values = set(profile.extra_levels.get(setting, ()))
    for r in records:
        if r.get("setting") == setting and r["dataset"] in ran and r.get("level") not in have \
                and bool(r.get("diagnostics")) == table.diagnostics and is_current(records, r, profile):
            try:
                values.add(float(r["level"]))
            except (TypeError, ValueError):
                continue
    return with_levels(table, values)


def _sweep_order(key: str):
    """Sweep rows by method, then by swept value (numbers numerically)."""
    method, _, label = key.partition("[")
    values = []
    for part in label.rstrip("]").split(", "):
        text = part.partition("=")[2]
        try:
            values.append((0, float(text), ""))
        except ValueError:
            values.append((1, 0.0, text))
    return method, values


def sweep_rows(methods, table: TableSpec) -> list[str]:
    """The sweep rows among ``methods`` (keys such as ``gdw[outer_lr=10]``) of the table's own methods, in
    order: by method, then by swept value."""
    swept = dict.fromkeys(m for m in methods if "[" in m and m.split("[")[0] in table.methods)  # first seen first
    return sorted(swept, key=_sweep_order)


def with_sweep_rows(records: list[dict], run) -> list[dict]:
    """A stored sweep's records as rows of its base profile: each swept method's records under each
    point, copied with the method key ``gdw[outer_lr=10]`` and title ``GDW (outer_lr=10)`` (a protocol
    axis, which changes every method, labels every method so)."""
    records = records if isinstance(records, ReportRecords) else ReportRecords(records)
    if run is None or not run.points:
        return records
    swept = run.swept_methods if all("." in k for k, _ in run.axes) else {r["method"] for r in records}
    out = [_labelled_as_base(r, run) if r["method"] in swept else r for r in records]
    copies = []
    for variant, values in run.points:
        label = ", ".join(f"{k.split('.', 1)[-1]}={v}" for k, v in values.items())
        for record in records:
            if record["method"] in swept and records.is_current(record, variant):
                title = display_name(record["method"], record.get("method_title"))
                copies.append({**record, "method": f"{record['method']}[{label}]",
                               "method_title": f"{title} ({label})", "_swept_tables": tuple(run.tables)})
    return records.with_rows(out, run.profile.name, copies)  # each copy: a row of the base profile's tables


def _labelled_as_base(record: dict, run) -> dict:
    """A swept method's record of the base profile, titled with what it has where the sweep varies:
    ``GDW (outer_lr=default)`` for a hyperparameter axis, ``BaseModel (epochs=80)`` for a protocol one."""
    protocol = run.profile.protocols.get(record.get("dataset"))
    parts = []
    for key, _ in run.axes:
        name = key.rsplit(".", 1)[-1]
        if "." in key and key.split(".")[0] == record["method"]:  # the method's hyperparameter
            value = run.profile.method_overrides.get(record["method"], {}).get(name, "default")
        else:
            value = getattr(protocol, name, "?")
        parts.append(f"{name}={value}")
    return {**record, "row_label": f"{display_name(record['method'], record.get('method_title'))} ({', '.join(parts)})",
            "_swept_tables": tuple(run.tables)}


def swept_in(record: dict, table: TableSpec) -> bool:
    """Whether a sweep's row (a swept value's copy, or its base row's label) belongs to ``table``: only the
    tables the sweep ran, never another that shares a column with them (Table 4's clean column is Table
    2's); any other record belongs everywhere."""
    return table.key in record.get("_swept_tables", (table.key,))


def load_records(root: Path, problems: list[str] | None = None) -> list[dict]:
    """Every usable record under ``root``: read once, then handed to each table and figure. A damaged
    one is left out, with one line about it in ``problems``. Methods whose names would be one are told
    apart here, once, for every table, figure and the page (``distinct_titles``)."""
    return ReportRecords(distinct_titles(list(store.iter_records(root, problems))))


def distinct_titles(records: list[dict]) -> list[dict]:
    """The records, each method named apart from every other: where several method keys would show as
    one name (a plugin titled like a built-in, two plugins of one title), each key that is not the
    paper's method is titled ``name (key)``. A record that changes is copied, never edited."""
    names: dict[str, set[str]] = {}
    for record in records:
        names.setdefault(display_name(record["method"], record.get("method_title")), set()).add(record["method"])
    shared = {name for name, keys in names.items() if len(keys) > 1}
    if not shared:
        return records
    out = []
    for record in records:
        name = display_name(record["method"], record.get("method_title"))
        if name in shared and record["method"] not in PAPER_METHOD_NAMES:
            record = {**record, "method_title": f"{name} ({record['method']})"}
        out.append(record)
    return out


def collect(records: list[dict], table: TableSpec, profile: Profile, seeds, from_scratch: bool = False) -> pd.DataFrame:
    """One row per (column, method, seed) found in the records for this table and profile
    (``from_scratch``: the records of ``run --from-scratch`` instead of the pretrained ones). Once per
    report (``ReportRecords``): every renderer, format and figure of the table reads this one frame, which
    none of them changes."""
    key = ("frame", id(table), id(profile), tuple(seeds) if seeds is not None else None, from_scratch)
    return remembered(records, key, (table, profile), lambda: _collect(records, table, profile, seeds, from_scratch))


def _collect(records, table: TableSpec, profile: Profile, seeds, from_scratch: bool) -> pd.DataFrame:
    wanted = {}
    for i, column in enumerate(table.columns):
        resolved = profile.resolve(column)
        if resolved is not None:
            dataset, corruption = resolved
            wanted.setdefault((dataset, corruption.canonical().slug), []).append(i)
    rows = []
    for record in records:
        if bool(record.get("diagnostics")) != table.diagnostics:
            continue
        if not is_current(records, record, profile):  # trained under another configuration: never mixed in
            continue
        if bool(record.get("from_scratch")) != from_scratch:
            continue
        if seeds is not None and record["seed"] not in seeds:
            continue
        here = swept_in(record, table)
        if "[" in record["method"] and not here:  # a swept value's row, in a table the sweep did not run
            continue
        for i in wanted.get((record["dataset"], record["corruption"]["slug"]), []):
            rows.append({"column": i, "method": record["method"], "title": record.get("method_title"),
                         "label": record.get("row_label") if here else None, "seed": record["seed"],
                         "score": record["score"], "record": record})
    return pd.DataFrame(rows, columns=["column", "method", "title", "label", "seed", "score", "record"])


@dataclass
class Cell:
    by_seed: dict[int, float]  # seed → score
    expected: int

    @property
    def scores(self) -> list[float]:
        return [self.by_seed[s] for s in sorted(self.by_seed)]

    @property
    def n(self) -> int:
        return len(self.by_seed)

    @property
    def mean(self) -> float:
        return float(np.mean(self.scores)) if self.scores else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.scores, ddof=1)) if self.n > 1 else 0.0


def row_methods(frame: pd.DataFrame, table: TableSpec, methods=None) -> list[str]:
    """The table's rows: its spec's methods (None; and a sweep's rows of them, ``gdw[outer_lr=10]``),
    those plus every other method with records in its columns ("all"; records are shared between
    tables with equal cells), or the given keys."""
    if methods is None:
        return list(table.methods) + sweep_rows(frame["method"], table)
    if methods == "all":
        return list(table.methods) + [m for m in dict.fromkeys(frame["method"]) if m not in table.methods]
    return list(methods)


def table_summary(records, table: TableSpec, profile: Profile, seeds, from_scratch: bool = False,
                  methods=None) -> tuple[list[str], dict, list[int]]:
    """``summarise`` of the table's frame, once per report and selection of rows: the table in every
    format, its regime and ordering lines and the grid summary read this one."""
    key = ("summary", id(table), id(profile), tuple(seeds) if seeds is not None else None, from_scratch,
           tuple(methods) if isinstance(methods, (list, tuple)) else methods)
    return remembered(records, key, (table, profile), lambda: summarise(
        collect(records, table, profile, seeds, from_scratch), table, profile, seeds, methods))


def summarise(frame: pd.DataFrame, table: TableSpec, profile: Profile, seeds,
              methods=None) -> tuple[list[str], dict, list[int]]:
    """(method rows, {(method, column): Cell}, the columns this profile runs)."""
    present = [i for i, c in enumerate(table.columns) if profile.resolve(c) is not None]
    methods = row_methods(frame, table, methods)
    cells = {}
    for method in methods:
        for i in present:
            picked = frame[(frame["method"] == method) & (frame["column"] == i)]
            cells[(method, i)] = Cell(dict(zip(picked["seed"].tolist(), picked["score"].tolist())), len(seeds))
    return methods, cells, present


def compare(best: Cell, other: Cell) -> tuple[float, str] | None:
    """(p-value, test) of best vs other: a paired t-test over their shared seeds when they share
    every seed (seeds are paired: same data, initial weights and batch order), Welch otherwise;
    None with fewer than 2 scores on a side."""
    shared = sorted(set(best.by_seed) & set(other.by_seed))
    if len(shared) >= 2 and len(shared) == best.n == other.n:
        a = np.array([best.by_seed[s] for s in shared])
        b = np.array([other.by_seed[s] for s in shared])
        if np.allclose(a, b):
            return 1.0, "paired"
        return float(stats.ttest_rel(a, b).pvalue) if np.ptp(a - b) > 0 else 0.0, "paired"
    if best.n < 2 or other.n < 2:
        return None
    if best.n == other.n and np.allclose(sorted(best.scores), sorted(other.scores)):
        return 1.0, "welch"
    return float(stats.ttest_ind(best.scores, other.scores, equal_var=False).pvalue), "welch"


def _contenders(cells: dict, methods: list[str], column: int) -> list[tuple[float, str]]:
    """(mean, method) of the rows that may take a column's bold or underline: those with every seed
    when any row has them all (a partial row's mean over fewer seeds is not comparable), else all."""
    scored = [(cells[(m, column)].mean, m) for m in methods if cells[(m, column)].n > 0]
    complete = [(mean, m) for mean, m in scored if cells[(m, column)].n >= cells[(m, column)].expected]
    return complete or scored


def significance(cells: dict, methods: list[str], column: int) -> tuple[str | None, set[str], set[str]]:
    """The best method of a column, the methods not significantly worse (5 %), and the tests used
    ("paired" t-test over shared seeds, or "welch")."""
    scored = _contenders(cells, methods, column)
    if not scored:
        return None, set(), set()
    best = max(scored)[1]
    tied, tests = set(), set()
    for method in methods:
        if method == best:
            continue
        outcome = compare(cells[(best, column)], cells[(method, column)])
        if outcome is None:
            continue
        pvalue, test = outcome
        tests.add(test)
        if pvalue >= ALPHA:
            tied.add(method)
    return best, tied, tests


def _fmt(cell: Cell) -> str:
    if cell.n == 0:
        return "—"
    text = f"{cell.mean:.2f} ± {cell.std:.2f}" if cell.n > 1 else f"{cell.mean:.2f} ± n/a"  # no spread from one seed
    return text if cell.n >= cell.expected else f"{text} ({cell.n}/{cell.expected})"


def display_name(method: str, title: str | None = None) -> str:
    """How every table, figure and summary names a method: the paper's name, else the title its records
    carry, else its key."""
    return PAPER_METHOD_NAMES.get(method) or title or method


def method_name(method: str, frame: pd.DataFrame) -> str:
    """The row's name: a label its records carry (a sweep's base row, ``GDW (outer_lr=default)``), else
    ``display_name``."""
    labels = frame.loc[frame["method"] == method, "label"].dropna()
    if len(labels):
        return labels.iloc[0]
    titles = frame.loc[frame["method"] == method, "title"].dropna()
    return display_name(method, titles.iloc[0] if len(titles) else None)


def is_stand_in(profile: Profile, column: Column) -> bool:
    """Whether the column runs on something other than the paper's data here (another dataset, or a
    fixed synthetic corruption standing in for real labels)."""
    stand = profile.stand_in(column.dataset)
    return stand is not None and (stand.dataset != column.dataset or stand.corruption is not None)


def _paper_value(paper: pd.DataFrame, table: TableSpec, column: Column, method: str) -> float | None:
    name = PAPER_METHOD_NAMES.get(method, method)
    hit = paper[(paper["table"] == table.key) & (paper["dataset"] == column.dataset) &
                (paper["setting"] == column.setting) & (paper["level"] == column.level) & (paper["method"] == name)]
    return float(hit["mean"].iloc[0]) if len(hit) else None


def protocol_summary(protocol) -> str:
    """What a dataset's protocol trains, from the resolved profile (so a config's or --set's epochs show,
    not the built-in profile's note)."""
    if protocol is None:
        return "its profile's protocol"
    parts = [protocol.model, f"{protocol.epochs} epochs", f"batch {protocol.batch_size}", f"lr {protocol.lr:g}"]
    if protocol.train_subset:
        parts.append(f"a {protocol.train_subset:,}-image training subset")
    if protocol.meta_per_class:
        parts.append(f"{protocol.meta_per_class} meta images per class")
    parts.append("augmented" if protocol.augment else "no augmentation")
    return ", ".join(parts)


def header_lines(table: TableSpec, profile: Profile, seeds, from_scratch: bool = False) -> list[str]:
    lines = [f"Table {table.key}: {table.title}", f"Profile '{profile.name}': {profile.description}."]
    if from_scratch and any(p.pretrained for p in profile.protocols.values()):
        lines.append("Networks trained from scratch (--from-scratch), not ImageNet-pretrained as in the paper.")
    for column in table.columns:
        stand = profile.stand_in(column.dataset)
        if stand is None:
            lines.append(f"{column.dataset}: omitted in this profile.")
        elif stand.dataset != column.dataset or stand.corruption is not None:
            what = stand.dataset if stand.corruption is None else (stand.note or stand.dataset)
            lines.append(f"{column.dataset} is stood in for by {what}, trained as "
                         f"{protocol_summary(profile.protocols.get(stand.dataset))}.")
    extra = extra_levels(table)
    if extra:
        lines.append(f"Levels outside the paper's: {', '.join(dict.fromkeys(extra))} (extra columns; the paper has no "
                     f"value for them).")
    changed = {m: v for m, v in profile.method_overrides.items() if v and m in (*table.methods, *table.regime_methods)}
    if changed:  # what this profile sets away from the methods' (the papers') defaults, for this table's rows
        lines.append("Hyperparameters this profile sets (all others at the methods' defaults): " + "; ".join(
            f"{display_name(m)} {', '.join(f'{k} = {v}' for k, v in sorted(values.items()))}"
            for m, values in changed.items()) + ".")
    lines.append(f"Mean ± std (sample) over seeds {','.join(map(str, seeds))}; best in bold; — missing; (k/n) partial; "
                 f"† not significantly different from the column's best at 5 % ({TEST_NOTE}).")
    return list(dict.fromkeys(lines))


TEST_NOTE = ("paired t-test over the seeds both share — every method of a seed starts from the same weights "
             "and data — or Welch's t-test where their seeds differ")


def stale_lines(records, profile: Profile) -> list[str]:
    """A warning when records of this profile were trained under another configuration (they are
    left out of every table and figure; `run --dry-run` lists them as stale)."""
    stale = sum(1 for r in records if r["profile"] == profile.name and not is_current(records, r, profile))
    return [f"{stale} records of this profile were trained under another configuration and are left out "
            f"(`run --dry-run` lists them as stale)."] if stale else []


def collect_all(records, profile: Profile) -> pd.DataFrame:
    """Every current record of the profile, one row each (method, record): what a grid-wide view reads."""
    rows = [{"method": r["method"], "record": r} for r in records if is_current(records, r, profile)]
    return pd.DataFrame(rows, columns=["method", "record"])


def code_lines(frame: pd.DataFrame) -> list[str]:
    """Which code trained the shown records: git commits and library versions, with record counts."""
    if frame.empty:
        return []
    commits = pd.Series([str(r.get("git_commit") or "unknown")[:10] for r in frame["record"]]).value_counts()
    versions = pd.Series([", ".join(f"{k} {v}" for k, v in sorted((r.get("versions") or {}).items()))
                          for r in frame["record"]]).value_counts()
    return ["Code: git " + "; ".join(f"{c} ({n} records)" for c, n in commits.items()) + ".",
            "Libraries: " + "; ".join(f"{v or 'unknown'} ({n} records)" for v, n in versions.items()) + "."]


def provenance_lines(frame: pd.DataFrame) -> list[str]:
    """Where the shown records were trained: numbers are comparable bit for bit only within one
    device and CPU thread count (see the README on determinism)."""
    if frame.empty:
        return []
    def where(record: dict) -> str:
        device = str(record.get("device", "?"))
        return f"cpu, {record.get('torch_threads', '?')} thread(s)" if device.startswith("cpu") else device

    kinds = pd.Series([where(r) for r in frame["record"]])
    counts = kinds.value_counts()
    return ["Trained on: " + "; ".join(f"{kind} ({n} records)" for kind, n in counts.items()) + "."]


def accuracy_frame(records, table, profile, seeds, compare_paper=False,
                   from_scratch=False, methods=None) -> tuple[pd.DataFrame, list[str], dict]:
    """(table of plain strings, header lines, marks): ``marks[column] = (best row, second row)``, which
    markdown shows in bold and LaTeX in bold and underlined."""
    frame = collect(records, table, profile, seeds, from_scratch)
    methods, cells, present = table_summary(records, table, profile, seeds, from_scratch, methods)
    paper = paper_results() if compare_paper else None
    extra = set(extra_levels(table))
    out, marks = {}, {}
    for i in present:
        column = table.columns[i]
        title = _column_title(column, profile)
        best, tied, _ = significance(cells, methods, i)
        ranked = sorted(_contenders(cells, methods, i))[::-1]
        second = ranked[1][1] if len(ranked) > 1 else None
        out[title] = [_fmt(cells[(m, i)]) + (" †" if m in tied else "") for m in methods]
        marks[title] = (method_name(best, frame) if best else None, method_name(second, frame) if second else None)
        if paper is not None and column.level not in extra:  # a level outside the paper's has no paper value
            ours = [cells[(m, i)].mean for m in methods]
            ref = [_paper_value(paper, table, column, m) for m in methods]
            out[f"{title} paper"] = ["—" if r is None else f"{r:.2f}" for r in ref]
            delta = f"{title} Δ" + ("" if profile.name == "paper" else " (stand-in)")
            out[delta] = ["—" if r is None or math.isnan(o) else f"{o - r:+.2f}" for o, r in zip(ours, ref)]
    index = [method_name(m, frame) for m in methods]
    header = header_lines(table, profile, seeds, from_scratch) + provenance_lines(frame) + stale_lines(records, profile)
    return pd.DataFrame(out, index=pd.Index(index, name="method")), header, marks


def regime_lines(records, table: TableSpec, profile: Profile, seeds, from_scratch: bool = False) -> list[str]:
    """The regime verdicts (``regime.py``) of each noisy column of an accuracy table, one line each."""
    frame = collect(records, table, profile, seeds, from_scratch)
    lines = []
    for i, column in enumerate(table.columns):
        resolved = profile.resolve(column)
        if resolved is None or resolved[1].canonical().noise == "none":
            continue
        picked = frame[frame["column"] == i]
        by_method = {m: list(group["record"]) for m, group in picked.groupby("method")}
        verdict = regime.column_regime(by_method)
        how = suggested_command("run", "--table", table.key, *profile.rerun_arguments(), "--methods", "basemodel",
                                "--levels", column.level)  # quoted: Table 8's levels hold ';', a --set anything
        lines.append(verdict.line(_column_title(column, profile), PAPER_METHOD_NAMES, how))
    return lines


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def ordering_lines(records, table: TableSpec, profile: Profile, seeds, from_scratch: bool = False,
                   methods=None, moved_shown: int = 3) -> list[str]:
    """Under ``--compare-paper``, per column: how far our method ordering is from the paper's.

    Kendall's τ-b (scipy; ties allowed) between our mean scores and the paper's over the methods that
    have both, with its two-sided p-value; the methods whose rank moved most (rank 1 = best); and each
    method's gain over BaseModel beside the paper's gain. A column run on a stand-in is labelled so:
    its ordering is compared as a stand-in's, not as a reproduction."""
    frame = collect(records, table, profile, seeds, from_scratch)
    methods, cells, present = table_summary(records, table, profile, seeds, from_scratch, methods)
    paper = paper_results()
    lines, empty = [], []
    for i in present:
        column = table.columns[i]
        stand_in = is_stand_in(profile, column)
        label = _column_title(column, profile) + (f" (stand-in for the paper's {column.label}: compared as a "
                                                  f"stand-in)" if stand_in else "")
        ours = {m: cells[(m, i)].mean for m in methods if cells[(m, i)].n > 0}
        theirs = {m: _paper_value(paper, table, column, m) for m in ours}
        common = [m for m in ours if theirs[m] is not None]
        if not ours:  # said once for every such column, below
            empty.append(_column_title(column, profile))
            continue
        if len(common) < 3:
            lines.append(f"Ordering vs the paper, {label}: {len(common)} method(s) with both our and the paper's "
                         f"value; at least 3 are needed to compare orderings.")
            continue
        a, b = np.array([ours[m] for m in common]), np.array([theirs[m] for m in common])
        tau, pvalue = stats.kendalltau(a, b)
        our_rank = dict(zip(common, stats.rankdata(-a, method="min").astype(int)))
        paper_rank = dict(zip(common, stats.rankdata(-b, method="min").astype(int)))
        moves = sorted(common, key=lambda m: (-abs(int(paper_rank[m]) - int(our_rank[m])), m))
        moved = [f"{method_name(m, frame)} {_ordinal(paper_rank[m])} in the paper → {_ordinal(our_rank[m])} here"
                 for m in moves[:moved_shown] if paper_rank[m] != our_rank[m]]
        text = (f"Ordering vs the paper, {label}: Kendall's τ = {tau:+.2f} (p = {pvalue:.2g}) over "
                f"{len(common)} methods; moved most: {'; '.join(moved) if moved else 'none (same ranks)'}.")
        if "basemodel" in common:
            gains = [f"{method_name(m, frame)} {ours[m] - ours['basemodel']:+.2f} "
                     f"({theirs[m] - theirs['basemodel']:+.2f})" for m in common if m != "basemodel"]
            text += f" Gain over BaseModel, ours (paper's): {', '.join(gains)}."
        lines.append(text)
    if empty:
        lines.append(f"Ordering vs the paper: no records yet in {', '.join(empty)}.")
    return lines


def weight_ratio_matrix(records, table: TableSpec, profile: Profile, seeds, epoch: int = -1) -> pd.DataFrame | None:
    """Table 6: ratio of increased ω_i (rows) on instances labelled C_j (columns) in one epoch
    (default: the last), averaged over seeds."""
    frame = collect(records, table, profile, seeds)
    frame = frame[frame["method"] == "gdw"]
    matrices = []
    for record in frame["record"]:
        diag = record.get("diagnostics_per_epoch") or []
        if diag and "increased_by_class" in diag[epoch]:
            inc = np.array(diag[epoch]["increased_by_class"], dtype=float)  # [j][i]
            total = np.array(diag[epoch]["total_by_class"], dtype=float)
            matrices.append((inc / np.maximum(total, 1)[:, None]).T)  # → [i][j]
    if not matrices:
        return None
    mean = np.mean(matrices, axis=0)
    k = mean.shape[0]
    return pd.DataFrame(mean, index=[f"ω_{i}" for i in range(k)], columns=[f"C_{j}" for j in range(k)])


def paper_weight_ratios() -> pd.DataFrame | None:
    """The paper's Table 6 as a K × K frame (rows ω_i, columns C_j), from the shipped paper results."""
    paper = paper_results()
    rows = paper[paper["table"] == "6"]
    if rows.empty:
        return None
    parts = rows["level"].str.extract(r"weight=(\d+);class=(\d+)").astype(int)
    k = int(parts.max().max()) + 1
    matrix = np.full((k, k), np.nan)
    matrix[parts[0].to_numpy(), parts[1].to_numpy()] = rows["mean"].to_numpy()
    return pd.DataFrame(matrix, index=[f"ω_{i}" for i in range(k)], columns=[f"C_{j}" for j in range(k)])


def weight_ratio_comparison(ours: pd.DataFrame, paper: pd.DataFrame) -> list[str]:
    """How our Table 6 matrix compares with the paper's, when both have K classes."""
    if ours.shape != paper.shape:
        return [f"Not compared cell by cell: ours has K = {ours.shape[0]} classes, the paper's {paper.shape[0]}."]
    a, b = ours.to_numpy().ravel(), paper.to_numpy().ravel()
    diagonal = np.eye(ours.shape[0], dtype=bool).ravel()
    return [f"Ours vs the paper: mean |difference| {np.mean(np.abs(a - b)):.3f}; Pearson r {np.corrcoef(a, b)[0, 1]:.2f}; "
            f"diagonal (ω_j on its own class C_j) mean {a[diagonal].mean():.3f} here vs {b[diagonal].mean():.3f} in the "
            f"paper, off-diagonal {a[~diagonal].mean():.3f} vs {b[~diagonal].mean():.3f}."]


def per_seed_csv(records, table, profile, seeds, from_scratch=False, methods=None) -> str:
    frame = collect(records, table, profile, seeds, from_scratch)
    frame = frame[frame["method"].isin(row_methods(frame, table, methods))]
    rows = []
    for _, row in frame.iterrows():
        column = table.columns[row["column"]]
        r = row["record"]
        rows.append({"table": table.key, "profile": profile.name, "paper_dataset": column.dataset,
                     "dataset": r["dataset"], "setting": column.setting, "level": column.level,
                     "method": row["method"], "seed": row["seed"], "score": row["score"],
                     "score_net2": r.get("score_net2"), "from_scratch": bool(r.get("from_scratch")),
                     "wall_time_s": r.get("wall_time_s"),
                     "data_hash": r.get("data_hash"), "config_hash": r.get("config_hash")})
    return pd.DataFrame(rows).to_csv(index=False)


def to_markdown(df: pd.DataFrame, header: list[str], footer: list[str] = (), marks: dict | None = None) -> str:
    """Header lines in italics, the table (each column's best in bold), then footer lines (regime
    verdicts; a column out of the paper's regime in bold)."""
    shown = df.copy()
    for column, (best, _) in (marks or {}).items():
        if best is not None:
            shown.loc[best, column] = f"**{shown.loc[best, column]}**"
    text = "\n".join(f"_{line}_" if i else f"### {line}" for i, line in enumerate(header)) + "\n\n" + \
        shown.to_markdown(disable_numparse=True) + "\n"  # keep "1.000" as written
    if footer:
        text += "\n" + "\n".join(f"- **{line}**" if line.startswith("NOT IN") else f"- {line}" for line in footer) + "\n"
    return text


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_LATEX_UNICODE = {"±": r"\ensuremath{\pm}", "†": r"\ensuremath{^\dagger}", "—": "--", "→": r"\ensuremath{\to}",
                  "≤": r"\ensuremath{\le}", "≥": r"\ensuremath{\ge}", "≠": r"\ensuremath{\neq}",
                  "≈": r"\ensuremath{\approx}", "−": "-", "…": r"\ldots{}", "·": r"\ensuremath{\cdot}",
                  "“": "``", "”": "''", "‘": "`", "’": "'", "–": "--", "×": r"\ensuremath{\times}",
                  "Δ": r"\ensuremath{\Delta}",
                  **{ch: rf"\ensuremath{{\{name}}}" for ch, name in zip(
                      "αβγδεηθκλμνπρστφχψω", ["alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "kappa",
                                              "lambda", "mu", "nu", "pi", "rho", "sigma", "tau", "phi", "chi", "psi",
                                              "omega"])}}


def latex_escape(text) -> str:
    """Any text as plain-ASCII LaTeX source that compiles with pdflatex: special characters escaped, the
    Unicode symbols this suite writes (±, †, →, ≤, ≥, Greek letters) as math, any other letter by its ASCII
    base (é → e) and anything left as '?' — never a raw non-ASCII character, on which pdflatex stops."""
    out = []
    for ch in str(text):
        mapped = _LATEX_SPECIAL.get(ch) or _LATEX_UNICODE.get(ch)
        if mapped is None:
            mapped = ch if ch.isascii() else \
                unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode() or "?"
        out.append(mapped)
    return "".join(out)


def reader_group(key: str) -> str:
    """A column group's internal key as a reader names it: 'cifar10→digits' → 'CIFAR-10 (digits)'."""
    paper, _, ran = key.partition("→")
    return f"{reader_name(paper)} ({reader_name(ran)})" if ran else reader_name(paper)


def to_latex(df: pd.DataFrame, header: list[str], footer: list[str] = (), marks: dict | None = None) -> str:
    """A booktabs table through pandas' Styler: every name and value escaped, each column's best in
    bold and second underlined, columns grouped by the paper's dataset (a header row spanning its
    settings), the header as comments and the regime verdicts as a footnote."""
    body = df.map(latex_escape)
    body.index = [latex_escape(name) for name in df.index]
    groups = [str(c).split(" ", 1) if " " in str(c) else [str(c), ""] for c in df.columns]
    body.columns = pd.MultiIndex.from_tuples([(latex_escape(reader_group(g)), latex_escape(s)) for g, s in groups])
    styles = pd.DataFrame("", index=body.index, columns=body.columns)
    for column, (best, second) in (marks or {}).items():
        j = list(df.columns).index(column)
        for row, prop in ((best, "textbf:--rwrap;"), (second, "underline:--rwrap;")):
            if row is not None:
                styles.iloc[list(df.index).index(row), j] = prop
    styler = body.style.apply(lambda _: styles, axis=None)
    latex = styler.to_latex(hrules=True, multicol_align="c", column_format="l" + "c" * len(df.columns))
    lines = ["% " + latex_escape(line) for line in header] + [latex.rstrip("\n")]  # ASCII, comments too
    if footer:  # the regime verdicts as a footnote under the table
        lines.append(r"\par\smallskip{\footnotesize " + r" \\ ".join(
            (r"\textbf{" + latex_escape(line) + "}") if line.startswith("NOT IN") else latex_escape(line)
            for line in footer) + "}")
    return "\n".join(lines) + "\n"


def known_methods(records: list[dict]) -> list[str]:
    """Method keys a report can name: the paper's and any found in the records."""
    return list(dict.fromkeys([*PAPER_METHOD_NAMES, *(r["method"] for r in records)]))


def render(records, table: TableSpec, profile: Profile, seeds, fmt: str, compare_paper: bool = False,
           from_scratch: bool = False, methods=None) -> str:
    """The table as text in ``fmt`` (markdown | latex | csv); ``methods`` as in ``row_methods``."""
    if fmt == "csv":
        return per_seed_csv(records, table, profile, seeds, from_scratch, methods)
    if table.kind == "weight_ratios":
        matrix = weight_ratio_matrix(records, table, profile, seeds)
        header = header_lines(table, profile, seeds)[:-1] + ["Ratio over the last epoch, averaged over seeds."]
        if matrix is None:
            df = pd.DataFrame({"status": ["— missing (run this table first)"]}, index=pd.Index(["GDW"], name=""))
        else:
            df = matrix.map(lambda v: f"{v:.3f}")
            df.index.name = "weight/class"
        text = to_latex(df, header) if fmt == "latex" else to_markdown(df, header)
        paper = paper_weight_ratios() if compare_paper else None
        if paper is not None:
            shown = paper.map(lambda v: f"{v:.3f}")
            shown.index.name = "weight/class"
            lines = [f"The paper's Table 6 (CIFAR-10, μ = 0.1, K = {paper.shape[0]})."]
            if matrix is not None:
                lines += weight_ratio_comparison(matrix, paper)
            text += "\n" + (to_latex(shown, lines) if fmt == "latex" else to_markdown(shown, ["Paper"] + lines))
        return text
    df, header, marks = accuracy_frame(records, table, profile, seeds, compare_paper, from_scratch=from_scratch,
                                       methods=methods)
    footer = regime_lines(records, table, profile, seeds, from_scratch)
    if compare_paper:
        footer += ordering_lines(records, table, profile, seeds, from_scratch, methods)
    return to_latex(df, header, footer, marks) if fmt == "latex" else to_markdown(df, header, footer, marks)
