import numpy as np
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


def write_images(root, paths, size=(40, 30)):
    """Small RGB JPEGs at ``root/path`` (the loaders resize them to 224 like the real images)."""
    from PIL import Image

    for i, path in enumerate(paths):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((*size, 3), i * 7 % 255, dtype=np.uint8)).save(root / path)


def write_clothing1m_tree(root):
    """Clothing1M's released layout: 40 images, 30 noisy-train / 6 clean-val / 4 clean-test keys, the
    noisy and clean key-label lists (every clean label differs from the noisy one)."""
    keys = [f"images/{i % 3}/{i:02d}/img{i}.jpg" for i in range(40)]
    write_images(root, keys)
    (root / "noisy_label_kv.txt").write_text("".join(f"{k} {i % 14}\n" for i, k in enumerate(keys[:30])))
    (root / "clean_label_kv.txt").write_text("".join(f"{k} {(i + 1) % 14}\n" for i, k in enumerate(keys)))
    (root / "noisy_train_key_list.txt").write_text("\n".join(keys[:30]))
    (root / "clean_val_key_list.txt").write_text("\n".join(keys[30:36]))
    (root / "clean_test_key_list.txt").write_text("\n".join(keys[36:]))


SMALL_GRID = ["run", "--table", "2", "--profile", "mini", "--set", "epochs=3", "--seeds", "1,10,100",
              "--methods", "basemodel,finetune,mwnet,gdw", "--levels", "0,0.4", "--threads", "1"]


@pytest.fixture(scope="session")
def small_grid(tmp_path_factory):
    """One small trained grid shared by the tests that read results (reports, the results page):
    mini Table 2 at 3 epochs, BaseModel, Fine-tuning, MWNet and GDW, clean and 40 % uniform, 3 seeds
    (24 real cells), and Fig. 4's MWNet and GDW cells with diagnostics at 40 % (6 more); trained
    in-process once per test session. Returns the results root; tests must not write under it."""
    from click.testing import CliRunner

    from gdw_bench.cli import cli

    root = tmp_path_factory.mktemp("small_grid") / "results"
    for args in (SMALL_GRID, [*SMALL_GRID[:2], "fig4", *SMALL_GRID[3:9], "--threads", "1"]):
        outcome = CliRunner().invoke(cli, [*args, "--results-dir", str(root)])
        assert outcome.exit_code == 0, outcome.output
    return root
