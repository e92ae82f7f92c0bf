"""MWNet, Meta-Weight-Net (Shu et al., "Meta-Weight-Net: Learning an Explicit Mapping for Sample
Weighting", NeurIPS 2019), as run under GDW's protocol (the GDW repo's ``--mode mw-net``).

Per step (docs/protocol.md §4), with E = p̃ − onehot(ỹ), p̃ = softmax clamped at 0.999:
1. w = V_φ(CE_i) on the detached per-sample losses, (B, 1);
2. virtual step θ' = θ − α·∇θ (1/B)Σ_i w_i⟨E_i, z_i⟩ (plain SGD at the current lr α);
3. meta loss CE on one meta batch at θ'; one Adam step on φ (lr 1e-3, wd 1e-4);
4. real step with the *updated* net: w' = V_φ'(CE_i) (no grad), logits-gradient w'·E/B, SGD
   momentum step. No normalisation by Σw (as in the GDW repo and MW-Net.py).

Deviations from the official code: the look-ahead runs ``functional_call`` on the real model with
protected BN buffers instead of rebuilding a model copy each iteration (same numbers, faster); the
meta-gradient uses the exact JVP form of ``_bilevel`` (identical up to float rounding); the real
step reuses the first forward's logits (same parameters and batch statistics as a second forward).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._bilevel import PROB_CLAMP_WHY, MetaHyperparameters, MetaMethodMixin, pull_back, softmax_residual
from ._weighting import WeightingNetMixin
from .base import Method, hyperparameter, log_search, register_method


@dataclass(frozen=True)
class MWNetHyperparameters(MetaHyperparameters):
    vnet_lr: float = hyperparameter(1e-3, 0, None, low_open=True, search=log_search(1e-4, 1e-2))
    vnet_weight_decay: float = hyperparameter(1e-4, 0, None)
    hidden: int = hyperparameter(100, 1, None)
    prob_clamp: float = hyperparameter(0.999, 0, 1, low_open=True, high_open=True, why=PROB_CLAMP_WHY)


@register_method("mwnet")
class MWNet(WeightingNetMixin, MetaMethodMixin, Method):
    order = 70  # row position: the paper's order
    version = 3  # 3: BatchNorm's tangent by its fused backward kernel; 2: the JVP replays BatchNorm (float rounding)
    graph_safe = True  # no read-back, no per-step Python state: its step can be a CUDA graph
    title = "MWNet"
    color, marker = "#1f77b4", "P"  # its look in every figure
    paper = "Shu et al., NeurIPS 2019"
    Hyperparameters = MWNetHyperparameters
    relative_cost = 3.5
    records_weights = True

    def __init__(self, networks, task, hyperparameters=None):
        super().__init__(networks, task, hyperparameters)
        self._build_weighting()
        self.last_meta_grads = {}

    def train_step(self, batch, meta_batch):
        logits = self.model(batch.x)
        losses = F.cross_entropy(logits.detach(), batch.y, reduction="none")
        residual = softmax_residual(logits, batch.y, self.hp.prob_clamp)
        n = len(batch)
        weights = self.vnet(losses)  # (B, 1), graph to φ
        logit_grad = weights * residual / n
        dmeta, meta_loss = self.meta_gradient(batch.x, logits, logit_grad, meta_batch, self.lr)
        vnet_params = list(self.vnet.parameters())
        grads = pull_back(logit_grad, vnet_params, dmeta)
        self.last_meta_grads = {f"vnet.{i}": g.detach() for i, g in enumerate(grads)}
        self._step_weighting(grads)
        with torch.no_grad():
            new_weights = self.vnet(losses)
        if self.diagnostics is not None:
            k = residual.shape[1]
            self.diagnostics.observe(batch.y, batch.true_y, batch.index, weights.detach().expand(-1, k),
                                     new_weights.expand(-1, k))
        self.last_sample_weights = new_weights.flatten()
        self._keep_samples(losses, new_weights, batch)
        self.apply_logit_gradient(logits, new_weights * residual / n)
        return {"loss": losses.mean(), "meta_loss": meta_loss, "mean_weight": new_weights.mean()}
