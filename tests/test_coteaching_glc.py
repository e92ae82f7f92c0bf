"""Co-teaching's schedule and exchange; GLC's matrix estimate."""
import torch
import torch.nn.functional as F
from conftest import tiny_net

from gdw_bench.datasets import TensorBatches
from gdw_bench.datasets.sources import Augment
from gdw_bench.methods import create_method
from gdw_bench.methods.coteaching import forget_rate_schedule, small_loss_selection
from gdw_bench.methods.glc import estimate_corruption_matrix


def test_forget_rate_ramps_linearly_to_tau_over_the_first_ten_epochs():
    rates = forget_rate_schedule(0.36, 40, num_gradual=10)
    assert rates[0] == 0.0 and abs(rates[9] - 0.36) < 1e-12 and rates[10:] == [0.36] * 30
    assert all(abs((rates[i + 1] - rates[i]) - 0.04) < 1e-9 for i in range(9))


def test_each_network_learns_from_the_other_networks_selection(separable_problem):
    batch, _, k = separable_problem
    method = create_method("coteaching", [tiny_net(k, seed=0), tiny_net(k, seed=1)], num_classes=k, num_train=64,
                           wrong_label_fraction=0.5, epochs=20)
    phase = method.phases()[0]
    assert phase.epochs == 10  # half of the budget
    method.on_epoch_start(9, phase)
    assert abs(method.forget_rate - 0.5) < 1e-12
    net1, net2 = method.networks
    ref1 = tiny_net(k, seed=0)
    ref1.load_state_dict(net1.state_dict())
    with torch.no_grad():
        loss2 = F.cross_entropy(tiny_net(k, seed=1).train()(batch.x), batch.y, reduction="none")
    keep2 = small_loss_selection(loss2, 0.5)
    assert len(keep2) == 32
    opt = torch.optim.SGD(ref1.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    F.cross_entropy(ref1(batch.x), batch.y, reduction="none")[keep2].mean().backward()
    opt.step()
    method.train_step(batch, None)
    for a, b in zip(net1.parameters(), ref1.parameters()):
        assert torch.allclose(a, b, atol=1e-12)


class _Oracle(torch.nn.Module):
    """Predicts the true class of a one-hot-coded input with a given confidence."""

    def __init__(self, k):
        super().__init__()
        self.k, self.bias = k, torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x.flatten(1)[:, : self.k] * 20.0


def test_glc_estimate_recovers_a_known_corruption_matrix():
    k = 3
    truth = torch.tensor([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.0, 0.7]], dtype=torch.float64)
    labels = torch.arange(3000) % k
    # a model whose softmax on trusted samples of class i is exactly row i of the matrix
    logits = truth.log().clamp(min=-30)[labels]
    images = torch.zeros(3000, 1, 1, k, dtype=torch.float64)
    images[:, 0, 0, :] = logits / 20.0
    trusted = TensorBatches(images, labels, 1.0, (0.0,), (1.0,), Augment(), "cpu", dtype=torch.float64)
    estimate = estimate_corruption_matrix(_Oracle(k).double(), trusted, k, batch_size=512)
    assert torch.allclose(estimate, truth, atol=1e-6)
