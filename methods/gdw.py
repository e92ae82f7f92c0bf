"""GDW, Generalized Data Weighting (Chen et al., "Generalized Data Weighting via Class-level
Gradient Manipulation", NeurIPS 2021), exactly as docs/protocol.md §5 reads the official code.

Per step, with E = p̃ − onehot(ỹ), p̃ = softmax clamped at 0.999 (detached), B the batch size:
1. first stage: w = V_φ(CE_i) (B, 1), cloned to W (B, K), a differentiable function of φ;
2. zero-mean constraint (Eq. 4), applied to the target column:
   W_{i,ỹ} ← Σ_{j≠ỹ} W_ij p̃_ij / (1 − p̃_iỹ), so that Σ_j W_ij (p̃_ij − y_ij) = 0 (Eqs. 4–5);
3. virtual step θ' = θ − α·∇θ (1/B)Σ_ij W_ij E_ij z_ij (plain SGD at the current lr α, Eq. 7);
4. meta loss at θ' (Eq. 8); one Adam step on φ through the whole graph of W (constraint included);
   g = ∂L_meta/∂W, the direct partial at the post-constraint W (the "intermediate gradient");
5. second stage (Eq. 10–11): Δ = clamp(η_ω · g / ‖g‖₁, −0.2, 0.2), ‖·‖₁ over the whole B×K matrix
   (no epsilon); W' = clamp(W − Δ, 1e-6, 1e6), detached — starting from the *pre-update* W;
6. the zero-mean constraint again on W' (the second-stage change of the target entry is discarded);
   real step with logits-gradient W'·E/B; no normalisation by the weights' sum.

η_ω: 100 on CIFAR-10 and 1000 on CIFAR-100 (Appendix C). For other class counts we keep
η_ω / (B·K) = 0.1, the ratio both published values share, i.e. η_ω = 0.1·B·K (100 and 1000 at B=100).
The weighting net is trained exactly as in MWNet (up to the 0.999 clamp); unlike MWNet, the real
step uses the first-stage weights of *this* step's net (before its Adam update), moved by Δ.

Deviations from the official code: ``functional_call`` look-ahead on the real model with protected
BN buffers (the official code rebuilds two model copies per iteration and runs an unused extra
backward and forward); the exact JVP meta-gradient of ``_bilevel``; the real step reuses the first
forward's logits (the official code recomputes an identical forward).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._bilevel import PROB_CLAMP_WHY, MetaHyperparameters, MetaMethodMixin, clamped_softmax, pull_back
from ._weighting import WeightingNetMixin
from .base import Method, hyperparameter, log_search, register_method


class ZeroMeanTarget:
    """Eq. 4 for one batch: replace each row's target weight by Σ_{j≠y} W_ij p_ij / (1 − p_iy), out of
    place, so that Σ_j W_ij (p_ij − y_ij) = 0. ``probs`` must be detached; the result stays
    differentiable in ``weights``. What depends only on (p, y) is computed once per step, since the
    constraint is applied twice (first stage and final weights): on the CPU profiles' small MLP a step
    is bound by the count of small operations, not by arithmetic."""

    def __init__(self, probs: torch.Tensor, labels: torch.Tensor):
        self.mask = F.one_hot(labels, probs.shape[1]).bool()  # the target column
        self.off_target = probs.masked_fill(self.mask, 0.0)  # p_ij for j ≠ y_i, 0 at the target
        self.denominator = (1.0 - probs.gather(1, labels[:, None]))  # 1 − p_iy, (B, 1)

    def __call__(self, weights: torch.Tensor) -> torch.Tensor:
        target = (weights * self.off_target).sum(1, keepdim=True) / self.denominator
        return torch.where(self.mask, target, weights)


def zero_mean_target(weights: torch.Tensor, probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Eq. 4 once (``ZeroMeanTarget`` for a batch's two uses)."""
    return ZeroMeanTarget(probs, labels)(weights)


def default_outer_lr(num_classes: int, batch_size: int) -> float:
    """η_ω = 0.1·B·K: 100 for CIFAR-10 and 1000 for CIFAR-100 at B = 100 (the paper's values)."""
    return 0.1 * batch_size * num_classes


