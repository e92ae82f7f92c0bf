"""Gen-label = MSLG, Meta Soft Label Generation (Algan & Ulusoy, ICPR 2020).

State: label logits ŷ ∈ R^{N×K}, ŷ_i = 10·onehot(ỹ_i) initially; soft label s_i = softmax(ŷ_i).
Warm-up (the first ``warmup_share`` of the epochs, 44/120 as the official CIFAR-10 schedule):
plain CE on the noisy labels. Then per step, p = softmax(z):
1. L_c = (1/B) Σ_i KL(p_i ‖ s_i) (PENCIL's direction), logits-gradient p ⊙ (d − ⟨p, d⟩)/B with
   d = log p − log s;
2. look-ahead θ' = θ − α·∇θ L_c with the fixed α = 0.5/K;
3. ŷ ← ŷ − β·∂L_meta(θ')/∂ŷ, β = 4000, written back to the N×K store;
4. real step on KL(p ‖ s_new) + γ·H(p), γ = 1 (entropy penalty), from the same forward.

Deviations from the official code (docs/baselines.md §10, recommended answers): the official loss
averages over batch *and* classes (a K-times smaller gradient, under Adam-free SGD at lr 0.1 a
10–100× smaller step); we sum over classes and set α = 0.5/K, so α·∇L_c equals the official
look-ahead exactly and β = 4000, γ = 1 keep their calibrated meaning. Meta set: GDW's clean
class-balanced training-split images, not MSLG's 4,000 test images. BN buffers are protected
during the look-ahead (the official functional forward overwrites them). Samples are shuffled and
carry their indices.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._bilevel import MetaHyperparameters, MetaMethodMixin, pull_back
from .base import Method, hyperparameter, log_search, register_method


def kl_logit_gradient(probs: torch.Tensor, log_probs: torch.Tensor, label_logits: torch.Tensor) -> torch.Tensor:
    """∂/∂z of Σ_k p_k (log p_k − log s_k) with p = softmax(z), s = softmax(ŷ): p ⊙ (d − ⟨p, d⟩)."""
    d = log_probs - F.log_softmax(label_logits, dim=1)
    return probs * (d - (probs * d).sum(1, keepdim=True))


@dataclass(frozen=True)
class GenLabelHyperparameters(MetaHyperparameters):
    initial_scale: float = hyperparameter(10.0, 0, None, low_open=True)  # K_init
    warmup_share: float = hyperparameter(44 / 120, 0, 1, high_open=True)  # stage 1 = 44 of 120 epochs officially → 29 of 80
    lookahead_step: float = hyperparameter(0.5, 0, None, low_open=True,  # α·K (α = 0.5/K)
                                           search=log_search(0.05, 5))
    beta: float = hyperparameter(4000.0, 0, None, low_open=True)
    gamma: float = hyperparameter(1.0, 0, None)


@register_method("genlabel")
class GenLabel(MetaMethodMixin, Method):
    order = 90  # row position: the paper's order
    version = 3  # 3: BatchNorm's tangent by its fused backward kernel; 2: the JVP replays BatchNorm (float rounding)
    title = "Gen-label"
    color, marker = "#393b79", "h"  # its look in every figure
    paper = "Algan & Ulusoy, ICPR 2020"
    per_instance_state = True
    Hyperparameters = GenLabelHyperparameters
    relative_cost = 3.0

    def __init__(self, networks, task, hyperparameters=None):
        super().__init__(networks, task, hyperparameters)
        self.label_logits = None  # built lazily from the first labels seen for each index
        self.seen = None
        self.warm = True
        self.last_meta_grads = {}

    def on_epoch_start(self, epoch_in_phase, phase):
        self.warm = epoch_in_phase < round(phase.epochs * self.hp.warmup_share)

    def _label_logits(self, batch) -> torch.Tensor:
        if self.label_logits is None:
            k = self.task.num_classes
            self.label_logits = self.like_model(torch.zeros(self.task.num_train, k))
            self.seen = torch.zeros(self.task.num_train, dtype=torch.bool, device=self.label_logits.device)
        fresh = ~self.seen[batch.index]
        if fresh.any():  # ŷ_i = K_init · onehot(ỹ_i) on first sight (labels never change)
            idx = batch.index[fresh]
            self.label_logits[idx] = self.hp.initial_scale * F.one_hot(batch.y[fresh], self.task.num_classes).to(
                self.label_logits.dtype)
            self.seen[idx] = True
        return self.label_logits[batch.index]

    def train_step(self, batch, meta_batch):
        logits = self.model(batch.x)
        label_logits = self._label_logits(batch)
        if self.warm:
            loss = F.cross_entropy(logits, batch.y)
            self.minimise(loss)
            return {"loss": loss.detach()}
        n, k = logits.shape
        log_probs = F.log_softmax(logits.detach(), dim=1)
        probs = log_probs.exp()
        label_logits = label_logits.clone().requires_grad_(True)
        logit_grad = kl_logit_gradient(probs, log_probs, label_logits) / n
        dmeta, meta_loss = self.meta_gradient(batch.x, logits, logit_grad, meta_batch, self.hp.lookahead_step / k)
        (grad,) = pull_back(logit_grad, [label_logits], dmeta)
        self.last_meta_grads = {"label_logits": grad.detach()}
        with torch.no_grad():
            updated = label_logits - self.hp.beta * grad
            self.label_logits[batch.index] = updated
        soft = F.softmax(updated, dim=1)
        log_p = F.log_softmax(logits, dim=1)
        kl = (log_p.exp() * (log_p - soft.log())).sum(1)
        entropy = -(log_p.exp() * log_p).sum(1)
        loss = (kl + self.hp.gamma * entropy).mean()
        self.minimise(loss)
        return {"loss": loss.detach(), "meta_loss": meta_loss}

    def extra_state(self):
        return {"label_logits": self.label_logits, "seen": self.seen, "warm": self.warm}

    def load_extra_state(self, state):
        self.label_logits, self.seen, self.warm = state["label_logits"], state["seen"], state["warm"]
