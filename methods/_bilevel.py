"""The one bilevel core shared by every meta method (L2RW, INSW, MWNet, Soft-label, Gen-label, GDW).

Every one of these methods learns some φ that enters training *only through the gradient at the
logits*: the training step uses G(φ) = ∂L_train/∂z (a B×K matrix built by the method), so

    θ' = θ − α · Jᵀ G(φ)            (J: Jacobian of the batch's logits z w.r.t. θ)
    ∂L_meta(θ')/∂G = −α · J v,       v = ∇θ' L_meta(θ')

and ∂L_meta/∂φ follows by backpropagating that B×K matrix through G(φ) (``pull_back``).
``J v`` is one forward-mode product (JVP, ``torch.autograd.forward_ad``) of the training logits along v: no double backward
(docs/baselines.md §0.1). The double-backward way is kept as ``mode="double_backward"``, the reference
the tests compare against.

Conventions (docs/protocol.md §6, docs/baselines.md §0):
- the virtual step is plain SGD at the current lr α: no momentum, no weight decay; parameters as a
  dict through ``torch.func.functional_call``, never a model copy;
- the meta loss is the mean CE on one meta batch at θ', BatchNorm in train mode with batch
  statistics; the real model's running statistics are never touched by the look-ahead;
- the caller's first forward (train mode, which updates the running statistics once, like the real
  forward of the authors' code) is reused for the real step: same parameters, same batch statistics,
  so its logits equal those of a second forward.
"""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ._fields import check_values, hyperparameter, rules_of

MODES = ("jvp", "double_backward")


