"""Step-cost benchmark: one training step of every method on ResNet-32, batch 100 / meta batch 100.

Methods are timed in interleaved rounds (every method once per round, so drift in machine speed
hits all alike); the median ms per step and the ratio to BaseModel are printed. Targets from the
issue: every meta method ≤ 3.5× BaseModel; GDW ≤ 1.02× MWNet. This is a script, never a timed test.
"""
from __future__ import annotations

import statistics
import time

import torch

from gdw_bench.datasets import Batch
from gdw_bench.engine import resolve_device
from gdw_bench.models import build_model


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main(device: str = "auto", steps: int = 10, rounds: int = 3, methods: str = "all", model: str = "resnet32",
         batch: int = 100, classes: int = 10) -> dict[str, float]:
    from gdw_bench.grid import resolve_methods
    from gdw_bench.methods import create_method, get_method
    from gdw_bench.specs import get_table

    dev = resolve_device(device)
    keys = resolve_methods(methods, get_table("2"))
    if "basemodel" not in keys:
        keys = ("basemodel", *keys)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=gen).to(dev)
    y = torch.randint(0, classes, (batch,), generator=gen).to(dev)
    xm = torch.randn(batch, 3, 32, 32, generator=gen).to(dev)
    train, meta = Batch(x, y, torch.arange(batch, device=dev), y), Batch(xm, y, torch.arange(batch, device=dev))
    runners = {}
    for key in keys:
        torch.manual_seed(0)
        nets = [build_model(model, classes).to(dev) for _ in range(get_method(key).num_networks)]
        method = create_method(key, nets if len(nets) > 1 else nets[0], num_classes=classes, num_train=batch,
                               wrong_label_fraction=0.36, epochs=80, meta_size=1000)
        phase = method.phases()[-1]
        method.on_epoch_start(phase.epochs - 1, phase)  # past warm-ups: time the steady-state step
        for _ in range(2):
            method.train_step(train, meta)
        runners[key] = method
    times = {key: [] for key in keys}
    for _ in range(rounds):
        for key, method in runners.items():
            for _ in range(steps):
                _sync(dev)
                start = time.perf_counter()
                method.train_step(train, meta)
                _sync(dev)
                times[key].append(time.perf_counter() - start)
    medians = {key: statistics.median(t) * 1000 for key, t in times.items()}
    base = medians["basemodel"]
    print(f"device {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}), torch "
          f"{torch.__version__}, threads {torch.get_num_threads()}, {model}, batch {batch}/{batch}, "
          f"{rounds}×{steps} steps per method")
    print(f"{'method':12s} {'ms/step':>9s} {'× basemodel':>12s}")
    for key, ms in medians.items():
        print(f"{key:12s} {ms:9.1f} {ms / base:12.2f}")
    if "gdw" in medians and "mwnet" in medians:
        print(f"GDW / MWNet = {medians['gdw'] / medians['mwnet']:.3f}")
    return medians


if __name__ == "__main__":
    main()
