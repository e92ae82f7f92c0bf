"""GLC, Gold Loss Correction (Hendrycks et al., "Using Trusted Data to Train Deep Networks on
Labels Corrupted by Severe Noise", NeurIPS 2018).

Phase 1 (half the budget): plain CE on the noisy split. Then Ĉ[i, :] = mean softmax of the
phase-1 model (eval mode, no augmentation) over trusted (meta-set) samples of true class i, an
estimate of p(noisy = j | true = i). Reset to the saved initial weights. Phase 2 (the other half,
fresh cosine and fresh momentum): trusted + untrusted data in mixed shuffled batches; untrusted
samples take the forward-corrected loss −log Σ_i softmax_i(x) · Ĉ[i, ỹ] (computed in log space:
−logsumexp_i(log softmax_i + log Ĉ[i, ỹ])), trusted samples plain CE; both summed and divided by
the batch size. Ĉ is a constant (no gradient) and goes into the run record.

Deviations from the official code (docs/baselines.md §6): one forward over the mixed batch instead of
separate gold/silver forwards (BN statistics over the whole batch); log-space loss with Ĉ floored
at 1e-12 instead of a raw log; SGD per GDW's protocol instead of Nesterov; a per-epoch cosine.
"""
from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from .base import Method, Phase, register_method

MIN_PROBABILITY = 1e-12


@torch.no_grad()
def estimate_corruption_matrix(model, trusted_batches, num_classes: int, batch_size: int = 500) -> torch.Tensor:
    """Ĉ[i, j] = mean over trusted samples of true class i of softmax_j (eval mode, no augmentation)."""
    was_training = model.training
    model.eval()
    sums, counts = None, torch.zeros(num_classes, dtype=torch.float64)
    for batch in trusted_batches.ordered(batch_size):
        probs = torch.softmax(model(batch.x).double(), dim=1).cpu()
        labels = batch.y.cpu()
        sums = torch.zeros(num_classes, probs.shape[1], dtype=torch.float64) if sums is None else sums
        sums.index_add_(0, labels, probs)
        counts += torch.bincount(labels, minlength=num_classes).double()
    model.train(was_training)
    return sums / counts.clamp(min=1)[:, None]


def corrected_nll(logits: torch.Tensor, noisy_labels: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    """Per-sample −log Σ_i softmax_i · C[i, ỹ], in log space."""
    log_c = matrix.clamp(min=MIN_PROBABILITY).log().to(logits.dtype)  # (K, K)
    return -torch.logsumexp(F.log_softmax(logits, dim=1) + log_c[:, noisy_labels].T, dim=1)


@register_method("glc")
class GLC(Method):
    order = 40  # row position: the paper's order
    title = "GLC"
    color, marker = "#9467bd", "D"  # its look in every figure

    @classmethod
    def prepare_for_step_test(cls, method, num_classes):
        """The corrected phase's step: trusted samples in the batch and a known corruption matrix."""
        method.matrix = torch.eye(num_classes, dtype=torch.float64) * 0.9 + 0.1 / num_classes
    paper = "Hendrycks et al., NeurIPS 2018"

    def __init__(self, networks, task, hyperparameters=None):
        super().__init__(networks, task, hyperparameters)
        self.initial_weights = copy.deepcopy(self.model.state_dict())
        self.matrix: torch.Tensor | None = None

    def phases(self):
        first = max(1, self.task.epochs // 2)
        return [Phase("noisy", first, data="train"),
                Phase("corrected", max(1, self.task.epochs - first), data="train+meta")]

    def on_phase_start(self, phase_index, phase, context):
        if phase_index == 1:
            self.matrix = estimate_corruption_matrix(self.model, context.meta, self.task.num_classes,
                                                     context.eval_batch_size)
            self.model.load_state_dict(self.initial_weights)
            self.reset_optimizers()

    def train_step(self, batch, meta_batch=None):
        logits = self.model(batch.x)
        if self.matrix is None:
            loss = F.cross_entropy(logits, batch.y)
        else:
            trusted = batch.trusted if batch.trusted is not None else torch.zeros_like(batch.y, dtype=torch.bool)
            matrix = self.matrix.to(logits.device)
            per_sample = torch.where(trusted, F.cross_entropy(logits, batch.y, reduction="none"),
                                     corrected_nll(logits, batch.y, matrix))
            loss = per_sample.sum() / len(batch)
        self.minimise(loss)
        return {"loss": loss.detach()}

    def extra_state(self):
        return {"initial_weights": self.initial_weights, "matrix": self.matrix}

    def load_extra_state(self, state):
        self.initial_weights, self.matrix = state["initial_weights"], state["matrix"]

    def record_extras(self):
        return {} if self.matrix is None else {"corruption_matrix_estimate": self.matrix.tolist()}
