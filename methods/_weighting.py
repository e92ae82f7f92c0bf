"""The weighting network shared by MWNet and GDW: MLP 1 → 100 → 1 with a sigmoid, on the detached
per-sample CE loss; PyTorch's default Linear init (the ResNet's Kaiming init is not applied);
Adam, lr 1e-3, weight decay 1e-4, fixed (gdw_protocol.md §4)."""
from __future__ import annotations

import torch
from torch import nn


class WeightingNet(nn.Module):
    def __init__(self, hidden: int = 100):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, losses: torch.Tensor) -> torch.Tensor:
        """(B,) detached losses → (B, 1) instance weights in (0, 1)."""
        return torch.sigmoid(self.net(losses[:, None]))


def build_weighting(model: nn.Module, lr: float, weight_decay: float, hidden: int = 100):
    p = next(model.parameters())
    vnet = WeightingNet(hidden).to(device=p.device, dtype=p.dtype)
    return vnet, torch.optim.Adam(vnet.parameters(), lr=lr, weight_decay=weight_decay)


class WeightingNetMixin:
    """Builds the weighting net and its Adam, and checkpoints both (shared by MWNet and GDW)."""

    def _build_weighting(self) -> None:
        self.vnet, self.vnet_optimizer = build_weighting(self.model, self.hp.vnet_lr, self.hp.vnet_weight_decay,
                                                         self.hp.hidden)

    def _step_weighting(self, grads) -> None:
        """One Adam step on the weighting net with the given meta-gradients."""
        self.vnet_optimizer.zero_grad(set_to_none=True)
        for p, g in zip(self.vnet.parameters(), grads):
            p.grad = g
        self.vnet_optimizer.step()

    def extra_state(self):
        return {"vnet": self.vnet.state_dict(), "vnet_optimizer": self.vnet_optimizer.state_dict()}

    def load_extra_state(self, state):
        self.vnet.load_state_dict(state["vnet"])
        self.vnet_optimizer.load_state_dict(state["vnet_optimizer"])
