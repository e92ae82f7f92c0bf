"""INSW, per-instance learnable weights (Hu et al., "Learning Data Manipulation for Augmentation
and Weighting", NeurIPS 2019 — the "weighting" part).

State: one weight per training instance, w = 1 initially, indexed by sample index.
Per step: θ' = θ − α·∇θ (1/B)Σ_i w_i ℓ_i (batched look-ahead with the raw weights, α = the current
lr); g_i = ∂L_meta(θ')/∂w_i; update w_i ← max(w_i / 2 − g_i, 1e-5) (the official rule with
w_decay = 2 and step 1); real step on Σ_i w̄_i ℓ_i with linear normalisation
w̄ = max(w, 0) / Σ max(w, 0) of the batch's updated weights, detached.

Deviations from the official code (docs/baselines.md §8, recommended answers): a batched look-ahead
instead of one optimiser step per example (B+2 times the cost); no momentum or weight-decay terms
in the look-ahead delta; train-mode BN with protected buffers instead of eval mode; one 100-image
meta batch per step instead of the whole dev set. Scale check: α/B = 0.1/100 = 1e-3 matches the
official lr-1e-3 per-example step, so the unit step size keeps its meaning.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._bilevel import MetaHyperparameters, MetaMethodMixin, pull_back, softmax_residual
from .base import Method, hyperparameter, log_search, register_method


@dataclass(frozen=True)
class INSWHyperparameters(MetaHyperparameters):
    initial_weight: float = hyperparameter(1.0, 0, None, low_open=True)
    weight_decay_factor: float = hyperparameter(2.0, 0, None, low_open=True)  # w ← w / 2 − g
    step_size: float = hyperparameter(1.0, 0, None, low_open=True, search=log_search(0.1, 10))
    min_weight: float = hyperparameter(1e-5, 0, None, low_open=True)


@register_method("insw")
class INSW(MetaMethodMixin, Method):
    order = 60  # row position: the paper's order
    version = 3  # 3: BatchNorm's tangent by its fused backward kernel; 2: the JVP replays BatchNorm (float rounding)
    graph_safe = True  # no read-back, no per-step Python state: its step can be a CUDA graph
    title = "INSW"
    color, marker = "#7f7f7f", "p"  # its look in every figure
    paper = "Hu et al., NeurIPS 2019"
    per_instance_state = True
    Hyperparameters = INSWHyperparameters
    relative_cost = 3.5

    def __init__(self, networks, task, hyperparameters=None):
        super().__init__(networks, task, hyperparameters)
        self.instance_weights = self.like_model(torch.full((task.num_train,), self.hp.initial_weight))
        self.last_meta_grads = {}

    def train_step(self, batch, meta_batch):
        logits = self.model(batch.x)
        residual = softmax_residual(logits, batch.y)
        n = len(batch)
        weights = self.instance_weights[batch.index].clone().requires_grad_(True)
        logit_grad = weights[:, None] * residual / n
        dmeta, meta_loss = self.meta_gradient(batch.x, logits, logit_grad, meta_batch, self.lr)
        (grad,) = pull_back(logit_grad, [weights], dmeta)
        self.last_meta_grads = {"instance_weights": grad.detach()}
        with torch.no_grad():
            updated = (weights / self.hp.weight_decay_factor - self.hp.step_size * grad).clamp(min=self.hp.min_weight)
            self.instance_weights[batch.index] = updated
            normalised = updated.clamp(min=0) / updated.clamp(min=0).sum()
        self.last_sample_weights = normalised
        self.apply_logit_gradient(logits, normalised[:, None] * residual)
        return {"loss": F.cross_entropy(logits.detach(), batch.y), "meta_loss": meta_loss,
                "mean_weight": updated.mean()}

    def extra_state(self):
        return {"instance_weights": self.instance_weights}

    def load_extra_state(self, state):
        self.instance_weights = state["instance_weights"].to(self.instance_weights)
