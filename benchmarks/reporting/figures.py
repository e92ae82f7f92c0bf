"""Figures 3–7, learning curves, weight vs loss and a Table-6 heat map, from what the runs recorded
(matplotlib, PNG and PDF, plus a caption file each).

Reads records only: the list ``report.load_records`` read once, through ``report.collect``;
definitions in ``methods/_diagnostics.py``. One style (``figstyle``): paper column sizes, mathtext
symbols, short titles; the stand-in note and the number of seeds n go to ``<name>.txt``, the caption.
Curves over seeds are the mean with a band of ± one standard deviation.
Each function returns the written paths, or an empty list when the records it needs are missing.
"""
from __future__ import annotations

import io
import logging
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gdw_bench.files import atomic_write_bytes  # noqa: E402
from gdw_bench.plan.specs import PAPER_METHOD_NAMES, Profile, TableSpec, extra_levels, reader_name  # noqa: E402
from gdw_bench.reporting import figstyle  # noqa: E402
from gdw_bench.reporting.report import (
    _column_title,
    collect,
    display_name,
    paper_weight_ratios,
    sweep_rows,
    swept_in,
    weight_ratio_matrix,  # noqa: E402
)

plt.rcParams.update(figstyle.STYLE)  # this module draws only report figures
# Embedding a TrueType font in a PDF (pdf.fonttype 42) makes fontTools log one warning per font and
# figure when the font file's 'head' timestamps predate 1970 (as Debian's DejaVu's do): harmless,
# it reads them as Unix time. Only that logger, and only below errors, is quieted.
logging.getLogger("fontTools.ttLib.tables._h_e_a_d").setLevel(logging.ERROR)


def _figure(size=figstyle.ONE_COLUMN, **kwargs):
    return plt.subplots(figsize=size, **kwargs)


def _save(fig, out: Path, name: str, caption: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for path in paths:  # rendered in memory, then written whole under a temporary name and renamed
        buffer = io.BytesIO()
        fig.savefig(buffer, format=path.suffix[1:])
        atomic_write_bytes(path, buffer.getvalue())
    plt.close(fig)
    atomic_write_bytes(out / f"{name}.txt", (caption.strip() + "\n").encode())
    return paths + [out / f"{name}.txt"]


def _of_method(records, table, profile, seeds, method, column: int | None = None):
    frame = collect(records, table, profile, seeds)
    if column is not None:
        frame = frame[frame["column"] == column]
    return [r for m, r in zip(frame["method"], frame["record"]) if m == method]


def _where(table: TableSpec, profile: Profile, column: int = 0) -> str:
    """The caption's provenance: what ran for the column here."""
    stand = profile.stand_in(table.columns[column].dataset)
    note = f" ({stand.note})" if stand and stand.note else ""
    return f"Profile '{profile.name}', {_column_title(table.columns[column], profile)}{note}."


def _band(ax, x, rows, label, **style):
    """Mean line with a ± 1 std band over seeds; n in the label."""
    rows = np.asarray(rows, dtype=float)
    with warnings.catch_warnings():  # epochs nobody evaluated (Fine-tuning's sparse evaluations) stay gaps
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(rows, axis=0)
        std = np.nanstd(rows, axis=0, ddof=1) if len(rows) > 1 else None
    keep = ~np.isnan(mean)
    x, mean = np.asarray(x)[keep], mean[keep]
    line, = ax.plot(x, mean, label=f"{label} (n={len(rows)})", **style)
    if std is not None:
        std = std[keep]
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15, linewidth=0,
                        zorder=line.get_zorder() - 0.5)
    return line


def looks(records) -> dict[str, dict]:
    """{method: {"color", "marker"}}: what each method declared (stored in its records), else a stable
    choice from its key (``figstyle.method_look``): one look per method in every figure."""
    declared = {}
    for record in records:
        declared.setdefault(record["method"], record.get("method_look"))
    return {m: figstyle.method_look(m, d) for m, d in declared.items()}


