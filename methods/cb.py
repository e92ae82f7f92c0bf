"""Class-Balanced loss (Cui et al., "Class-Balanced Loss Based on Effective Number of Samples",
CVPR 2019), softmax form.

Equation: effective number E_c = (1 − β^{n_c}) / (1 − β); class weight w_c ∝ 1/E_c rescaled so
Σ_c w_c = K; loss = (1/B) Σ_i w_{ỹ_i} · CE_i (the official TF reduction: per-example weights, plain
batch mean — not PyTorch's ``cross_entropy(weight=)``, which divides by the batch's weight sum).
n_c counts the observed (noisy) training labels. β = 0.9999 (the official CB script's value).
Deviation: a class with no training sample would get an infinite weight; n_c is floored at 1 (such a
class never appears as a label, so its weight only affects the rescaling).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import Method, choice_search, hyperparameter, register_method


def class_balanced_weights(counts, beta: float) -> torch.Tensor:
    n = torch.tensor(counts, dtype=torch.float64).clamp(min=1)
    weights = (1.0 - beta) / (1.0 - beta ** n)
    return weights * len(counts) / weights.sum()


@dataclass(frozen=True)
class CBHyperparameters:
    beta: float = hyperparameter(0.9999, 0, 1, high_open=True, search=choice_search(0.9, 0.99, 0.999, 0.9999))


@register_method("cb")
class ClassBalanced(Method):
    order = 130  # row position: the paper's order
    graph_safe = True  # no read-back, no per-step Python state: its step can be a CUDA graph
    title = "Balanced"
    color, marker = "#bcbd22", ">"  # its look in every figure
    paper = "Cui et al., CVPR 2019"
    Hyperparameters = CBHyperparameters

    def __init__(self, networks, task, hyperparameters=None):
        super().__init__(networks, task, hyperparameters)
        self.class_weights = self.like_model(class_balanced_weights(task.class_counts, self.hp.beta))

    def train_step(self, batch, meta_batch=None):
        per_sample = F.cross_entropy(self.model(batch.x), batch.y, reduction="none")
        loss = (self.class_weights[batch.y] * per_sample).mean()
        self.minimise(loss)
        return {"loss": loss.detach()}
