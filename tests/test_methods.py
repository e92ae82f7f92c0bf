"""Methods checked against their equations, parametrised over the registry where it applies."""
import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import tiny_net

from gdw_bench.datasets import Batch
from gdw_bench.errors import UserInputError
from gdw_bench.methods import create_method, get_method, list_methods
from gdw_bench.methods._bilevel import batch_statistics_only, meta_gradient_at_logit_grad
from gdw_bench.methods.gdw import zero_mean_target
from gdw_bench.methods.genlabel import kl_logit_gradient
from gdw_bench.methods.glc import corrected_nll

META = [k for k in list_methods() if get_method(k).needs_meta_set and hasattr(get_method(k), "meta_mode")]


def make(key, k=4, seed=0, **hp):
    net = tiny_net(k, seed=seed)
    nets = [net] + [tiny_net(k, seed=seed + i) for i in range(1, get_method(key).num_networks)]
    method = create_method(key, nets if len(nets) > 1 else net, num_classes=k, num_train=64,
                           wrong_label_fraction=0.3, epochs=4, lr=0.1, meta_size=32, **hp)
    phase = method.phases()[0]
    method.on_epoch_start(phase.epochs - 1, phase)  # past any warm-up (Gen-label)
    return method


def test_registry_lists_all_methods_and_suggests_close_keys():
    assert set(list_methods()) >= {"basemodel", "finetune", "focal", "cb", "coteaching", "glc", "l2rw", "insw",
                                   "mwnet", "softlabel", "genlabel", "gdw", "gdw-nozm"}
    with pytest.raises(UserInputError, match="did you mean 'mwnet'"):
        get_method("mwnett")
    with pytest.raises(UserInputError, match="unknown hyperparameter"):
        create_method("gdw", tiny_net(), num_classes=4, num_train=8, eta=3)


def test_zero_mean_constraint_holds_for_every_instance():
    gen = torch.Generator().manual_seed(0)
    weights = torch.rand(16, 10, generator=gen, dtype=torch.float64)
    probs = torch.softmax(torch.randn(16, 10, generator=gen, dtype=torch.float64) * 3, 1).clamp(max=0.999)
    labels = torch.randint(0, 10, (16,), generator=gen)
    constrained = zero_mean_target(weights, probs, labels)
    residual = probs - F.one_hot(labels, 10).double()
    assert torch.allclose((constrained * residual).sum(1), torch.zeros(16, dtype=torch.float64), atol=1e-12)
    off_target = ~F.one_hot(labels, 10).bool()
    assert torch.equal(constrained[off_target], weights[off_target])  # only the target entry changes
    equal = torch.full((16, 10), 0.7, dtype=torch.float64)  # equal weights: W_t = w (p unclamped)
    probs_free = torch.softmax(torch.randn(16, 10, generator=gen, dtype=torch.float64), 1)
    assert torch.allclose(zero_mean_target(equal, probs_free, labels), equal)


@pytest.mark.parametrize("key", META)
def test_jvp_meta_gradient_equals_double_backward(key, separable_problem):
    batch, meta, k = separable_problem
    grads = {}
    for mode in ("jvp", "double_backward"):
        method = make(key, k)
        method.meta_mode = mode
        method.train_step(batch, meta)
        grads[mode] = method.last_meta_grads
        assert grads[mode], f"{key} recorded no meta-gradient"
    for name, fast in grads["jvp"].items():
        ref = grads["double_backward"][name]
        assert ref.abs().max() > 0
        assert torch.allclose(fast, ref, rtol=1e-6, atol=1e-9 * float(ref.abs().max())), (key, name)