def _look(records, method: str) -> dict:
    return looks(records).get(method) or figstyle.method_look(method)


def fig3(records, table, profile, seeds, out) -> list[Path]:
    gdw_records = [r for r in _of_method(records, table, profile, seeds, "gdw") if r.get("diagnostics_per_epoch")]
    if not gdw_records:
        return []
    last = [r["diagnostics_per_epoch"][-1]["omega_t_hist"] for r in gdw_records]
    edges = np.array(last[0]["edges"])
    clean = np.sum([h["clean"] for h in last], axis=0)
    noisy = np.sum([h["noisy"] for h in last], axis=0)
    used = np.flatnonzero(clean + noisy)
    top = edges[min(used.max() + 2, len(edges) - 1)] if len(used) else edges[-1]  # the axis ends where the data do
    fig, ax = _figure()
    width = edges[1] - edges[0]
    ax.bar(edges, clean / max(clean.sum(), 1), width, align="edge", alpha=0.65, label="clean")
    ax.bar(edges, noisy / max(noisy.sum(), 1), width, align="edge", alpha=0.65, label="noisy")
    ax.set(xlabel=f"target weight {figstyle.SYMBOLS['omega_t']}", ylabel="fraction of instances",
           xlim=(0, max(top, 1.0)), title="Target weight, clean vs noisy")
    ax.legend()
    caption = (f"Fig. 3 — histogram of GDW's target weight ω_t in the last epoch, clean vs noisy instances, "
               f"pooled over n={len(gdw_records)} seeds ({int(clean.sum())} clean, {int(noisy.sum())} noisy "
               f"instance-iterations). {_where(table, profile)}")
    return _save(fig, out, "fig3", caption)


def _shared_examples(records_by_method: dict) -> list[tuple[int, int, dict]]:
    """Per seed, one noisy instance recorded by both methods at the same epoch (seeds are paired, so
    the same instances come first in both runs): [(seed, epoch, {method: example})], seeds in order."""
    found = []
    for record in sorted(records_by_method["gdw"], key=lambda r: r["seed"]):
        others = [r for r in records_by_method["mwnet"] if r["seed"] == record["seed"]]
        if not others:
            continue
        mw_diag = others[0]["diagnostics_per_epoch"]
        for epoch in range(min(len(record["diagnostics_per_epoch"]), len(mw_diag)) - 1, -1, -1):
            gdw_ex = {e["index"]: e for e in record["diagnostics_per_epoch"][epoch]["examples"]}
            mw_ex = {e["index"]: e for e in mw_diag[epoch]["examples"]}
            common = sorted(set(gdw_ex) & set(mw_ex))
            if common:
                found.append((record["seed"], epoch, {"mwnet": mw_ex[common[0]], "gdw": gdw_ex[common[0]]}))
                break
    return found


def _class_weight_bars(ax, ex: dict) -> None:
    """Before/after bars of one instance's K weights; the noisy label and true class shaded and named;
    a dot on every bar so an exact zero shows; the panel's own y-scale."""
    x = np.arange(len(ex["before"]))
    for offset, key, colour in ((-0.2, "before", "#9ecae1"), (0.2, "after", "#08519c")):
        values = np.asarray(ex[key], dtype=float)
        ax.bar(x + offset, values, 0.4, color=colour, label=key)
        ax.plot(x + offset, values, linestyle="none", marker="o", markersize=2.2, color=colour,
                markeredgecolor="black", markeredgewidth=0.3, clip_on=False, zorder=3)
    ax.axvspan(ex["label"] - 0.5, ex["label"] + 0.5, color="tab:red", alpha=0.12, linewidth=0, label="noisy label")
    ax.axvspan(ex["true"] - 0.5, ex["true"] + 0.5, color="tab:green", alpha=0.15, linewidth=0, label="true class")
    top = max(max(ex["before"]), max(ex["after"]))
    ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3), useMathText=True)
    names = [str(j) + ("\nnoisy" if j == ex["label"] else "") + ("\ntrue" if j == ex["true"] else "") for j in x]
    ax.set(xticks=x, xlim=(-0.6, len(x) - 0.4))
    ax.set_xticklabels(names, fontsize=5.5)


