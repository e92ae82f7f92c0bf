import pytest
import torch

from gdw_bench.datasets import Batch


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="no CUDA device")
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def separable_problem():
    """A linearly separable 4-class toy problem on 2×4×4 images (float64), with a clean meta set."""
    gen = torch.Generator().manual_seed(0)
    k, n = 4, 64
    centers = torch.randn(k, 2, 4, 4, generator=gen, dtype=torch.float64) * 2
    y = torch.arange(n) % k
    x = centers[y] + 0.3 * torch.randn(n, 2, 4, 4, generator=gen, dtype=torch.float64)
    ym = torch.arange(32) % k
    xm = centers[ym] + 0.3 * torch.randn(32, 2, 4, 4, generator=gen, dtype=torch.float64)
    return Batch(x, y, torch.arange(n), y.clone()), Batch(xm, ym, torch.arange(32)), k


def tiny_net(k: int = 4, in_channels: int = 2, seed: int = 0, dtype=torch.float64):
    """A small conv net with BatchNorm (so the BN handling of the look-ahead is exercised)."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Conv2d(in_channels, 6, 3, padding=1), torch.nn.BatchNorm2d(6), torch.nn.ReLU(),
                              torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(6, k))
    return net.to(dtype)