def test_meta_gradient_against_finite_differences(separable_problem):
    """∂L_meta/∂G from the core against a central difference of L_meta(θ − α Jᵀ G)."""
    batch, meta, k = separable_problem
    net = tiny_net(k)
    net.train()
    logits = net(batch.x)
    gen = torch.Generator().manual_seed(3)
    grad_at_logits = torch.randn(logits.shape, generator=gen, dtype=torch.float64) * 0.05
    c, _ = meta_gradient_at_logit_grad(net, batch.x, logits, grad_at_logits, meta.x, meta.y, 0.1)
    direction = torch.randn(logits.shape, generator=gen, dtype=torch.float64)

    def meta_loss(g):
        with batch_statistics_only(net):
            z = net(batch.x)
            params = list(net.parameters())
            step = torch.autograd.grad(z, params, g)
            fast = {n: p - 0.1 * s for (n, p), s in zip(net.named_parameters(), step)}
            return F.cross_entropy(torch.func.functional_call(net, fast, (meta.x,)), meta.y)

    h = 1e-5
    numeric = (meta_loss(grad_at_logits + h * direction) - meta_loss(grad_at_logits - h * direction)) / (2 * h)
    assert float((c * direction).sum()) == pytest.approx(float(numeric.detach()), rel=1e-5)


def test_look_ahead_leaves_batchnorm_running_statistics_alone(separable_problem):
    batch, meta, k = separable_problem
    method = make("gdw", k)
    bn = method.model[1]
    before = bn.running_mean.clone()
    expected = tiny_net(k)
    expected.train()
    expected(batch.x)  # exactly one train-mode forward's worth of running-statistics update
    method.train_step(batch, meta)
    assert not torch.equal(bn.running_mean, before)
    assert torch.allclose(bn.running_mean, expected[1].running_mean)
    assert int(bn.num_batches_tracked) == 1


