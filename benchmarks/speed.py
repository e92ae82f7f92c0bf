"""Step-cost benchmark: one training step of every method on ResNet-32, batch 100 / meta batch 100.

Methods are timed in interleaved rounds (every method once per round, so drift in machine speed
hits all alike); the median ms per step and the ratio to BaseModel are printed. Targets from the
issue: every meta method ≤ 3.5× BaseModel; GDW ≤ 1.02× MWNet. This is a script, never a timed test.
"""
from __future__ import annotations

import os
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


def pack(device: str = "auto", counts=(1, 2, 4, 8), profile: str = "fmnist-paper", method: str = "basemodel",
         epochs: int = 2, data_dir=None) -> list[dict]:
    """Several cells sharing one device: for each N in ``counts``, N cells (seeds 1..N) of ``method``
    on the profile's Table 2 40 % column, ``epochs`` long, trained by N worker processes at once
    (what ``run --jobs N`` does). Throughput is measured in steady state, from the per-epoch times of
    epochs after the first (process start, data upload and cudnn's tuning are excluded), as
    cell-epochs per hour over all N processes; the ratio is to N = 1."""
    import dataclasses
    import statistics
    import tempfile
    from pathlib import Path

    from gdw_bench import grid
    from gdw_bench.specs import get_profile, get_table

    prof = get_profile(profile)
    dev = resolve_device(device)
    rows = []
    for n in counts:
        cells = grid.table_cells(get_table("2"), prof, tuple(range(1, n + 1)), (method,), {"0.4"})
        cells = [dataclasses.replace(c, protocol=dataclasses.replace(c.protocol, epochs=epochs)) for c in cells]
        with tempfile.TemporaryDirectory() as root:
            start = time.perf_counter()
            outcome = grid.run_grid(cells, Path(root), str(dev), data_dir, jobs=n, progress=False,
                                    threads=max(1, (os.cpu_count() or 1) // n))
            wall = time.perf_counter() - start
            if outcome.failed:
                raise RuntimeError(f"packing run N={n} failed: {outcome.failed[0][1]}")
            from gdw_bench.store import iter_records

            times = [e["epoch_time_s"] for r in iter_records(Path(root)) for e in r["curve"][1:]]
        epoch_s = statistics.median(times)
        rows.append({"n": n, "wall_s": wall, "epoch_s": epoch_s, "epochs_per_hour": n * 3600.0 / epoch_s})
    base = rows[0]["epochs_per_hour"]
    print(f"packing on {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}): {method}, "
          f"profile {profile}, {epochs} epochs per cell")
    print(f"{'N':>3s} {'wall s':>8s} {'s/epoch':>8s} {'cell-epochs/h':>14s} {'× N=1':>7s}")
    for row in rows:
        print(f"{row['n']:3d} {row['wall_s']:8.1f} {row['epoch_s']:8.2f} {row['epochs_per_hour']:14.0f} "
              f"{row['epochs_per_hour'] / base:7.2f}")
    return rows
