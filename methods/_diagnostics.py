"""Class-level weight diagnostics (GDW and MWNet), aggregated per epoch so records stay small.

Definitions follow the paper (Section 4.1, Appendix D.1), with ``before`` = the first-stage
weights of an iteration and ``after`` = the weights its real step uses:
- target weight ω_t: the weight at the (noisy) label position, histogrammed for clean and noisy
  instances (Fig. 3);
- ratio of increased weights (Fig. 5): ω^c_nt, every non-target weight of a clean instance;
  ω^n_tt, the true-label weight of a noisy instance; ω^n_nt, a noisy instance's weights except at
  its label and its true label;
- ratio of increased ω_i on instances labelled C_j (Table 6, Fig. 6), a K×K count (K ≤ 20);
- a few raw before/after vectors of noisy instances (Fig. 4).
"""
from __future__ import annotations

import torch

HIST_EDGES = [i * 0.05 for i in range(41)]  # left edges of the ω_t bins: [0, 2] in steps of 0.05, last bin open
MAX_CLASSES_FOR_MATRIX = 20


class WeightDiagnostics:
    def __init__(self, num_classes: int, sample_instances: int = 4):
        self.k = num_classes
        self.sample_instances = sample_instances
        self.edges = torch.tensor(HIST_EDGES, dtype=torch.float64)
        self._reset()

    def _reset(self) -> None:
        bins = len(HIST_EDGES)
        self.hist = {"clean": torch.zeros(bins, dtype=torch.long), "noisy": torch.zeros(bins, dtype=torch.long)}
        self.counts = {name: torch.zeros(2, dtype=torch.long) for name in ("nt_clean", "tt_noisy", "nt_noisy")}
        small = self.k <= MAX_CLASSES_FOR_MATRIX
        self.by_class_increased = torch.zeros(self.k, self.k, dtype=torch.long) if small else None
        self.by_class_total = torch.zeros(self.k, dtype=torch.long) if small else None
        self.examples: list[dict] = []

    @torch.no_grad()
    def observe(self, labels: torch.Tensor, true_labels: torch.Tensor | None, index: torch.Tensor,
                before: torch.Tensor, after: torch.Tensor) -> None:
        """``before``/``after``: (B, K) weights of one iteration; labels are the noisy ones."""
        if true_labels is None:
            true_labels = labels
        labels, true_labels = labels.cpu(), true_labels.cpu()
        before, after = before.detach().double().cpu(), after.detach().double().cpu()
        rows = torch.arange(len(labels))
        noisy = labels != true_labels
        target = after[rows, labels]
        # bin b counts ω_t in [edges[b], edges[b+1]); the last bin is [2, ∞), the first takes anything below 0
        bucket = (torch.bucketize(target, self.edges, right=True) - 1).clamp(0, len(HIST_EDGES) - 1)
        self.hist["clean"] += torch.bincount(bucket[~noisy], minlength=len(HIST_EDGES))
        self.hist["noisy"] += torch.bincount(bucket[noisy], minlength=len(HIST_EDGES))
        increased = after > before
        label_mask = torch.nn.functional.one_hot(labels, self.k).bool()
        true_mask = torch.nn.functional.one_hot(true_labels, self.k).bool()
        nt_clean = ~label_mask & ~noisy[:, None]
        nt_noisy = ~label_mask & ~true_mask & noisy[:, None]
        tt_noisy = true_mask & noisy[:, None]
        for name, mask in (("nt_clean", nt_clean), ("tt_noisy", tt_noisy), ("nt_noisy", nt_noisy)):
            self.counts[name] += torch.stack([(increased & mask).sum(), mask.sum()])
        if self.by_class_increased is not None:
            self.by_class_increased.index_add_(0, labels, increased.long())  # row j: instances labelled C_j
            self.by_class_total += torch.bincount(labels, minlength=self.k)
        for i in torch.nonzero(noisy).flatten().tolist():
            if len(self.examples) >= self.sample_instances:
                break
            self.examples.append({"index": int(index[i]), "label": int(labels[i]), "true": int(true_labels[i]),
                                  "before": [round(v, 5) for v in before[i].tolist()],
                                  "after": [round(v, 5) for v in after[i].tolist()]})

    def epoch_summary(self) -> dict:
        """The epoch's aggregates as JSON-able data; starts a fresh epoch."""
        out = {"omega_t_hist": {"edges": HIST_EDGES, "clean": self.hist["clean"].tolist(),
                                "noisy": self.hist["noisy"].tolist()},
               "increased": {name: c.tolist() for name, c in self.counts.items()},
               "examples": self.examples}
        if self.by_class_increased is not None:
            # increased_by_class[j][i]: increased ω_i on instances labelled C_j; total_by_class[j]: their count
            out["increased_by_class"] = self.by_class_increased.tolist()
            out["total_by_class"] = self.by_class_total.tolist()
        self._reset()
        return out
