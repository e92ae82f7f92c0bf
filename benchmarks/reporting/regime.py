"""Is a noisy column in the paper's regime? Two separate verdicts read from the records (never from methods).

The paper (and MW-Net before it) studies networks that *memorise* wrong labels when trained on
them plainly, and weighting methods that *separate* wrong-label samples from correct ones. The two
are different claims and each is printed on its own; neither ever stands in for the other:

- *memorised* (BaseModel): its score (mean test accuracy of the score epochs) lies at least
  ``MEMORISATION_DROP`` points below its best evaluated epoch, or at its last evaluation its training
  accuracy against the noisy labels exceeds that against the true labels (it fits wrong labels).
  **This alone decides whether a column is in the paper's regime**: a plain network that never
  memorises leaves nothing for reweighting to fix, however well the weights separate.
- *weights separate* (MWNet or GDW): in its last epoch, the mean weight a weighting method gives to
  wrongly labelled samples is at most ``SEPARATION_RATIO`` times the mean weight it gives to correct
  ones (GDW: its target-class entry). It holds when one of the two does so on every seed; the line
  shows both, so a weaker MWNet stays visible. It says whether the methods work as designed here.

A verdict holds for a column when it holds on every seed with a record. A column whose BaseModel
does not memorise is "NOT IN THE PAPER'S REGIME", loudly; one without BaseModel records cannot be
judged, and the line says which command trains them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

MEMORISATION_DROP = 5.0  # test-accuracy points between the best epoch and the score
SEPARATION_RATIO = 0.5  # mean weight on wrong labels / mean weight on correct labels
WEIGHTING_METHODS = ("mwnet", "gdw")  # whose weights judge the separation


def memorisation(record: dict) -> dict | None:
    """Per-seed facts of one BaseModel record: drop from the best epoch, fit of wrong labels."""
    evaluated = [e for e in record.get("curve", []) if "test_acc" in e]
    if not evaluated:
        return None
    best = max(e["test_acc"] for e in evaluated)
    drop = best - record["score"]
    fitted = [e for e in evaluated if "train_acc_noisy" in e]
    last = fitted[-1] if fitted else None
    fits_wrong = bool(last and last["train_acc_noisy"] > last["train_acc_true"])
    return {"drop": drop, "fits_wrong": fits_wrong, "memorised": drop >= MEMORISATION_DROP or fits_wrong,
            "train_acc_noisy": last and last["train_acc_noisy"], "train_acc_true": last and last["train_acc_true"]}


def separation(record: dict) -> dict | None:
    """Per-seed facts of one weighting record: last epoch's wrong/correct mean-weight ratio."""
    weighted = [e for e in record.get("curve", []) if e.get("weight_correct") and e.get("weight_wrong") is not None]
    if not weighted:
        return None
    last = weighted[-1]
    ratio = last["weight_wrong"] / last["weight_correct"]
    return {"ratio": ratio, "separates": ratio <= SEPARATION_RATIO}


@dataclass
class Separation:
    """One weighting method's separation over a column's seeds."""

    separates: int
    seeds: int
    mean_ratio: float

    @property
    def holds(self) -> bool:
        return self.seeds > 0 and self.separates == self.seeds


@dataclass
class ColumnRegime:
    """Both verdicts of one column: counts of seeds where each holds, and the measured values."""

    memorised: int = 0
    memorisation_seeds: int = 0
    mean_drop: float = float("nan")
    fits_wrong: int = 0
    separation: dict = field(default_factory=dict)  # weighting method → Separation

    @property
    def memorisation_holds(self) -> bool:
        return self.memorisation_seeds > 0 and self.memorised == self.memorisation_seeds

    @property
    def separation_holds(self) -> bool:
        """Some weighting method (MWNet or GDW) separates on every one of its seeds."""
        return any(s.holds for s in self.separation.values())

    @property
    def judged(self) -> bool:
        """Whether memorisation, the verdict that decides the regime, could be judged."""
        return self.memorisation_seeds > 0

    @property
    def in_regime(self) -> bool:
        """BaseModel memorises on every seed; False when it does not, or could not be judged."""
        return self.memorisation_holds

    def line(self, label: str, method_names: dict[str, str] | None = None, how_to_judge: str = "") -> str:
        """Both verdicts of the column, each stated on its own. ``how_to_judge``: the command that
        trains the BaseModel cells this column lacks (said when there are none)."""
        names = method_names or {}
        if self.memorisation_seeds:
            verdict = "in the paper's regime"
            memorised = (f"BaseModel memorised on {self.memorised}/{self.memorisation_seeds} seeds ({self.mean_drop:.1f} "
                         f"points below its best epoch, fits wrong labels on {self.fits_wrong}/"
                         f"{self.memorisation_seeds}; needs ≥ {MEMORISATION_DROP:g} points or fitting wrong labels "
                         f"on every seed)")
        else:
            verdict = "regime not judged"
            memorised = "no BaseModel record, so memorisation cannot be judged" + (
                f" (train it: {how_to_judge})" if how_to_judge else "")
        if self.separation:
            each = ", ".join(f"{names.get(m, m)} {s.separates}/{s.seeds} seeds (wrong/correct mean weight "
                             f"{s.mean_ratio:.2f})" for m, s in self.separation.items())
            separate = (f"weights separate: {'yes' if self.separation_holds else 'no'} — {each}; needs ≤ "
                        f"{SEPARATION_RATIO:g} on every seed")
        else:
            separate = "weights separate: not judged (no MWNet or GDW record)"
        if self.memorisation_seeds and not self.in_regime:
            return (f"NOT IN THE PAPER'S REGIME — Regime, {label}: {memorised}. Separately, {separate}. A plain "
                    f"network that does not memorise leaves nothing for reweighting to fix, so this column cannot "
                    f"show what it is for.")
        return f"Regime, {label}: {verdict} — {memorised}. Separately, {separate}."


def column_regime(records_by_method: dict[str, list[dict]]) -> ColumnRegime:
    """The verdicts of one noisy column from its records, grouped by method key."""
    out = ColumnRegime()
    facts = [f for f in (memorisation(r) for r in records_by_method.get("basemodel", [])) if f]
    if facts:
        out.memorisation_seeds = len(facts)
        out.memorised = sum(f["memorised"] for f in facts)
        out.fits_wrong = sum(f["fits_wrong"] for f in facts)
        out.mean_drop = sum(f["drop"] for f in facts) / len(facts)
    for method in WEIGHTING_METHODS:
        facts = [f for f in (separation(r) for r in records_by_method.get(method, [])) if f]
        if facts:
            out.separation[method] = Separation(sum(f["separates"] for f in facts), len(facts),
                                                sum(f["ratio"] for f in facts) / len(facts))
    return out
