"""Co-teaching (Han et al., "Co-teaching: Robust Training of Deep Neural Networks with Extremely
Noisy Labels", NeurIPS 2018).

Per step: both networks forward the same noisy batch; each keeps its ⌊(1 − R(t))·B⌋ smallest-loss
samples, and each network learns from the samples the *other* kept (the exchange).
Forget rate: R(t) = τ · min(t / (T_k − 1), 1) with the official ramp ``linspace(0, τ^c, T_k)``
over epochs t = 0..T_k−1, T_k = 10, c = 1; τ = the setting's actual wrong-label fraction
(r·(K−1)/K for uniform noise, r for flip; docs/baselines.md §5a).
Under GDW's protocol each network gets half of the epoch budget (40 of 80) with its own cosine.
Network 1 is reported; network 2's accuracy is recorded too.

Deviations from the official code (docs/baselines.md §5): SGD instead of Adam (GDW's unified
protocol); the loss is the plain mean CE over the kept samples (the official code divides by the
kept count twice, harmless under Adam, a 60–100× smaller step under SGD); no 400-iteration cap per
epoch; one train-mode forward per network (as the official code).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .base import Method, Phase, hyperparameter, linear_search, register_method


def forget_rate_schedule(tau: float, epochs: int, num_gradual: int = 10, exponent: float = 1.0) -> list[float]:
    """The official schedule: linspace(0, τ^c, T_k) over the first T_k epochs, then τ."""
    rates = [float(tau)] * epochs
    ramp = torch.linspace(0.0, tau ** exponent, num_gradual, dtype=torch.float64).tolist() if num_gradual > 1 \
        else [tau ** exponent]
    for e in range(min(num_gradual, epochs)):
        rates[e] = float(ramp[e])
    return rates


def small_loss_selection(losses: torch.Tensor, forget_rate: float) -> torch.Tensor:
    """Indices of the ⌊(1 − R)·B⌋ smallest losses (at least one)."""
    keep = max(1, int((1.0 - forget_rate) * len(losses)))
    return torch.argsort(losses.detach())[:keep]


@dataclass(frozen=True)
class CoteachingHyperparameters:
    forget_rate: float | None = hyperparameter(None, 0, 1, high_open=True,
                                                 resolved="the setting's expected wrong-label fraction",
                                                 search=linear_search(0.0, 0.8))
    num_gradual: int = hyperparameter(10, 0, None)  # T_k, epochs of the linear ramp
    exponent: float = hyperparameter(1.0, 0, None, low_open=True)  # c
    budget_share: float = hyperparameter(0.5, 0, 1, low_open=True)  # each network trains for this share of the epoch budget


@register_method("coteaching")
class Coteaching(Method):
    order = 30  # row position: the paper's order
    title = "Co-teaching"
    color, marker = "#17becf", "s"  # its look in every figure
    paper = "Han et al., NeurIPS 2018"
    num_networks = 2
    Hyperparameters = CoteachingHyperparameters
    relative_cost = 1.0  # 2 networks × half the epochs

    def __init__(self, networks, task, hyperparameters=None):
        super().__init__(networks, task, hyperparameters)
        self.tau = task.wrong_label_fraction if self.hp.forget_rate is None else self.hp.forget_rate
        self.hp = dataclasses.replace(self.hp, forget_rate=self.tau)  # records show the value used
        self.forget_rate = 0.0

    def phases(self):
        return [Phase("train", max(1, round(self.task.epochs * self.hp.budget_share)))]

    def on_epoch_start(self, epoch_in_phase, phase):
        self.forget_rate = forget_rate_schedule(self.tau, phase.epochs, self.hp.num_gradual,
                                                self.hp.exponent)[epoch_in_phase]

    def train_step(self, batch, meta_batch=None):
        net1, net2 = self.networks
        loss1_all = F.cross_entropy(net1(batch.x), batch.y, reduction="none")
        loss2_all = F.cross_entropy(net2(batch.x), batch.y, reduction="none")
        keep1 = small_loss_selection(loss1_all, self.forget_rate)
        keep2 = small_loss_selection(loss2_all, self.forget_rate)
        loss1 = loss1_all[keep2].mean()  # network 1 learns from network 2's selection
        loss2 = loss2_all[keep1].mean()
        self.minimise(loss1, 0)
        self.minimise(loss2, 1)
        return {"loss": loss1.detach(), "loss_net2": loss2.detach(),
                "forget_rate": torch.tensor(self.forget_rate)}

    def extra_state(self):
        return {"forget_rate": self.forget_rate}

    def load_extra_state(self, state):
        self.forget_rate = state["forget_rate"]
