"""The replayed JVP (the first forward's layer outputs reused, docs/protocol.md §6) gives the
double-backward reference's meta-gradient, step after step, for every meta method (float64)."""
import pytest
import torch

from gdw_bench.methods._bilevel import ActivationRecorder, logits_jvp
from test_methods import META, make


@pytest.mark.parametrize("key", META)
def test_replayed_jvp_equals_double_backward_over_several_steps(key, separable_problem):
    batch, meta, k = separable_problem
    fast, reference = make(key, k), make(key, k)
    reference.meta_mode = "double_backward"
    for step in range(3):
        fast.train_step(batch, meta)
        reference.train_step(batch, meta)
        recorder = fast._activation_recorder  # installed with the method: it replays from the first step
        assert recorder is not None and recorder.can_replay(batch.x), key
        for name, ref in reference.last_meta_grads.items():
            got = fast.last_meta_grads[name]
            assert torch.allclose(got, ref, rtol=1e-6, atol=1e-9 * float(ref.abs().max())), (key, step, name)


def test_replay_is_used_only_for_the_recorded_input(separable_problem):
    from conftest import tiny_net

    batch, meta, k = separable_problem
    net = tiny_net(k)
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