def fig4(records, table, profile, seeds, out) -> list[Path]:
    """Per seed (one row each), one noisy instance's K class-level weights before and after an
    iteration: MWNet left, GDW right. Legend above the panels, outside the data."""
    by_method = {m: [r for r in _of_method(records, table, profile, seeds, m) if r.get("diagnostics_per_epoch")]
                 for m in ("mwnet", "gdw")}
    if not all(by_method.values()):
        return []
    shown = _shared_examples(by_method)
    if not shown:
        return []
    fig, axes = _figure((figstyle.TWO_COLUMNS[0], 1.55 * len(shown) + 0.4), ncols=2, nrows=len(shown),
                        sharey=False, squeeze=False)
    for row, (seed, epoch, examples) in zip(axes, shown):
        for ax, method in zip(row, ("mwnet", "gdw")):
            _class_weight_bars(ax, examples[method])
            ax.set_title(f"{PAPER_METHOD_NAMES[method]} — seed {seed}, instance {examples[method]['index']}, "
                         f"epoch {epoch + 1}", fontsize=7)
        row[0].set_ylabel(r"$\omega_j$")
    for ax in axes[-1]:
        ax.set_xlabel("class j")
    fig.tight_layout(h_pad=0.6)
    handles, labels = axes[0][1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, bbox_to_anchor=(0.5, 1.0))
    caption = (f"Fig. 4 — for each of n={len(shown)} seeds, the K class-level weights of one noisy instance (its "
               f"noisy label shaded red, its true class green) before and after one iteration, the same instance "
               f"under MWNet (left: one weight copied to every class) and GDW (right: one weight per class). Each "
               f"panel has its own scale; a dot tops every bar, so a zero weight shows. {_where(table, profile)}")
    return _save(fig, out, "fig4", caption)


