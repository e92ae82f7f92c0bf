"""L2RW, Learning to Reweight Examples (Ren et al., ICML 2018).

Per step: per-example weights ε = 0 (differentiable); θ' = θ − α·∇θ Σ_i ε_i ℓ_i (= θ numerically,
since ε = 0); g = ∂L_meta(θ')/∂ε = −α·⟨∇θ L_meta(θ), ∇θ ℓ_i(θ)⟩; w̃ = max(−g, 0); w = w̃ / Σ w̃;
real step on Σ_i w_i ℓ_i with w detached (weights sum to 1: a weighted sum, not a mean).
If Σ w̃ = 0 the step is skipped (the official code then gives every example weight 0).
Logged per step: ``effective_sample_fraction`` = (Σw)² / (B·Σw²) = 1 / (B·Σw²), the share of the batch
that carries the step (1: uniform weights; 1/B: one example; 0 for a skipped step). Logging only; what
it shows on the fmnist profile, where L2RW acts as a hard filter: docs/baselines.md §11.

Deviations from the official TF code (docs/baselines.md §7): the meta loss is the clean CE without the
weight-decay term (as the PyTorch ports); BN in train mode with protected buffers; the gradient
inner products come from one JVP of the training logits along ∇L_meta(θ) (exact; the official
code takes the equivalent vector-Jacobian product); ℓ_i is the exact CE (no 0.999 clamp).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ._bilevel import MetaMethodMixin, pull_back, softmax_residual
from .base import Method, register_method


@register_method("l2rw")
class L2RW(MetaMethodMixin, Method):
    order = 50  # row position: the paper's order
    version = 3  # 3: BatchNorm's tangent by its fused backward kernel; 2: the JVP replays BatchNorm (float rounding)
    title = "L2RW"
    color, marker = "#2ca02c", "^"  # its look in every figure
    paper = "Ren et al., ICML 2018"
    relative_cost = 3.0

    def __init__(self, networks, task, hyperparameters=None):
        super().__init__(networks, task, hyperparameters)
        self.last_meta_grads = {}
        self.last_weights = None

    def train_step(self, batch, meta_batch):
        logits = self.model(batch.x)
        residual = softmax_residual(logits, batch.y)
        n = len(batch)
        eps = torch.zeros(n, device=logits.device, dtype=logits.dtype, requires_grad=True)
        logit_grad = eps[:, None] * residual / n
        dmeta, meta_loss = self.meta_gradient(batch.x, logits, logit_grad, meta_batch, self.lr, virtual_step=False)
        (grad_eps,) = pull_back(logit_grad, [eps], dmeta)
        self.last_meta_grads = {"eps": grad_eps.detach()}
        raw = (-grad_eps).clamp(min=0)
        total = raw.sum()
        loss = F.cross_entropy(logits.detach(), batch.y)
        if total.item() == 0.0:  # every example would get weight 0: skip the step
            self.last_weights = torch.zeros_like(raw)
            self.last_sample_weights = self.last_weights
            return {"loss": loss, "meta_loss": meta_loss, "skipped": torch.tensor(1.0),
                    "effective_sample_fraction": torch.zeros((), device=loss.device)}
        weights = raw / total
        self.last_weights = weights.detach()
        self.last_sample_weights = self.last_weights
        self.apply_logit_gradient(logits, weights[:, None] * residual)
        return {"loss": loss, "meta_loss": meta_loss, "skipped": torch.tensor(0.0),
                "effective_sample_fraction": 1.0 / (n * self.last_weights.square().sum())}
