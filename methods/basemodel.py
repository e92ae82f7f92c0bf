"""BaseModel: plain cross-entropy on the noisy training labels.

Paper: the reference row of every table in Chen et al., "Generalized Data Weighting via
Class-level Gradient Manipulation" (NeurIPS 2021). Equation: L = (1/B) Σ_i CE(f(x_i; θ), ỹ_i).
Deviations from the official code: none (GDW's repo trains the same model on the same 49k images).
"""
from __future__ import annotations

import torch.nn.functional as F

from .base import Method, register_method


@register_method("basemodel")
class BaseModel(Method):
    order = 10  # row position: the paper's order
    graph_safe = True  # no read-back, no per-step Python state: its step can be a CUDA graph
    title = "BaseModel"
    color, marker = "#000000", "o"  # its look in every figure
    paper = "Chen et al. 2021, baseline: ResNet trained on the noisy training set"

    def train_step(self, batch, meta_batch=None):
        loss = F.cross_entropy(self.model(batch.x), batch.y)
        self.minimise(loss)
        return {"loss": loss.detach()}
