"""The replayed JVP (the first forward's layer outputs reused, docs/protocol.md §6) gives the
double-backward reference's meta-gradient, step after step, for every meta method (float64)."""
import pytest
import torch
from test_methods import META, make

from gdw_bench.methods._bilevel import ActivationRecorder, logits_jvp


def step_both_and_compare_meta_grads(fast, reference, batch, meta, label) -> None:
    """One step of each; every meta-gradient of ``fast`` equals the double-backward ``reference``'s
    (rtol 1e-6, absolute floor 1e-9 of the largest entry). Also used by the CUDA tests."""
    fast.train_step(batch, meta)
    reference.train_step(batch, meta)
    for name, ref in reference.last_meta_grads.items():
        got = fast.last_meta_grads[name]
        assert torch.allclose(got, ref, rtol=1e-6, atol=1e-9 * float(ref.abs().max())), (*label, name)


@pytest.mark.slow
@pytest.mark.parametrize("key", META)
def test_replayed_jvp_equals_double_backward_over_several_steps(key, separable_problem):
    batch, meta, k = separable_problem
    fast, reference = make(key, k), make(key, k)
    reference.meta_mode = "double_backward"
    for step in range(3):
        step_both_and_compare_meta_grads(fast, reference, batch, meta, (key, step))
        recorder = fast._activation_recorder  # installed with the method: it replays from the first step
        assert recorder is not None and recorder.can_replay(batch.x), key


@pytest.mark.parametrize("model", ["tiny_net", "mlp128bn"])
def test_replay_is_used_only_for_the_recorded_input(model, separable_problem):
    """The replayed JVP equals full forward-mode AD, through BatchNorm2d (tiny_net) and BatchNorm1d."""
    from conftest import tiny_net

    from gdw_bench.training.models import build_model

    batch, meta, k = separable_problem
    net = tiny_net(k) if model == "tiny_net" else build_model(model, k, image_shape=(2, 4, 4)).double()
    recorder = ActivationRecorder(net)
    net(batch.x).sum()
    assert recorder.can_replay(batch.x) and not recorder.can_replay(batch.x.clone())
    names = [n for n, _ in net.named_parameters()]
    params = [p for _, p in net.named_parameters()]
    gen = torch.Generator().manual_seed(1)
    tangents = [torch.randn(p.shape, generator=gen, dtype=p.dtype) for p in params]
    with recorder.paused():
        full = logits_jvp(net, names, params, tangents, batch.x)
        replayed = logits_jvp(net, names, params, tangents, batch.x, recorder)
    assert torch.allclose(full, replayed, rtol=1e-10, atol=1e-12)
    assert all("forward" not in vars(m) for m in recorder.layers)  # the layers' own forward is back


@pytest.mark.parametrize("key", META)
def test_a_channels_last_model_gives_the_contiguous_models_meta_gradients(key, separable_problem):
    """The layout ``run`` gives conv models (``models.place_model``) changes float rounding only: the
    replayed JVP of a channels-last net equals the contiguous net's double-backward reference."""
    from gdw_bench.training.models import place_model

    batch, meta, k = separable_problem
    fast, reference = make(key, k), make(key, k)
    for net in fast.networks:
        place_model(net, torch.device("cpu"), "channels_last")
    assert fast.model[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert not fast.model[0].weight.is_contiguous()
    reference.meta_mode = "double_backward"
    for step in range(3):
        step_both_and_compare_meta_grads(fast, reference, batch, meta, (key, step))
    for a, b in zip(fast.model.parameters(), reference.model.parameters()):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12), key