@contextmanager
def batch_statistics_only(model: nn.Module):
    """Train-mode BatchNorm that normalises with the batch's statistics and writes no buffer."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.track_running_stats for m in norms]
    for m in norms:
        m.track_running_stats = False
    try:
        yield
    finally:
        for m, s in zip(norms, saved):
            m.track_running_stats = s


class ActivationRecorder:
    """Keeps the outputs of the model's Conv2d, Linear and BatchNorm layers from its last training
    forward, so that the JVP can replay them instead of recomputing them (docs/protocol.md §6).

    Forward-mode AD through a layer computes its primal output again besides the tangent; for a
    convolution that is one of the three convolutions it costs. The JVP is taken at the same
    parameters, batch and batch statistics as the step's first forward, so those primal outputs are
    the ones that forward produced: the recorder keeps them (detached views; the convolutions' are
    held by the autograd graph anyway, BatchNorm's cost one activation each until the step ends) and
    the replayed layers compute only the tangent, tangent_out = layer(tangent_in; W) +
    layer(primal_in; tangent_W) for convolutions and linear layers, ``_replay_batch_norm`` for
    BatchNorm. Measured on ResNet-32 (CPU, batch 100): the JVP's work besides its 61 convolutions
    went from 184 to 107 ms with BatchNorm replayed. Used only when the input given to the JVP is the
    very tensor of the recorded forward; otherwise the JVP runs in full."""

    LAYERS = (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d)

    def __init__(self, model: nn.Module):
        self.layers = [m for m in model.modules() if type(m) in self.LAYERS]
        self.pending: dict = {}
        self.outputs: dict = {}
        self.input = None
        self.recording = True
        self.handles = [m.register_forward_hook(self._keep) for m in self.layers]
        self.handles.append(model.register_forward_hook(self._commit))

    def _keep(self, module, inputs, output):
        if self.recording and torch.is_grad_enabled():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                self.pending[module] = (output.detach(), self._batch_statistics(output))
            else:
                self.pending[module] = output.detach()

    @staticmethod
    def _batch_statistics(output):
        """(μ, s) of a train-mode BatchNorm's batch, as its autograd node saved them (native kernel:
        mean and 1/√(σ²+ε)); None where another kernel (cuDNN) ran, whose saved values mean otherwise."""
        node = output.grad_fn
        if node is not None and type(node).__name__ == "NativeBatchNormBackward0" and node._saved_training:
            return node._saved_result1.detach(), node._saved_result2.detach()
        return None

    def _commit(self, model, inputs, output):
        if self.recording and torch.is_grad_enabled() and len(self.pending) == len(self.layers):
            self.outputs, self.input = self.pending, inputs[0]
        self.pending = {}

    @contextmanager
    def paused(self):
        self.recording, self.pending = False, {}
        try:
            yield
        finally:
            self.recording = True

    def can_replay(self, x: torch.Tensor) -> bool:
        return self.input is x and len(self.outputs) == len(self.layers)

    @contextmanager
    def replaying(self):
        """Within a forward-AD dual level: the recorded layers return (recorded output, tangent)."""
        for module in self.layers:
            module.forward = self._replay_forward(module)
        try:
            yield
        finally:
            for module in self.layers:
                del module.forward

    def _replay_forward(self, module):
        saved = self.outputs[module]
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            return self._replay_batch_norm(module, *saved)

        def forward(x):
            x_primal, x_tangent = fwAD.unpack_dual(x)
            w_primal, w_tangent = fwAD.unpack_dual(module.weight)
            b_tangent = fwAD.unpack_dual(module.bias).tangent if module.bias is not None else None
            if isinstance(module, nn.Conv2d):
                conv = lambda inp, w, b: F.conv2d(inp, w, b, module.stride, module.padding, module.dilation,  # noqa: E731
                                                  module.groups)
                tangent = conv(x_primal, w_tangent, b_tangent)
                if x_tangent is not None:
                    tangent = tangent + conv(x_tangent, w_primal, None)
            else:
                tangent = F.linear(x_primal, w_tangent, b_tangent)
                if x_tangent is not None:
                    tangent = tangent + F.linear(x_tangent, w_primal)
            return fwAD.make_dual(saved, tangent)

        return forward

    @staticmethod
    def _replay_batch_norm(module, saved, statistics):
        """Train-mode BatchNorm, y = γ·x̂ + β with x̂ = (x − μ)·s, s = (σ² + ε)^(−1/2) over the batch (and
        positions): its output is the recorded one, and its tangent is

            ẏ = γ·s·(ẋ − mean(ẋ) − x̂·mean(ẋ·x̂)) + γ̇·x̂ + β̇.

        The first term is the formula of BatchNorm's *backward* with ẋ in place of the output
        gradient (the layer's Jacobian in x is symmetric), so one fused ``native_batch_norm_backward``
        kernel computes it (both means and the result); the second is one per-channel affine pass over
        x, x·(s·γ̇) + (β̇ − μ·s·γ̇). Measured on ResNet-32 (CPU, batch 100, 12 paired rounds), the whole JVP
        took 286 against 323 ms channels-last (434 against 439 contiguous) compared with the same
        function written as separate mean, product and affine passes; they agree to 6e-8 (float32).
        μ and s are those the recorded forward saved for its backward, where its kernel says so."""

        def forward(x):
            if not module.training:  # running statistics: the layer's own (dual-aware) forward
                return type(module).forward(module, x)
            x_primal, x_tangent = fwAD.unpack_dual(x)
            shape = [1, -1] + [1] * (x_primal.dim() - 2)
            if statistics is not None:  # the recorded forward's (no pass over the activation)
                mean, s = statistics
            else:
                var, mean = torch.var_mean(x_primal, dim=[0, *range(2, x_primal.dim())], unbiased=False)
                s = torch.rsqrt(var + module.eps)
            gamma, gamma_t = fwAD.unpack_dual(module.weight) if module.affine else (None, None)
            beta_t = fwAD.unpack_dual(module.bias).tangent if module.affine else None
            tangent = None
            if x_tangent is not None:
                tangent = torch.ops.aten.native_batch_norm_backward(
                    x_tangent, x_primal, gamma, None, None, mean, s, True, module.eps, [True, False, False])[0]
            if gamma_t is not None or beta_t is not None:
                scale = s * gamma_t if gamma_t is not None else torch.zeros_like(s)
                shift = (beta_t if beta_t is not None else torch.zeros_like(s)) - mean * scale
                if tangent is None:
                    tangent = torch.addcmul(shift.view(shape), x_primal, scale.view(shape))
                else:  # in place: the kernel's output is this function's own
                    tangent.addcmul_(x_primal, scale.view(shape)).add_(shift.view(shape))
            if tangent is None:
                tangent = torch.zeros_like(x_primal)
            return fwAD.make_dual(saved, tangent)

        return forward


def meta_gradient_at_logit_grad(model: nn.Module, x: torch.Tensor, logits: torch.Tensor,
                                logit_grad: torch.Tensor, meta_x: torch.Tensor, meta_y: torch.Tensor,
                                lookahead_lr: float, mode: str = "jvp", virtual_step: bool = True,
                                recorder: ActivationRecorder | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (∂L_meta(θ')/∂G, L_meta) for θ' = θ − lookahead_lr · ∇θ⟨G, z(θ)⟩.

    ``logits`` must be the model's train-mode output on ``x`` with its graph (it is kept for the
    real step). ``virtual_step=False`` states that G is exactly zero (L2RW's ε = 0), so θ' = θ and
    the fast path skips the virtual backward; the reference path always builds it. ``recorder``:
    the model's ``ActivationRecorder``, whose outputs of the first forward the JVP replays.
    """
    if mode not in MODES:
        raise ValueError(f"unknown meta-gradient mode '{mode}'; valid: {', '.join(MODES)}")
    names = [n for n, _ in model.named_parameters()]
    params = [p for _, p in model.named_parameters()]
    if mode == "double_backward":
        grad_leaf = logit_grad.detach().requires_grad_(True)
        grads = torch.autograd.grad(logits, params, grad_outputs=grad_leaf, create_graph=True, retain_graph=True)
        fast = {n: p - lookahead_lr * g for n, p, g in zip(names, params, grads)}
        with batch_statistics_only(model):
            meta_loss = F.cross_entropy(functional_call(model, fast, (meta_x,)), meta_y)
        (dmeta_dgrad,) = torch.autograd.grad(meta_loss, grad_leaf)
        return dmeta_dgrad, meta_loss.detach()

    if virtual_step:
        grads = torch.autograd.grad(logits, params, grad_outputs=logit_grad.detach(), retain_graph=True)
        fast = {n: (p.detach() - lookahead_lr * g).requires_grad_(True) for n, p, g in zip(names, params, grads)}
    else:
        fast = {n: p.detach().requires_grad_(True) for n, p in zip(names, params)}
    with batch_statistics_only(model), recorder.paused() if recorder is not None else nullcontext():
        meta_loss = F.cross_entropy(functional_call(model, fast, (meta_x,)), meta_y)
        v = torch.autograd.grad(meta_loss, list(fast.values()))
        jv = logits_jvp(model, names, params, v, x,
                        recorder if recorder is not None and recorder.can_replay(x) else None)
    return -lookahead_lr * jv, meta_loss.detach()


def logits_jvp(model: nn.Module, names, params, tangents, x: torch.Tensor,
               recorder: ActivationRecorder | None = None) -> torch.Tensor:
    """J v: the directional derivative of the logits z(θ; x) along ``tangents``, by forward-mode AD
    (dual tensors through ``functional_call``). Exact, like ``torch.func.jvp``, at about half its
    Python overhead on small networks (measured: MLP 0.32 vs 0.62 ms, small CNN 4.7 vs 6.4 ms).
    With a ``recorder`` that holds this forward's outputs, its convolutions and linear layers compute
    only their tangents (``ActivationRecorder``)."""
    with fwAD.dual_level():
        duals = {n: fwAD.make_dual(p.detach(), t) for n, p, t in zip(names, params, tangents)}
        if recorder is None:
            return fwAD.unpack_dual(functional_call(model, duals, (x,))).tangent
        with recorder.replaying():
            return fwAD.unpack_dual(functional_call(model, duals, (x,))).tangent


def pull_back(logit_grad: torch.Tensor, inputs, dmeta_dgrad: torch.Tensor, retain_graph: bool = False):
    """∂L_meta/∂φ for each φ in ``inputs``: backpropagate ∂L_meta/∂G through G(φ)."""
    return torch.autograd.grad(logit_grad, list(inputs), grad_outputs=dmeta_dgrad, retain_graph=retain_graph)


def clamped_softmax(logits: torch.Tensor, clamp: float | None = None) -> torch.Tensor:
    """p̃ = softmax(z), detached; ``clamp`` caps it (the authors' 0.999 for MWNet/GDW, so that
    1 − p_y ≥ 1e-3)."""
    p = torch.softmax(logits.detach(), dim=1)
    return p.clamp(max=clamp) if clamp is not None else p


def softmax_residual(logits: torch.Tensor, labels: torch.Tensor, clamp: float | None = None) -> torch.Tensor:
    """E = p̃ − onehot(y), detached: ∂CE/∂z per sample (``clamped_softmax``)."""
    p = clamped_softmax(logits, clamp)
    return p - F.one_hot(labels, logits.shape[1]).to(p.dtype)


META_MODES = ("jvp", "double_backward")
# Why p̃ is clamped below 1 (GDW and MWNet): the error of a prob_clamp outside (0, 1) says it.
PROB_CLAMP_WHY = "at 1 the zero-mean constraint divides by zero; the paper's value is 0.999"


@dataclass(frozen=True, kw_only=True)
class MetaHyperparameters:
    """The hyperparameter every meta method has (its own dataclass derives from this one).

    ``meta_mode``: how the meta-gradient through the look-ahead step is computed — "jvp" (an exact
    forward-mode product, the fast default) or "double_backward" (the authors' route; the reference
    the tests compare against). Both give the same numbers up to float rounding; it is part of a
    cell's identity, so records say which one produced them."""

    meta_mode: str = hyperparameter("jvp", choices=META_MODES)

    def __post_init__(self):
        """Built directly (not through ``hyperparameters_of``), every field still meets what it declares:
        ``meta_mode`` its choices, ``prob_clamp`` and the rest their ranges — the same check, the same lines."""
        check_values(type(self).__name__, rules_of(type(self)), dataclasses.asdict(self))


class MetaMethodMixin:
    """Bits every meta method shares: the meta-gradient mode and the last meta-gradients.

    ``meta_mode``: the hyperparameter ``hp.meta_mode`` (see ``MetaHyperparameters``).
    ``last_meta_grads``: ∂L_meta/∂φ of the last step, by name (tests compare the two modes).
    """

    needs_meta_set = True
    Hyperparameters = MetaHyperparameters
    replay_activations = True  # the JVP replays the first forward's layer outputs (tests switch it off)

    @property
    def meta_mode(self) -> str:
        return self.hp.meta_mode

    @meta_mode.setter
    def meta_mode(self, mode: str) -> None:
        self.hp = dataclasses.replace(self.hp, meta_mode=mode)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Installed with the method, so that every step (the first, and the first after a resume)
        # replays: a run resumed from a checkpoint then ends bit-identical to an uninterrupted one.
        self._activation_recorder = ActivationRecorder(self.model) if self.replay_activations else None

    def meta_gradient(self, x, logits, logit_grad, meta_batch, lookahead_lr, virtual_step=True):
        return meta_gradient_at_logit_grad(self.model, x, logits, logit_grad, meta_batch.x, meta_batch.y,
                                           lookahead_lr, self.meta_mode, virtual_step, self._activation_recorder)
