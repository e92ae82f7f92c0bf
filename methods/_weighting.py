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
