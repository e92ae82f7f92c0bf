"""Focal loss (Lin et al., "Focal Loss for Dense Object Detection", ICCV 2017).

Equation (softmax form): FL_i = −(1 − p_{i,ỹ})^γ · log p_{i,ỹ}; batch loss = mean over the batch.
Choices (docs/baselines.md §3): γ = 2 (Lin et al.'s canonical value, which GDW cites); no α-balancing
(class re-balancing belongs to the CB baseline); the softmax form (one head for every method); the
gradient flows through the modulating factor, as the paper's loss prescribes. Deviation from a
popular PyTorch port (clcarwin/focal_loss_pytorch), which detaches p_t: we do not.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import Method, hyperparameter, linear_search, register_method


def focal_loss(logits: torch.Tensor, labels: torch.Tensor, gamma: float) -> torch.Tensor:
    log_pt = F.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
    return (-(1.0 - log_pt.exp()) ** gamma * log_pt).mean()


@dataclass(frozen=True)
class FocalHyperparameters:
    gamma: float = hyperparameter(2.0, 0, None, search=linear_search(0, 5))


@register_method("focal")
class Focal(Method):
    order = 120  # row position: the paper's order
    graph_safe = True  # no read-back, no per-step Python state: its step can be a CUDA graph
    title = "Focal"
    color, marker = "#e377c2", "<"  # its look in every figure
    paper = "Lin et al., ICCV 2017"
    Hyperparameters = FocalHyperparameters

    def train_step(self, batch, meta_batch=None):
        loss = focal_loss(self.model(batch.x), batch.y, self.hp.gamma)
        self.minimise(loss)
        return {"loss": loss.detach()}