def test_gdw_with_zero_outer_lr_trains_its_net_like_mwnet_and_steps_with_first_stage_weights(separable_problem):
    batch, meta, k = separable_problem
    gdw, mw = make("gdw", k, outer_lr=0.0), make("mwnet", k)
    mw.vnet.load_state_dict(gdw.vnet.state_dict())
    model_before = copy.deepcopy(gdw.model)
    vnet_before = copy.deepcopy(gdw.vnet)
    gdw.train_step(batch, meta)
    mw.train_step(batch, meta)
    for a, b in zip(gdw.vnet.parameters(), mw.vnet.parameters()):  # same Adam step on φ
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-10)
    # GDW's real step used the constrained first-stage weights of the *old* net (Eq. 11, zero step)
    ref_model = model_before
    opt = torch.optim.SGD(ref_model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    logits = ref_model(batch.x)
    probs = torch.softmax(logits.detach(), 1).clamp(max=0.999)
    residual = probs - F.one_hot(batch.y, k).double()
    losses = F.cross_entropy(logits.detach(), batch.y, reduction="none")
    with torch.no_grad():
        w = zero_mean_target(vnet_before(losses).expand(-1, k), probs, batch.y)
    logits.backward(w * residual / len(batch))
    opt.step()
    for a, b in zip(gdw.model.parameters(), ref_model.parameters()):
        assert torch.allclose(a, b, atol=1e-12)
    # MWNet instead stepped with the *updated* net's weights: its model differs from GDW's
    assert any(not torch.allclose(a, b) for a, b in zip(gdw.model.parameters(), mw.model.parameters()))


def test_l2rw_weights_are_non_negative_and_sum_to_one(separable_problem):
    batch, meta, k = separable_problem
    method = make("l2rw", k)
    method.train_step(batch, meta)
    w = method.last_weights
    assert (w >= 0).all() and float(w.sum()) == pytest.approx(1.0)
    raw = (-method.last_meta_grads["eps"]).clamp(min=0)  # w̃ = max(−∂L_meta/∂ε, 0)
    assert torch.allclose(w, raw / raw.sum())


@pytest.mark.parametrize("key,attr", [("insw", "instance_weights"), ("softlabel", "smoothing"),
                                      ("genlabel", "label_logits")])
def test_per_instance_state_follows_the_sample_indices(key, attr, separable_problem):
    batch, meta, k = separable_problem
    method = make(key, k)
    half = Batch(batch.x[:32], batch.y[:32], batch.index[:32] + 10, batch.true_y[:32])  # indices 10..41
    method.train_step(half, meta)
    state = getattr(method, attr)
    touched = torch.zeros(len(state), dtype=torch.bool)
    touched[10:42] = True
    initial = {"insw": 1.0, "softlabel": 0.0}.get(key)
    if initial is not None:
        assert (state[~touched] == initial).all()
        assert next(iter(method.last_meta_grads.values())).abs().sum() > 0  # (a clip may keep a at 0)
    else:
        assert (state[~touched] == 0).all() and (state[touched].abs().sum(1) > 0).all()
    # a permuted batch updates the same rows: state is keyed by index, not by position
    a, b = make(key, k), make(key, k)
    perm = torch.randperm(32, generator=torch.Generator().manual_seed(0))
    a.train_step(half, meta)
    b.train_step(Batch(half.x[perm], half.y[perm], half.index[perm], half.true_y[perm]), meta)
    assert torch.allclose(getattr(a, attr), getattr(b, attr), atol=1e-8)


@pytest.mark.parametrize("key", list_methods())
def test_a_step_decreases_the_training_objective_on_a_separable_problem(key, separable_problem):
    batch, meta, k = separable_problem
    method = make(key, k)
    method.set_learning_rate(0.05)
    type(method).prepare_for_step_test(method, k)  # e.g. GLC: its corrected phase
    before = [F.cross_entropy(net.eval()(batch.x), batch.y).item() for net in method.networks]
    for net in method.networks:
        net.train()
    for _ in range(5):
        method.train_step(batch, meta)
    after = [F.cross_entropy(net.eval()(batch.x), batch.y).item() for net in method.networks]
    assert all(a < b for a, b in zip(after, before)), (key, before, after)


@pytest.mark.parametrize("key", list_methods())
def test_state_dict_round_trip_reproduces_the_next_step(key, separable_problem):
    batch, meta, k = separable_problem
    a = make(key, k)
    a.train_step(batch, meta)
    state = copy.deepcopy(a.state_dict())
    b = make(key, k, seed=5)
    b.load_state_dict(state)
    if hasattr(a, "meta_mode"):
        b.on_epoch_start(*_last_epoch(b))
    a.train_step(batch, meta)
    b.train_step(batch, meta)
    for net_a, net_b in zip(a.networks, b.networks):
        for pa, pb in zip(net_a.parameters(), net_b.parameters()):
            assert torch.equal(pa, pb)


def _last_epoch(method):
    phase = method.phases()[0]
    return phase.epochs - 1, phase


def test_analytic_logit_gradients_match_autograd():
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(8, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    yhat = torch.randn(8, 5, generator=gen, dtype=torch.float64)
    log_p = F.log_softmax(z, 1)
    kl = (log_p.exp() * (log_p - F.log_softmax(yhat, 1))).sum()
    (auto,) = torch.autograd.grad(kl, z)
    p = log_p.detach().exp()
    assert torch.allclose(kl_logit_gradient(p, log_p.detach(), yhat), auto, atol=1e-12)
    # GLC's log-space corrected loss against the direct formula and its gradient
    matrix = torch.softmax(torch.randn(5, 5, generator=gen, dtype=torch.float64), 1)
    labels = torch.randint(0, 5, (8,), generator=gen)
    direct = -torch.log((torch.softmax(z, 1) * matrix[:, labels].T).sum(1))
    ours = corrected_nll(z, labels, matrix)
    assert torch.allclose(ours, direct)
    (g_ours,) = torch.autograd.grad(ours.sum(), z)
    (g_direct,) = torch.autograd.grad(direct.sum(), z)
    assert torch.allclose(g_ours, g_direct)


def test_class_balanced_weights_and_focal_reduce_to_ce():
    from gdw_bench.methods.cb import class_balanced_weights
    from gdw_bench.methods.focal import focal_loss

    w = class_balanced_weights([4900, 49], 0.9999)
    assert float(w.sum()) == pytest.approx(2.0) and float(w[1] / w[0]) == pytest.approx(79.3, rel=0.01)
    assert torch.allclose(class_balanced_weights([100, 100, 100], 0.9999), torch.ones(3, dtype=torch.float64))
    z, y = torch.randn(6, 4, dtype=torch.float64), torch.arange(6) % 4
    assert torch.allclose(focal_loss(z, y, 0.0), F.cross_entropy(z, y))
