"""Figures 3–7 and a Table-6 heat map, from what the runs recorded (matplotlib, PNG and PDF).

Reads records only: the list ``report.load_records`` read once, through ``report.collect``;
definitions in ``methods/_diagnostics.py``.
Each function returns the written paths, or an empty list when the records it needs are missing.
"""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from gdw_bench.report import collect, weight_ratio_matrix  # noqa: E402
from gdw_bench.specs import Profile, TableSpec  # noqa: E402


def _save(fig, out: Path, name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for path in paths:
        fig.savefig(path, bbox_inches="tight", dpi=150)
    plt.close(fig)
    return paths


def _of_method(records, table, profile, seeds, method):
    frame = collect(records, table, profile, seeds)
    return [r for m, r in zip(frame["method"], frame["record"]) if m == method]


def _subtitle(table: TableSpec, profile: Profile) -> str:
    stand = profile.stand_in(table.columns[0].dataset)
    return f"profile {profile.name}" + (f" ({stand.note or stand.dataset})" if stand and stand.note else "")


def fig3(records, table, profile, seeds, out) -> list[Path]:
    gdw_records = [r for r in _of_method(records, table, profile, seeds, "gdw") if r.get("diagnostics_per_epoch")]
    if not gdw_records:
        return []
    last = [r["diagnostics_per_epoch"][-1]["omega_t_hist"] for r in gdw_records]
    edges = np.array(last[0]["edges"])
    clean = np.sum([h["clean"] for h in last], axis=0)
    noisy = np.sum([h["noisy"] for h in last], axis=0)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    width = edges[1] - edges[0]
    ax.bar(edges, clean / max(clean.sum(), 1), width, align="edge", alpha=0.6, label="clean")
    ax.bar(edges, noisy / max(noisy.sum(), 1), width, align="edge", alpha=0.6, label="noisy")
    ax.set(xlabel="target weight ω_t", ylabel="fraction of instances", title=f"Fig. 3 — last epoch, {_subtitle(table, profile)}")
    ax.legend()
    return _save(fig, out, "fig3")


def fig4(records, table, profile, seeds, out) -> list[Path]:
    panels = []
    for method in ("mwnet", "gdw"):
        for record in _of_method(records, table, profile, seeds, method):
            examples = [e for d in record.get("diagnostics_per_epoch", []) for e in d["examples"]]
            if examples:
                panels.append((method, examples[-1]))
                break
    if len(panels) < 2:
        return []
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
    for ax, (method, ex) in zip(axes, panels):
        k = len(ex["before"])
        x = np.arange(k)
        ax.bar(x - 0.2, ex["before"], 0.4, label="before")
        ax.bar(x + 0.2, ex["after"], 0.4, label="after")
        ax.set(title=f"{method.upper()}: label {ex['label']}, true {ex['true']}", xlabel="class j", xticks=x)
    axes[0].set_ylabel("class-level weight ω_j")
    axes[0].legend()
    fig.suptitle(f"Fig. 4 — one noisy instance, one iteration ({_subtitle(table, profile)})")
    return _save(fig, out, "fig4")


def fig5(records, table, profile, seeds, out) -> list[Path]:
    gdw_records = [r for r in _of_method(records, table, profile, seeds, "gdw") if r.get("diagnostics_per_epoch")]
    if not gdw_records:
        return []
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for name, label in (("nt_clean", "ω^c_nt"), ("tt_noisy", "ω^n_tt"), ("nt_noisy", "ω^n_nt")):
        ratios = np.mean([[d["increased"][name][0] / max(d["increased"][name][1], 1) for d in r["diagnostics_per_epoch"]]
                          for r in gdw_records], axis=0)
        ax.plot(np.arange(1, len(ratios) + 1), ratios, marker="o", label=label)
    ax.set(xlabel="epoch", ylabel="ratio of increased weights", ylim=(0, 1), title=f"Fig. 5 — {_subtitle(table, profile)}")
    ax.legend()
    return _save(fig, out, "fig5")


def fig6(records, table, profile, seeds, out) -> list[Path]:
    gdw_records = [r for r in _of_method(records, table, profile, seeds, "gdw")
               if r.get("diagnostics_per_epoch") and "increased_by_class" in r["diagnostics_per_epoch"][0]]
    if not gdw_records:
        return []
    k = len(gdw_records[0]["diagnostics_per_epoch"][0]["total_by_class"])
    rows = []
    for r in gdw_records:  # ω_{K−2} on instances labelled C_{K−1}: ω_8 on C9 for 10 classes
        rows.append([d["increased_by_class"][k - 1][k - 2] / max(d["total_by_class"][k - 1], 1)
                     for d in r["diagnostics_per_epoch"]])
    ratios = np.mean(rows, axis=0)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(np.arange(1, len(ratios) + 1), ratios, marker="o")
    ax.set(xlabel="epoch", ylabel=f"ratio of increased ω_{k - 2} on C{k - 1}", ylim=(0, 1),
           title=f"Fig. 6 — {_subtitle(table, profile)}")
    return _save(fig, out, "fig6")


def fig7(records, table, profile, seeds, out) -> list[Path]:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    drawn = 0
    for method, label in (("gdw", "with zero-mean constraint"), ("gdw-nozm", "without")):
        curves = [[e.get("test_acc", np.nan) for e in r["curve"]] for r in _of_method(records, table, profile, seeds, method)]
        if curves:
            length = min(map(len, curves))
            ax.plot(np.arange(1, length + 1), np.nanmean([c[:length] for c in curves], axis=0), label=label)
            drawn += 1
    if drawn < 2:
        plt.close(fig)
        return []
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title=f"Fig. 7 — {_subtitle(table, profile)}")
    ax.legend()
    return _save(fig, out, "fig7")


def table6_heatmap(records, table, profile, seeds, out) -> list[Path]:
    matrix = weight_ratio_matrix(records, table, profile, seeds)
    if matrix is None:
        return []
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    image = ax.imshow(matrix.values, vmin=0, vmax=1, cmap="viridis")
    ax.set(xticks=range(matrix.shape[1]), xticklabels=matrix.columns, yticks=range(matrix.shape[0]),
           yticklabels=matrix.index, title=f"Table 6 — ratio of increased ω_i on C_j ({_subtitle(table, profile)})")
    fig.colorbar(image, ax=ax)
    return _save(fig, out, "table6")


FIGURES = {"fig3": fig3, "fig4": fig4, "fig5": fig5, "fig6": fig6, "fig7": fig7, "6": table6_heatmap}