def fig5(records, table, profile, seeds, out) -> list[Path]:
    gdw_records = [r for r in _of_method(records, table, profile, seeds, "gdw") if r.get("diagnostics_per_epoch")]
    if not gdw_records:
        return []
    fig, ax = _figure()
    length = min(len(r["diagnostics_per_epoch"]) for r in gdw_records)
    x = np.arange(1, length + 1)
    # distinct dashes and markers, thinnest on top: two categories with equal ratios stay both visible
    for (name, key), (dash, marker, width) in zip(
            (("nt_clean", "omega_c_nt"), ("tt_noisy", "omega_n_tt"), ("nt_noisy", "omega_n_nt")),
            (("-", "o", 2.4), ("--", "s", 1.6), (":", "^", 1.0))):
        rows = [[d["increased"][name][0] / max(d["increased"][name][1], 1) for d in r["diagnostics_per_epoch"][:length]]
                for r in gdw_records]
        _band(ax, x, rows, figstyle.SYMBOLS[key], linestyle=dash, marker=marker, linewidth=width,
              markevery=max(length // 10, 1), markersize=3.5, markerfacecolor="none")
    ax.set(xlabel="epoch", ylabel="ratio of increased weights", ylim=(0, 1), title="Increased class-level weights")
    ax.legend()
    caption = (f"Fig. 5 — per epoch, the share of GDW's class-level weights that its second stage increased: "
               f"ω^c_nt (non-target, clean instances), ω^n_tt (true class of noisy instances), ω^n_nt (other "
               f"classes of noisy instances); mean ± std over n={len(gdw_records)} seeds. {_where(table, profile)}")
    return _save(fig, out, "fig5", caption)


def fig6(records, table, profile, seeds, out) -> list[Path]:
    gdw_records = [r for r in _of_method(records, table, profile, seeds, "gdw")
                   if r.get("diagnostics_per_epoch") and "increased_by_class" in r["diagnostics_per_epoch"][0]]
    if not gdw_records:
        return []
    k = len(gdw_records[0]["diagnostics_per_epoch"][0]["total_by_class"])
    length = min(len(r["diagnostics_per_epoch"]) for r in gdw_records)
    rows = [[d["increased_by_class"][k - 1][k - 2] / max(d["total_by_class"][k - 1], 1)
             for d in r["diagnostics_per_epoch"][:length]] for r in gdw_records]  # ω_{K−2} on C_{K−1}
    fig, ax = _figure()
    _band(ax, np.arange(1, length + 1), rows, f"{figstyle.omega(k - 2)} on {figstyle.cls(k - 1)}", marker="o")
    ax.set(xlabel="epoch", ylabel="ratio of increased weights", ylim=(0, 1),
           title=f"Increased {figstyle.omega(k - 2)} on {figstyle.cls(k - 1)} instances")
    ax.legend()
    caption = (f"Fig. 6 — per epoch, the share of GDW's ω_{k - 2} that its second stage increased on instances "
               f"labelled C_{k - 1} (the rarest class); mean ± std over n={len(gdw_records)} seeds. "
               f"{_where(table, profile)}")
    return _save(fig, out, "fig6", caption)


def _test_curves(records) -> tuple[np.ndarray, list[list[float]]]:
    length = min(len(r["curve"]) for r in records)
    rows = [[e.get("test_acc", np.nan) for e in r["curve"][:length]] for r in records]
    return np.arange(1, length + 1), rows


def _budget(record) -> int:
    """The protocol's epoch budget (the main training; GLC's two phases share it)."""
    return int((record.get("protocol") or {}).get("epochs") or len(record["curve"]))


def _main_phase(records) -> tuple[np.ndarray, list[list[float]]]:
    """Test accuracy per epoch within the protocol's epoch budget, x = epoch 1..E."""
    rows = [[e.get("test_acc", np.nan) for e in r["curve"] if e.get("global_epoch", 0) < _budget(r)] for r in records]
    length = min(len(row) for row in rows)
    return np.arange(1, length + 1), [row[:length] for row in rows]


def _has_extra_phase(records) -> bool:
    """Whether the method trains past the epoch budget (Fine-tuning's 100 epochs on the meta set)."""
    return any(r["curve"] and r["curve"][-1].get("global_epoch", 0) >= _budget(r) for r in records)


def _panel_ylim(ax, values: list[float]) -> None:
    """Y-limits from what the panel shows after its first tenth of training (early epochs can sit at
    chance and would squash every later difference): per panel, never shared."""
    values = np.asarray([v for v in values if np.isfinite(v)])
    if values.size:
        low, high = values.min(), values.max()
        pad = max(0.08 * (high - low), 0.5)
        ax.set_ylim(max(low - pad, 0.0), min(high + pad, 100.0))


def _panel_title(table: TableSpec, column, profile: Profile) -> str:
    """A short panel title: the setting ('40 % uniform', 'μ = 0.1'), with the paper dataset's reader
    name when the table spans more than one dataset here."""
    title = _column_title(column, profile).split(" ", 1)[-1]
    datasets = {c.dataset for c in table.columns if profile.resolve(c) is not None}
    if len(datasets) > 1:
        title = f"{reader_name(column.dataset)}: {title}"
    return figstyle.mathtext(title.replace(" + ", ", "))


def learning_curves(records, table, profile, seeds, out) -> list[Path]:
    """Test accuracy per epoch of the main phase, mean ± std over seeds per method, one panel per column.

    BaseModel is drawn last, on top. A method with a further phase (Fine-tuning: its main phase is
    BaseModel's run, then 100 epochs on the meta set) draws its main phase dotted and its final score
    after the extra phase as a marker with ± std to the right of the last epoch, so the x-axis spans the
    main phase only."""
    columns = [i for i, c in enumerate(table.columns) if profile.resolve(c) is not None]
    rows = _row_keys(table, records)
    panels = [(i, {m: _of_method(records, table, profile, seeds, m, i) for m in rows}) for i in columns]
    panels = [(i, {m: rs for m, rs in by.items() if rs}) for i, by in panels]
    panels = [(i, by) for i, by in panels if by]
    if not panels:
        return []
    style = looks(records)
    ncols = 2 if len(panels) == 4 else min(len(panels), 3)  # Table 8's four columns as 2 × 2
    nrows = -(-len(panels) // ncols)
    fig, axes = _figure((figstyle.TWO_COLUMNS[0], 2.2 * nrows + 0.3), ncols=ncols, nrows=nrows, squeeze=False)
    handles, extra_drawn, ends_early = {}, False, {}
    for ax, (i, by) in zip(axes.flat, panels):
        shown, end, finals_of, lengths = [], 0, {}, {}
        for method, chosen in sorted(by.items(), key=lambda kv: kv[0] == "basemodel"):  # BaseModel last: on top
            look = style.get(method) or figstyle.method_look(method)
            name = method_name_of(method, chosen, table)
            x, per_seed = _main_phase(chosen)
            end = max(end, len(x))
            lengths[name] = (len(x), chosen[0])
            extra = _has_extra_phase(chosen)
            swept = [k for k in by if "[" in k and k.split("[")[0] == method.split("[")[0]]
            dash = SWEEP_DASHES[swept.index(method) % len(SWEEP_DASHES)] if method in swept else "-"
            line = _band(ax, x, per_seed, name, color=look["color"], linestyle=":" if extra else dash,
                         linewidth=1.0 if extra else (1.6 if method == "basemodel" else 1.1),
                         zorder=4 if method == "basemodel" else 2)
            handles.setdefault(method, (line, name))
            tail = max(len(x) // 10, 1)
            mean = np.nanmean(np.asarray(per_seed, float), axis=0)
            shown += list(mean[tail:]) + [float(np.nanmax(mean))]  # the early peak (memorisation) stays in view
            if extra:
                finals_of[method] = (look, name, [r["score"] for r in chosen])
        for k, (method, (look, name, finals)) in enumerate(finals_of.items()):  # scores after the extra phase
            spread = float(np.std(finals, ddof=1)) if len(finals) > 1 else 0.0
            marker = ax.errorbar([end * (1.05 + 0.03 * k)], [np.mean(finals)], yerr=[spread], color=look["color"],
                                 marker=look["marker"], markersize=5, capsize=2, linestyle="none", zorder=5)
            handles[method] = (marker, f"{name}, after its extra phase")
            shown.append(float(np.mean(finals)))
        if finals_of:
            ax.axvline(end + 0.5, color="0.8", linewidth=0.6, zorder=0)
        ax.set_xlim(0, end * (1.1 if finals_of else 1.02))  # room for the extra phase's markers only if drawn
        extra_drawn = extra_drawn or bool(finals_of)
        ends_early.update({name: (n, record, end) for name, (n, record) in lengths.items() if n < end})
        _panel_ylim(ax, shown)
        ax.set(title=_panel_title(table, table.columns[i], profile), xlabel="epoch")
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("test accuracy (%)")
    fig.tight_layout(h_pad=1.2)
    order = sorted(handles, key=lambda m: (m != "basemodel", rows.index(m) if m in rows else 99))
    lines, labels = zip(*(handles[m] for m in order))
    fig.legend(lines, labels, loc="lower center", ncol=min(len(labels), 5), bbox_to_anchor=(0.5, 1.0), fontsize=6.5)
    seeds_n = max(len(rs) for _, by in panels for rs in by.values())
    caption = (f"Learning curves of Table {table.key}: test accuracy per epoch of the main phase, mean ± std over up "
               f"to n={seeds_n} seeds per method, each panel on its own y-scale. BaseModel (black) is drawn on top. "
               + ("Fine-tuning's main phase is BaseModel's own run (dotted); its score after the 100-epoch fine-tuning "
                  "phase on the meta set is the marker right of the grey line. " if extra_drawn else "")
               + ("Each swept value is a line of its own in its method's colour, dashed its own way. "
                  if any("[" in m for m in handles) else "")
               + "".join(_ends_early(name, *facts) for name, facts in ends_early.items())
               + _where(table, profile, panels[0][0]))
    return _save(fig, out, f"table{table.key}_curves", caption)


def _ends_early(name: str, epochs: int, record: dict, end: int) -> str:
    """Why a method's line stops before the others' (Co-teaching trains its two networks for half the budget
    each, the same compute as one network for all of it)."""
    share = (record.get("hyperparameters") or {}).get("budget_share")
    networks = len((record.get("seeds") or {}).get("networks") or [0])
    if isinstance(share, (int, float)):
        why = f"{'each of its ' + str(networks) + ' networks' if networks > 1 else 'it'} trains for {share:g} of the budget"
    else:
        why = "its own phases are shorter"
    return f"{name}'s line ends at epoch {epochs} of {end}: {why}. "


def _row_keys(table: TableSpec, records) -> list[str]:
    """The methods a table's figures draw: its rows, the methods trained only for its regime verdict
    (Table 8's BaseModel) so every figure shows the plain network, and a sweep's rows (``gdw[outer_lr=10]``)."""
    keys = list(table.methods) + [m for m in table.regime_methods if m not in table.methods]
    return keys + sweep_rows((r["method"] for r in records), table)


def method_name_of(method: str, chosen: list[dict], table: TableSpec) -> str:
    """A sweep's base row carries its label (``GDW (outer_lr=default)``) in the tables the sweep ran; else
    the method's name."""
    label = chosen[0].get("row_label") if swept_in(chosen[0], table) else None
    return label or display_name(method, chosen[0].get("method_title"))


SWEEP_DASHES = ["--", "-.", (0, (1, 1)), (0, (5, 1, 1, 1, 1, 1)), (0, (3, 2))]  # a swept value's line: its method's colour


def fig7(records, table, profile, seeds, out) -> list[Path]:
    fig, ax = _figure()
    drawn = 0
    style = looks(records)
    for method, label in (("gdw", "with zero-mean constraint"), ("gdw-nozm", "without")):
        chosen = _of_method(records, table, profile, seeds, method)
        if chosen:
            x, rows = _test_curves(chosen)
            _band(ax, x, rows, label, color=(style.get(method) or figstyle.method_look(method))["color"])
            drawn += 1
    if drawn < 2:
        plt.close(fig)
        return []
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title="GDW with and without zero-mean")
    ax.legend()
    caption = f"Fig. 7 — GDW's test accuracy per epoch with and without the zero-mean constraint (Eq. 4). " \
              f"{_where(table, profile)}"
    return _save(fig, out, "fig7", caption)


def weight_vs_loss(records, table, profile, seeds, out) -> list[Path]:
    """MWNet's learned loss → weight mapping and GDW's per-sample target weights against the loss, for
    the first noisy column, over every seed: does the net learn to down-weight high-loss (wrong-label)
    samples? Correct-label points are drawn over the wrong-label ones (the many low-loss correct samples
    would otherwise vanish), and each seed's learned mapping is one thin line."""
    extra = set(extra_levels(table))
    noisy = sorted((i for i, c in enumerate(table.columns)
                    if profile.resolve(c) is not None and profile.resolve(c)[1].canonical().noise != "none"),
                   key=lambda i: table.columns[i].level in extra)  # the paper's columns first
    for i in noisy:
        by = {m: sorted((r for r in _of_method(records, table, profile, seeds, m, i)
                         if r.get("extras", {}).get("weight_samples")), key=lambda r: r["seed"])
              for m in ("mwnet", "gdw")}
        if all(by.values()):
            break
    else:
        return []
    fig, axes = _figure((figstyle.TWO_COLUMNS[0], 2.6), ncols=2, sharey=False)
    for ax, method in zip(axes, ("mwnet", "gdw")):
        samples = np.concatenate([np.array(r["extras"]["weight_samples"], dtype=float) for r in by[method]])
        top = max(np.percentile(samples[:, 0], 99.5) * 1.5, 0.5)
        for wrong, label, colour, order in ((1, "wrong label", "tab:red", 1), (0, "correct label", "tab:blue", 2)):
            pick = samples[:, 2] == wrong
            ax.scatter(samples[pick, 0], samples[pick, 1], s=2.5, alpha=0.35, color=colour, linewidths=0,
                       label=f"{label} ({int(pick.sum())})", zorder=order, rasterized=True)
        for k, record in enumerate(by[method]):
            mapping = record["extras"]["weight_by_loss"]
            grid = np.array(mapping["loss"])
            keep = grid <= top
            ax.plot(grid[keep], np.array(mapping["weight"])[keep], color="black", linewidth=0.7, alpha=0.7,
                    zorder=0.5, label="weighting net, per seed" if k == 0 else None)
        ax.set_xscale("symlog", linthresh=0.1, linscale=0.6)  # linear below 0.1, log above: low losses spread out
        ax.set(title=PAPER_METHOD_NAMES[method], xlabel="training loss (CE; linear below 0.1, log above)", xlim=(0, top))
        ax.legend(markerscale=3, loc="upper right", fontsize=6)
    axes[0].set_ylabel("weight")
    axes[1].set_ylabel(r"target-class weight $\omega_t$")
    n_seeds = len(by["mwnet"])
    caption = (f"Weight vs loss — each seed's learned loss → weight mapping at the end of training (black, one line "
               f"per seed) and the last {len(by['mwnet'][0]['extras']['weight_samples'])} training samples' weights "
               f"of each of n={n_seeds} seeds ({', '.join(str(r['seed']) for r in by['mwnet'])}), by whether their "
               f"label is wrong (red) or correct (blue, drawn on top); left MWNet, right GDW (its target-class "
               f"weight after the second stage). {_where(table, profile, i)}")
    return _save(fig, out, "weight_vs_loss", caption)


def table6_heatmap(records, table, profile, seeds, out) -> list[Path]:
    """Table 6 as a heat map, ours beside the paper's (when the paper's has the same K)."""
    matrix = weight_ratio_matrix(records, table, profile, seeds)
    if matrix is None:
        return []
    paper = paper_weight_ratios()
    panels = [("here", matrix)] + ([("the paper", paper)] if paper is not None and paper.shape == matrix.shape else [])
    fig, axes = _figure((3.4 * len(panels) + 0.4, 3.0), ncols=len(panels), squeeze=False)
    k = matrix.shape[0]
    for ax, (name, values) in zip(axes[0], panels):
        image = ax.imshow(values.values, vmin=0, vmax=1, cmap="viridis")
        ax.set(xticks=range(k), xticklabels=[figstyle.cls(j) for j in range(k)], yticks=range(k),
               yticklabels=[figstyle.omega(i) for i in range(k)], title=f"Ratio of increased weights, {name}")
    fig.colorbar(image, ax=list(axes[0]), fraction=0.046 / len(panels))
    shown = " (left) beside the paper's Table 6 (right; CIFAR-10, μ = 0.1)" if len(panels) > 1 else ""
    caption = (f"Table 6 as a heat map — ratio of increased ω_i (rows) on instances labelled C_j (columns) in the "
               f"last epoch, mean over seeds{shown}. {_where(table, profile)}")
    return _save(fig, out, "table6", caption)


def table_figures(records, table, profile, seeds, out) -> list[Path]:
    """Every accuracy table gets its learning curves; Table 2 also the weight-vs-loss figure."""
    paths = learning_curves(records, table, profile, seeds, out)
    if table.key == "2":
        paths += weight_vs_loss(records, table, profile, seeds, out)
    return paths


FIGURES = {"fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6, "fig7": fig7, "6": table6_heatmap,
           **{key: table_figures for key in ("2", "3", "4", "8")}}


def cd_diagram(records, blocks, out) -> list[Path]:
    """Demšar's critical-difference diagram, one panel per complete block (``summary.complete_blocks``):
    average ranks from 1 (best, on the left) to k, each method's name on a leader line, the CD
    as a bar above the axis, and thick bars joining methods whose ranks differ by less than CD."""
    if not blocks:
        return []
    style = looks(records)
    titles = {r["method"]: r.get("method_title") or r["method"] for r in records}
    heights = [0.9 + 0.19 * ((len(b.methods) + 1) // 2) for b in blocks]
    fig, axes = _figure((figstyle.TWO_COLUMNS[0], sum(heights) + 0.25 * len(blocks)), nrows=len(blocks),
                        squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, block in zip(axes[:, 0], blocks):
        k = len(block.methods)
        order = sorted(block.methods, key=lambda m: block.average_ranks[m])
        half = (k + 1) // 2
        ax.set_xlim(0.3, k + 0.7)  # rank 1 (best) on the left
        cd = block.critical_difference
        cliques = []
        for a, first in enumerate(order):  # maximal runs of methods closer than CD to the run's first
            last = max(b for b in range(a, k) if block.average_ranks[order[b]] - block.average_ranks[first] < cd)
            if last > a and not any(lo <= a and last <= hi for lo, hi in cliques):
                cliques.append((a, last))
        base = 0.35 * (len(cliques) + 1)  # leader lines start below the clique bars
        ax.set_ylim(-(base + half) - 0.3, 1.6)
        ax.axhline(0, color="black", linewidth=0.8)
        for r in range(1, k + 1):
            ax.plot([r, r], [0, 0.15], color="black", linewidth=0.8)
            ax.text(r, 0.25, str(r), ha="center", va="bottom", fontsize=6.5)
        for j, method in enumerate(order):
            rank = block.average_ranks[method]
            left = j < half
            level = -(base + j) if left else -(base + k - 1 - j)
            edge = 0.4 if left else k + 0.6
            look = style.get(method) or figstyle.method_look(method)
            ax.plot([rank, rank, edge], [0, level, level], color=look["color"], linewidth=0.9)
            ax.plot([rank], [0], marker=look["marker"], color=look["color"], markersize=4, zorder=4)
            ax.text(edge + (-0.08 if left else 0.08), level,
                    f"{display_name(method, titles.get(method))} ({rank:.2f})",
                    ha="right" if left else "left", va="center", fontsize=6.5)
        ax.plot([1.0, 1.0 + cd], [1.1, 1.1], color="black", linewidth=1.2)
        ax.text(1.0 + cd / 2, 1.2, f"CD = {cd:.2f}", ha="center", va="bottom", fontsize=6.5)
        for depth, (lo, hi) in enumerate(cliques, start=1):
            ax.plot([block.average_ranks[order[lo]] - 0.05, block.average_ranks[order[hi]] + 0.05],
                    [-0.35 * depth] * 2, color="0.25", linewidth=2.2, solid_capstyle="round", zorder=3)
        ax.axis("off")
        ax.set_title(f"{k} methods × {len(block.columns)} columns (Friedman p = {block.friedman_p:.2g})",
                     fontsize=7.5)
    caption = ("Critical-difference diagram (Demšar, 2006): each method's average rank over the columns of its "
               "block (1 = best, on the left), the Nemenyi critical difference at 5 % (CD, top left), and thick "
               "bars joining methods whose average ranks differ by less than CD (not significantly different). "
               "Blocks: " + "; ".join(f"{len(b.methods)} methods over {', '.join(c.label for c in b.columns)}"
                                      for b in blocks) + ".")
    return _save(fig, out, "cd_diagram", caption)
