"""Soft-label, learned per-instance label smoothing (Vyas, Saxena & Voice, "Learning Soft Labels
via Meta Learning", 2020), as GDW characterises it: one learnable smoothing parameter per instance.

State: a_i ∈ [0, 1] per training instance, a = 0 initially (the given one-hot label, so the method
starts as BaseModel). Soft target t_i = (1 − a_i)·onehot(ỹ_i) + (a_i / K)·1; training loss
(1/B) Σ_i CE(z_i, t_i), whose logits-gradient is (p_i − t_i)/B.
Per step: look-ahead θ' = θ − α·∇θ L(θ; a) at the current lr; g = ∂L_meta(θ')/∂a; update
a ← clip(a − Δ, 0, 1) with Δ = clamp(η_a · g / ‖g‖₁, −0.2, 0.2), ‖g‖₁ over the batch,
η_a = step_size · B; real step with the updated targets, detached.

Update rule (no official code exists; docs/baselines.md §9): the raw gradient carries a factor α/B and
has no calibrated step size, so we use the scale-free rule GDW uses for its class-level weights:
an L1-normalised step whose mean size is ``step_size`` (0.1) before clipping at ±0.2. It needs no
per-dataset tuning of η_a, which a raw step would. A batch whose ‖g‖₁ is 0 keeps its a unchanged.

Diagnostics (logging only, no effect on the step): each sample's weight on its given label is the
target mass t_i[ỹ_i] = 1 − a_i·(K−1)/K (``last_sample_weights``, so records carry its mean on correct
and on wrong labels like the weighting methods'), and ``target_entropy`` is the batch's mean entropy
of t_i in nats (0 for one-hot, log K for uniform). On the fmnist profile they show the wrong labels'
mass decaying slowly under this update rule (docs/baselines.md §11).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._bilevel import MetaHyperparameters, MetaMethodMixin, pull_back
from .base import Method, hyperparameter, log_search, register_method


def smoothed_targets(labels: torch.Tensor, smoothing: torch.Tensor, num_classes: int) -> torch.Tensor:
    onehot = F.one_hot(labels, num_classes).to(smoothing.dtype)
    return (1.0 - smoothing[:, None]) * onehot + smoothing[:, None] / num_classes


@dataclass(frozen=True)
class SoftLabelHyperparameters(MetaHyperparameters):
    # mean |Δa| per visit before clipping (η_a = step_size · B)
    step_size: float = hyperparameter(0.1, 0, None, low_open=True, search=log_search(0.01, 1))
    clip: float = hyperparameter(0.2, 0, None, low_open=True)


@register_method("softlabel")
class SoftLabel(MetaMethodMixin, Method):
    order = 80  # row position: the paper's order
    version = 3  # 3: BatchNorm's tangent by its fused backward kernel; 2: the JVP replays BatchNorm (float rounding)
    graph_safe = True  # no read-back, no per-step Python state: its step can be a CUDA graph
    title = "Soft-label"
    color, marker = "#ff7f0e", "X"  # its look in every figure
    paper = "Vyas et al., 2020 (arXiv 2009.09496)"
    per_instance_state = True
    Hyperparameters = SoftLabelHyperparameters
    relative_cost = 3.5

    def __init__(self, networks, task, hyperparameters=None):
        super().__init__(networks, task, hyperparameters)
        self.smoothing = self.like_model(torch.zeros(task.num_train))
        self.last_meta_grads = {}

    def train_step(self, batch, meta_batch):
        logits = self.model(batch.x)
        n, k = logits.shape
        probs = torch.softmax(logits.detach(), dim=1)
        smoothing = self.smoothing[batch.index].clone().requires_grad_(True)
        logit_grad = (probs - smoothed_targets(batch.y, smoothing, k)) / n
        dmeta, meta_loss = self.meta_gradient(batch.x, logits, logit_grad, meta_batch, self.lr)
        (grad,) = pull_back(logit_grad, [smoothing], dmeta)
        self.last_meta_grads = {"smoothing": grad.detach()}
        with torch.no_grad():
            norm = grad.abs().sum()
            step = torch.where(norm > 0, self.hp.step_size * n * grad / norm.clamp(min=torch.finfo(grad.dtype).tiny),
                               torch.zeros_like(grad)).clamp(-self.hp.clip, self.hp.clip)
            updated = (smoothing - step).clamp(0.0, 1.0)
            self.smoothing[batch.index] = updated
            targets = smoothed_targets(batch.y, updated, k)
            self.last_sample_weights = 1.0 - updated * (k - 1) / k
        self.apply_logit_gradient(logits, (probs - targets) / n)
        return {"loss": -(targets * F.log_softmax(logits.detach(), 1)).sum(1).mean(), "meta_loss": meta_loss,
                "mean_smoothing": updated.mean(), "target_entropy": -torch.special.xlogy(targets, targets).sum(1).mean()}

    def extra_state(self):
        return {"smoothing": self.smoothing}

    def load_extra_state(self, state):
        self.smoothing = state["smoothing"].to(self.smoothing)
