"""The weighting network shared by MWNet and GDW: MLP 1 → 100 → 1 with a sigmoid, on the detached
per-sample CE loss; PyTorch's default Linear init (the ResNet's Kaiming init is not applied);
Adam, lr 1e-3, weight decay 1e-4, fixed (docs/protocol.md §4)."""
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
    # capturable on a GPU: its step counter lives on the device, so the step can be in a CUDA graph
    return vnet, torch.optim.Adam(vnet.parameters(), lr=lr, weight_decay=weight_decay,
                                  capturable=p.device.type == "cuda")


LOSS_GRID = [round(0.1 * i, 1) for i in range(161)]  # CE losses 0..16 at which the learned mapping is recorded
KEPT_SAMPLES = 500  # (loss, weight, wrong label?) triples of the latest steps, for the weight-vs-loss figure


class WeightingNetMixin:
    """Builds the weighting net and its Adam, checkpoints both (shared by MWNet and GDW), and keeps
    what the weight-vs-loss figure shows: the net's mapping and the latest samples' weights."""

    def _build_weighting(self) -> None:
        self.vnet, self.vnet_optimizer = build_weighting(self.model, self.hp.vnet_lr, self.hp.vnet_weight_decay,
                                                         self.hp.hidden)
        self._recent: list[torch.Tensor] = []  # (n, 3) blocks: loss, weight, wrong label (1) or not (0)

    def _keep_samples(self, losses: torch.Tensor, weights: torch.Tensor, batch) -> None:
        """Keep the latest KEPT_SAMPLES (loss, weight, wrong) triples (detached; no device sync)."""
        wrong = (batch.y != batch.true_y) if batch.true_y is not None else torch.zeros_like(batch.y, dtype=torch.bool)
        block = torch.stack([losses.detach().float(), weights.detach().flatten().float(), wrong.float()], 1)
        self._recent.append(block)
        self._latest_block = block
        self._trim_recent()

    def _trim_recent(self) -> None:
        while sum(len(b) for b in self._recent) - len(self._recent[0]) >= KEPT_SAMPLES:
            self._recent.pop(0)

    def graph_replayed(self) -> None:
        """A replay overwrote the block the captured step kept: keep a copy of this replay's instead."""
        captured = self._latest_block
        self._recent = [block for block in self._recent if block is not captured]
        self._recent.append(captured.clone())
        self._trim_recent()

    def record_extras(self):
        grid = torch.tensor(LOSS_GRID, dtype=next(self.vnet.parameters()).dtype,
                            device=next(self.vnet.parameters()).device)
        with torch.no_grad():
            mapping = self.vnet(grid).flatten().cpu().tolist()
        samples = torch.cat(self._recent)[-KEPT_SAMPLES:].cpu().tolist() if self._recent else []
        return {"weight_by_loss": {"loss": LOSS_GRID, "weight": [round(w, 5) for w in mapping]},
                "weight_samples": [[round(a, 5), round(b, 5), int(c)] for a, b, c in samples]}

    def _step_weighting(self, grads) -> None:
        """One Adam step on the weighting net with the given meta-gradients."""
        self.vnet_optimizer.zero_grad(set_to_none=True)
        for p, g in zip(self.vnet.parameters(), grads):
            p.grad = g
        self.vnet_optimizer.step()

    def extra_state(self):
        return {"vnet": self.vnet.state_dict(), "vnet_optimizer": self.vnet_optimizer.state_dict(),
                "recent_samples": list(self._recent)}

    def load_extra_state(self, state):
        self.vnet.load_state_dict(state["vnet"])
        self.vnet_optimizer.load_state_dict(state["vnet_optimizer"])
        self._recent = list(state.get("recent_samples", []))
