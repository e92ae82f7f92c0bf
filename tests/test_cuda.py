"""On a GPU only (skipped without one; CI has none, `benchmarks/gpu_check.sh` runs them on a lent one):
a CUDA-graphed step trains exactly like the eager step, the replayed JVP equals double backward on
CUDA too, and graphed cells run through the engine like eager ones."""
import dataclasses

import pytest
import torch
from conftest import tiny_net
from test_methods import META
from test_replay import step_both_and_compare_meta_grads

from gdw_bench.core.options import RunOptions
from gdw_bench.methods import create_method, get_method, list_methods
from gdw_bench.training.cuda_graphs import GraphedSteps
from gdw_bench.training.models import place_model

pytestmark = [pytest.mark.cuda, pytest.mark.slow]  # a GPU: the full tier (make test-all)
GRAPH_SAFE = [key for key in list_methods() if get_method(key).graph_safe]


LAYOUTS = ["contiguous", "channels_last"]


def make_on_cuda(key, k, dtype=torch.float64, layout="contiguous"):
    net = place_model(tiny_net(k, seed=0).to(dtype), torch.device("cuda"), layout)
    method = create_method(key, net, num_classes=k, num_train=64, wrong_label_fraction=0.3, epochs=4, lr=0.1,
                           meta_size=32)
    phase = method.phases()[0]
    method.on_epoch_start(phase.epochs - 1, phase)
    return method


def on_cuda(batch):
    return dataclasses.replace(batch, **{f.name: getattr(batch, f.name).cuda() for f in dataclasses.fields(batch)
                                         if getattr(batch, f.name) is not None})


def sub_batch(batch, idx):
    return dataclasses.replace(batch, **{f.name: getattr(batch, f.name)[idx] for f in dataclasses.fields(batch)
                                         if getattr(batch, f.name) is not None})


def test_every_graph_safe_method_is_declared():
    assert set(GRAPH_SAFE) >= {"basemodel", "focal", "cb", "insw", "mwnet", "softlabel", "gdw"}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("key", GRAPH_SAFE)
def test_a_graphed_step_trains_exactly_like_the_eager_step(key, layout, separable_problem):
    """Two epochs of 16-sample batches (another lr each, so a fresh capture each) and a last 8-sample
    batch (eager): parameters, buffers, per-instance state, logs and kept samples agree."""
    batch, meta, k = on_cuda(separable_problem[0]), on_cuda(separable_problem[1]), separable_problem[2]
    eager, graphed = make_on_cuda(key, k, layout=layout), make_on_cuda(key, k, layout=layout)
    steps = GraphedSteps(graphed)
    gen = torch.Generator().manual_seed(0)
    for epoch in range(2):
        for method in (eager, graphed):
            method.set_learning_rate(0.1 / (epoch + 1))
        steps.new_epoch()
        order = torch.randperm(64, generator=gen).cuda()
        for start in (0, 16, 32, 48, 56):
            idx = order[start:start + (16 if start < 56 else 8)]
            b = sub_batch(batch, idx)
            m = sub_batch(meta, torch.arange(16, device="cuda") + 16 * (start // 16 % 2))
            a, g = eager.train_step(b, m), steps(b, m)
            assert a.keys() == g.keys()
            for name in a:
                assert torch.allclose(a[name].double(), g[name].double(), rtol=1e-7, atol=1e-10), (key, epoch, name)
    assert steps.failed is None and steps.captures == 2 and steps.replays >= 2, steps.summary()
    for a, g in zip(eager.state_dict()["networks"][0].values(), graphed.state_dict()["networks"][0].values()):
        assert torch.allclose(a.double(), g.double(), rtol=1e-7, atol=1e-10), key
    for name, value in eager.extra_state().items():
        if isinstance(value, torch.Tensor):
            assert torch.allclose(value.double(), graphed.extra_state()[name].double(), rtol=1e-7, atol=1e-10)
    if hasattr(eager, "_recent"):  # the weight-vs-loss figure's samples: one copy per replayed step
        assert torch.allclose(torch.cat(eager._recent), torch.cat(graphed._recent), rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("key", META)
def test_replayed_jvp_equals_double_backward_on_cuda(key, layout, separable_problem):
    batch, meta, k = on_cuda(separable_problem[0]), on_cuda(separable_problem[1]), separable_problem[2]
    fast, reference = make_on_cuda(key, k, layout=layout), make_on_cuda(key, k)  # reference: contiguous
    reference.meta_mode = "double_backward"
    for step in range(2):
        step_both_and_compare_meta_grads(fast, reference, batch, meta, (key, layout, step))


@pytest.mark.parametrize("method", ["basemodel", "gdw"])
def test_a_graphed_cell_trains_like_an_eager_cell(tmp_path, method):
    from test_engine import cell

    from gdw_bench.training.engine import run_cell

    graphed = run_cell(cell(method), tmp_path / "graphed", RunOptions(device="cuda"))
    eager = run_cell(cell(method), tmp_path / "eager", RunOptions(device="cuda", cuda_graphs=False))
    assert graphed["execution"]["cuda_graphs"] is True and eager["execution"]["cuda_graphs"] is False
    assert not graphed["notes"], graphed["notes"]
    assert graphed["curve"][0]["loss"] == pytest.approx(eager["curve"][0]["loss"], rel=1e-4)
    assert abs(graphed["score"] - eager["score"]) < 2.0
