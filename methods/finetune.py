"""Fine-tuning: BaseModel, then fine-tune all layers on the clean meta set.

Paper: used as a baseline by Chen et al. 2021 (GDW) and by Ren et al. 2018 (L2RW), whose
``--finetune`` mode is the only official recipe (docs/baselines.md §2).
Equation: stage 1 minimises (1/B) Σ CE(f(x_i), ỹ_i) on the noisy split; stage 2 minimises
(1/B) Σ CE(f(x_j), y_j) on meta batches, from stage 1's weights.

Choices where the papers are silent (docs/baselines.md §2, recommended answers):
- stage 2 follows L2RW's recipe: constant lr 1e-3, SGD momentum 0.9, weight decay 5e-4 (GDW's
  value; L2RW used 2e-4), batch 100, same augmentation, 5000 iterations;
- a fine-tune epoch is one pass over the meta set; the score is the mean test accuracy of the last
  5 passes (evaluated every ``passes // 20`` passes otherwise, to keep records small);
- the stage-2 optimizer starts with fresh momentum (L2RW restores its old optimizer state);
- stage 1 is trained again in this cell rather than read from the BaseModel cell, so a cell never
  depends on another cell's files (the same seeds give the same stage-1 model).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch.nn.functional as F

from .base import Method, Phase, hyperparameter, log_search, register_method


@dataclass(frozen=True)
class FinetuneHyperparameters:
    finetune_iterations: int = hyperparameter(5000, 1, None)  # L2RW's recipe: 5000 more iterations on the clean set
    finetune_lr: float = hyperparameter(1e-3, 0, None, low_open=True, search=log_search(1e-4, 1e-2))


@register_method("finetune")
class Finetune(Method):
    order = 20  # row position: the paper's order
    title = "Fine-tuning"
    color, marker = "#8c564b", "v"  # its look in every figure
    paper = "Ren et al., ICML 2018 (fine-tuning recipe); baseline in Chen et al. 2021"
    Hyperparameters = FinetuneHyperparameters
    relative_cost = 1.1

    def phases(self):
        per_pass = max(1, math.ceil(self.task.meta_size / self.task.batch_size))
        passes = max(5, math.ceil(self.hp.finetune_iterations / per_pass))
        return [Phase("train", self.task.epochs),
                Phase("finetune", passes, data="meta", schedule="constant", lr=self.hp.finetune_lr,
                      eval_every=max(1, passes // 20))]

    def train_step(self, batch, meta_batch=None):
        loss = F.cross_entropy(self.model(batch.x), batch.y)
        self.minimise(loss)
        return {"loss": loss.detach()}
