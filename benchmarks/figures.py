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

import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gdw_bench import figstyle  # noqa: E402
from gdw_bench.report import _column_title, collect, weight_ratio_matrix  # noqa: E402
from gdw_bench.specs import PAPER_METHOD_NAMES, Profile, TableSpec  # noqa: E402
from gdw_bench.store import atomic_write_bytes  # noqa: E402


plt.rcParams.update(figstyle.STYLE)  # this module draws only report figures


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
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
    return line


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


def _shared_example(records_by_method: dict) -> tuple[int, dict] | None:
    """One noisy instance recorded by every method at the same epoch (seeds are paired, so the same
    instances come first in both runs): (epoch, {method: example})."""
    for record in records_by_method["gdw"]:
        others = [r for r in records_by_method["mwnet"] if r["seed"] == record["seed"]]
        if not others:
            continue
        for epoch in range(len(record["diagnostics_per_epoch"]) - 1, -1, -1):
            gdw_ex = {e["index"]: e for e in record["diagnostics_per_epoch"][epoch]["examples"]}
            mw_diag = others[0]["diagnostics_per_epoch"]
            if epoch >= len(mw_diag):
                continue
            mw_ex = {e["index"]: e for e in mw_diag[epoch]["examples"]}
            common = sorted(set(gdw_ex) & set(mw_ex))
            if common:
                return epoch, {"mwnet": mw_ex[common[0]], "gdw": gdw_ex[common[0]]}
    return None


def fig4(records, table, profile, seeds, out) -> list[Path]:
    by_method = {m: [r for r in _of_method(records, table, profile, seeds, m) if r.get("diagnostics_per_epoch")]
                 for m in ("mwnet", "gdw")}
    if not all(by_method.values()):
        return []
    shared = _shared_example(by_method)
    if shared is None:
        return []
    epoch, examples = shared
    fig, axes = _figure(figstyle.TWO_COLUMNS, ncols=2, sharey=True)
    for ax, method in zip(axes, ("mwnet", "gdw")):
        ex = examples[method]
        x = np.arange(len(ex["before"]))
        ax.bar(x - 0.2, ex["before"], 0.4, label="before")
        ax.bar(x + 0.2, ex["after"], 0.4, label="after")
        ax.set(title=PAPER_METHOD_NAMES[method], xlabel="class j", xticks=x)
        ax.axvline(ex["label"], color="0.5", linestyle=":", linewidth=0.8)
    axes[0].set_ylabel(r"class-level weight $\omega_j$")
    axes[1].legend(loc="upper right")
    ex = examples["gdw"]
    caption = (f"Fig. 4 — the K class-level weights of one noisy instance (index {ex['index']}, noisy label "
               f"{ex['label']} dotted, true label {ex['true']}) before and after one iteration in epoch {epoch + 1}, "
               f"the same instance under MWNet (left: one weight copied to every class) and GDW (right). "
               f"{_where(table, profile)}")
    return _save(fig, out, "fig4", caption)


def fig5(records, table, profile, seeds, out) -> list[Path]:
    gdw_records = [r for r in _of_method(records, table, profile, seeds, "gdw") if r.get("diagnostics_per_epoch")]
    if not gdw_records:
        return []
    fig, ax = _figure()
    length = min(len(r["diagnostics_per_epoch"]) for r in gdw_records)
    x = np.arange(1, length + 1)
    for name, key in (("nt_clean", "omega_c_nt"), ("tt_noisy", "omega_n_tt"), ("nt_noisy", "omega_n_nt")):
        rows = [[d["increased"][name][0] / max(d["increased"][name][1], 1) for d in r["diagnostics_per_epoch"][:length]]
                for r in gdw_records]
        _band(ax, x, rows, figstyle.SYMBOLS[key])
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


def fig7(records, table, profile, seeds, out) -> list[Path]:
    fig, ax = _figure()
    drawn = 0
    for method, label in (("gdw", "with zero-mean constraint"), ("gdw-nozm", "without")):
        chosen = _of_method(records, table, profile, seeds, method)
        if chosen:
            x, rows = _test_curves(chosen)
            _band(ax, x, rows, label)
            drawn += 1
    if drawn < 2:
        plt.close(fig)
        return []
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title="GDW with and without zero-mean")
    ax.legend()
    caption = f"Fig. 7 — GDW's test accuracy per epoch with and without the zero-mean constraint (Eq. 4). " \
              f"{_where(table, profile)}"
    return _save(fig, out, "fig7", caption)