@dataclass(frozen=True, kw_only=True)
class GDWHyperparameters(MetaHyperparameters):
    outer_lr: float | None = hyperparameter(None, 0, None, resolved="0.1·B·K: 100 at batch 100 and 10 classes, "
                                                               "1000 at 100 classes", search=log_search(1, 1000))
    # η_ω above; None: 0.1·B·K (100 for 10 classes, 1000 at K=100); 0: MWNet's step
    clip: float = hyperparameter(0.2, 0, None, low_open=True)
    min_weight: float = hyperparameter(1e-6, 0, None, low_open=True)
    max_weight: float = hyperparameter(1e6, 0, None, low_open=True)
    prob_clamp: float = hyperparameter(0.999, 0, 1, low_open=True, high_open=True, why=PROB_CLAMP_WHY)
    vnet_lr: float = hyperparameter(1e-3, 0, None, low_open=True)
    vnet_weight_decay: float = hyperparameter(1e-4, 0, None)
    hidden: int = hyperparameter(100, 1, None)
    zero_mean: bool = True


@register_method("gdw")
class GDW(WeightingNetMixin, MetaMethodMixin, Method):
    order = 100  # row position: the paper's order
    version = 3  # 3: fused BatchNorm tangent, Eq. 4 with per-step constants; 2: the JVP replays BatchNorm (float rounding)
    graph_safe = True  # no read-back, no per-step Python state: its step can be a CUDA graph
    title = "GDW"
    color, marker = "#d62728", "*"  # its look in every figure
    paper = "Chen et al., NeurIPS 2021"
    Hyperparameters = GDWHyperparameters
    relative_cost = 3.5
    records_weights = True

    def __init__(self, networks, task, hyperparameters=None):
        super().__init__(networks, task, hyperparameters)
        self._build_weighting()
        self.outer_lr = (self.hp.outer_lr if self.hp.outer_lr is not None
                         else default_outer_lr(task.num_classes, task.batch_size))
        self.hp = dataclasses.replace(self.hp, outer_lr=self.outer_lr)  # records show the value used
        self.last_meta_grads = {}

    def train_step(self, batch, meta_batch):
        logits = self.model(batch.x)
        losses = F.cross_entropy(logits.detach(), batch.y, reduction="none")
        n, k = logits.shape
        probs = clamped_softmax(logits, self.hp.prob_clamp)  # p̃, detached
        onehot = F.one_hot(batch.y, k).to(probs.dtype)
        residual = probs - onehot  # E, as softmax_residual computes it (p̃ and the one-hot are needed too)
        constrain = ZeroMeanTarget(probs, batch.y) if self.hp.zero_mean else (lambda weights: weights)
        first_stage = constrain(self.vnet(losses).expand(n, k))  # W, graph to φ
        logit_grad = first_stage * residual / n
        dmeta, meta_loss = self.meta_gradient(batch.x, logits, logit_grad, meta_batch, self.lr)
        vnet_params = list(self.vnet.parameters())
        *vnet_grads, class_grad = pull_back(logit_grad, vnet_params + [first_stage], dmeta)
        self.last_meta_grads = {"class_level": class_grad.detach(),
                                **{f"vnet.{i}": g.detach() for i, g in enumerate(vnet_grads)}}
        self._step_weighting(vnet_grads)
        with torch.no_grad():
            step = (self.outer_lr * class_grad / class_grad.abs().sum()).clamp(-self.hp.clip, self.hp.clip)
            before = first_stage.detach()
            final = (before - step).clamp(self.hp.min_weight, self.hp.max_weight)
            final = constrain(final)
        if self.diagnostics is not None:
            self.diagnostics.observe(batch.y, batch.true_y, batch.index, before, final)
        self.apply_logit_gradient(logits, final * residual / n)
        self.last_sample_weights = (final * onehot).sum(1)  # the target entries (exact: the rest adds 0)
        self._keep_samples(losses, self.last_sample_weights, batch)
        return {"loss": losses.mean(), "meta_loss": meta_loss, "mean_target_weight": self.last_sample_weights.mean()}
