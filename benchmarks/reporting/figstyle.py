"""One matplotlib style for every figure: paper column sizes, mathtext symbols, short titles.

Sizes in inches: one column of a two-column paper (3.3 in wide) or the full text width (6.9 in).
Symbols are mathtext, never raw Unicode: ``SYMBOLS["omega_t"]`` renders ω_t as a typeset subscript.
Titles stay short; what a figure stands in for and how many seeds it pools go to its caption file.
"""
from __future__ import annotations

import zlib

ONE_COLUMN = (3.3, 2.4)
TWO_COLUMNS = (6.9, 2.5)

STYLE = {
    "font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8, "legend.fontsize": 7, "xtick.labelsize": 7,
    "ytick.labelsize": 7, "lines.linewidth": 1.3, "lines.markersize": 3, "axes.spines.top": False,
    "axes.spines.right": False, "legend.frameon": False, "savefig.dpi": 200, "savefig.bbox": "tight",
    "savefig.pad_inches": 0.02, "mathtext.fontset": "cm", "pdf.fonttype": 42,
}

SYMBOLS = {
    "omega_t": r"$\omega_t$",
    "omega_c_nt": r"$\omega^{c}_{nt}$",
    "omega_n_tt": r"$\omega^{n}_{tt}$",
    "omega_n_nt": r"$\omega^{n}_{nt}$",
}


def omega(i) -> str:
    return rf"$\omega_{{{i}}}$"


def cls(j) -> str:
    """Class C_j as Table 6 writes it."""
    return rf"$C_{{{j}}}$"


# A method without a declared look (a plugin that sets no ``color``/``marker``) gets one of these, chosen
# by a stable hash of its key, so it is drawn alike in every figure and every report.
FALLBACK_COLORS = ("#e6ab02", "#66a61e", "#a6761d", "#1b9e77", "#7570b3", "#e7298a", "#b15928", "#fb9a99")
FALLBACK_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "h")


def method_look(key: str, declared: dict | None = None) -> dict:
    """{"color", "marker"} of a method: what it declared (``Method.color``/``marker``, stored in each
    record as ``method_look``), else a stable choice from its key."""

    declared = declared or {}
    index = zlib.crc32(key.encode())
    return {"color": declared.get("color") or FALLBACK_COLORS[index % len(FALLBACK_COLORS)],
            "marker": declared.get("marker") or FALLBACK_MARKERS[(index // 7) % len(FALLBACK_MARKERS)]}


_GREEK = {"μ": r"\mu", "ω": r"\omega", "α": r"\alpha", "β": r"\beta", "γ": r"\gamma", "τ": r"\tau",
          "σ": r"\sigma", "Δ": r"\Delta"}


def mathtext(text: str) -> str:
    """Text with the Greek letters this suite writes as typeset mathtext ('μ = 0.1' → '$\\mu$ = 0.1'),
    so no figure depends on a font that has the Unicode glyph."""
    return "".join(f"${_GREEK[ch]}$" if ch in _GREEK else ch for ch in text)