def learning_curves(records, table, profile, seeds, out) -> list[Path]:
    """Test accuracy per epoch, mean ± std over seeds per method, one panel per column."""
    columns = [i for i, c in enumerate(table.columns) if profile.resolve(c) is not None]
    panels = [(i, {m: _of_method(records, table, profile, seeds, m, i) for m in table.methods}) for i in columns]
    panels = [(i, {m: rs for m, rs in by.items() if rs}) for i, by in panels]
    panels = [(i, by) for i, by in panels if by]
    if not panels:
        return []
    fig, axes = _figure((figstyle.TWO_COLUMNS[0], 2.3), ncols=len(panels), sharey=True, squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, (i, by) in zip(axes[0], panels):
        for j, (method, chosen) in enumerate(by.items()):
            x, rows = _test_curves(chosen)
            _band(ax, x, rows, PAPER_METHOD_NAMES.get(method, method), color=cmap(j % 10))
        ax.set(title=_column_title(table.columns[i], profile).split(" ", 1)[-1], xlabel="epoch")
    axes[0][0].set_ylabel("test accuracy (%)")
    handles, labels = axes[0][-1].get_legend_handles_labels()
    fig.legend(handles, [label.split(" (n=")[0] for label in labels], loc="upper center", ncol=5,
               bbox_to_anchor=(0.5, 1.12), fontsize=6.5)
    seeds_n = max(len(rs) for _, by in panels for rs in by.values())
    caption = (f"Learning curves of Table {table.key}: test accuracy per evaluated epoch, mean ± std over up to "
               f"n={seeds_n} seeds per method. {_where(table, profile, panels[0][0])}")
    return _save(fig, out, f"table{table.key}_curves", caption)


def weight_vs_loss(records, table, profile, seeds, out) -> list[Path]:
    """MWNet's learned loss → weight mapping and GDW's per-sample target weights against the loss, for
    the first noisy column: does the net learn to down-weight high-loss (wrong-label) samples?"""
    noisy = [i for i, c in enumerate(table.columns)
             if profile.resolve(c) is not None and profile.resolve(c)[1].canonical().noise != "none"]
    for i in noisy:
        by = {m: [r for r in _of_method(records, table, profile, seeds, m, i) if r.get("extras", {}).get("weight_samples")]
              for m in ("mwnet", "gdw")}
        if all(by.values()):
            break
    else:
        return []
    fig, axes = _figure(figstyle.TWO_COLUMNS, ncols=2, sharey=False)
    for ax, method in zip(axes, ("mwnet", "gdw")):
        record = by[method][0]
        samples = np.array(record["extras"]["weight_samples"])
        for wrong, label, colour in ((1, "wrong label", "tab:red"), (0, "correct label", "tab:blue")):
            pick = samples[:, 2] == wrong
            ax.scatter(samples[pick, 0], samples[pick, 1], s=3, alpha=0.5, color=colour, label=label)
        mapping = record["extras"]["weight_by_loss"]
        top = max(samples[:, 0].max() * 1.05, 0.5)
        grid = np.array(mapping["loss"])
        keep = grid <= top
        ax.plot(grid[keep], np.array(mapping["weight"])[keep], color="black", label="weighting net")
        ax.set(title=PAPER_METHOD_NAMES[method], xlabel="training loss (CE)", xlim=(0, top))
    axes[0].set_ylabel("weight (GDW: target entry)")
    axes[1].legend(markerscale=3, loc="upper right")
    caption = (f"Weight vs loss — the weighting net's learned mapping at the end of training (black) and the last "
               f"{len(by['mwnet'][0]['extras']['weight_samples'])} training samples' weights, by whether their label "
               f"is wrong; left MWNet, right GDW (its target-class weight after the second stage), seed "
               f"{by['mwnet'][0]['seed']}. {_where(table, profile, i)}")
    return _save(fig, out, "weight_vs_loss", caption)


def table6_heatmap(records, table, profile, seeds, out) -> list[Path]:
    matrix = weight_ratio_matrix(records, table, profile, seeds)
    if matrix is None:
        return []
    fig, ax = _figure((3.6, 3.0))
    image = ax.imshow(matrix.values, vmin=0, vmax=1, cmap="viridis")
    k = matrix.shape[0]
    ax.set(xticks=range(k), xticklabels=[figstyle.cls(j) for j in range(k)], yticks=range(k),
           yticklabels=[figstyle.omega(i) for i in range(k)], title="Ratio of increased weights")
    fig.colorbar(image, ax=ax, fraction=0.046)
    caption = f"Table 6 as a heat map — ratio of increased ω_i (rows) on instances labelled C_j (columns) in the " \
              f"last epoch, mean over seeds. {_where(table, profile)}"
    return _save(fig, out, "table6", caption)


def table_figures(records, table, profile, seeds, out) -> list[Path]:
    """Every accuracy table gets its learning curves; Table 2 also the weight-vs-loss figure."""
    paths = learning_curves(records, table, profile, seeds, out)
    if table.key == "2":
        paths += weight_vs_loss(records, table, profile, seeds, out)
    return paths


FIGURES = {"fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6, "fig7": fig7, "6": table6_heatmap,
           **{key: table_figures for key in ("2", "3", "4", "8")}}
