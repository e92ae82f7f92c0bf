"""Step-cost benchmark: one training step of every method on ResNet-32, batch 100 / meta batch 100.

Methods are timed in interleaved rounds (every method once per round, every other round in reverse
order, so drift in machine speed hits all alike); the median ms per step and the median of the
per-round ratios to BaseModel are printed. Targets from the
issue: every meta method ≤ 3.5× BaseModel; GDW ≤ 1.02× MWNet. This is a script, never a timed test.
"""
from __future__ import annotations

import dataclasses
import os
import statistics
import tempfile
import time
from math import comb
from pathlib import Path

import torch

from gdw_bench.core.options import RunOptions
from gdw_bench.datasets import Batch
from gdw_bench.execution.execute import InProcess, Pool, execute
from gdw_bench.methods import create_method, get_method
from gdw_bench.methods._bilevel import ActivationRecorder, batch_statistics_only, logits_jvp, softmax_residual
from gdw_bench.methods._weighting import build_weighting
from gdw_bench.plan import grid
from gdw_bench.plan.config import get_profile
from gdw_bench.plan.grid import resolve_methods
from gdw_bench.plan.specs import get_table
from gdw_bench.storage.store import iter_records
from gdw_bench.training import cpu_tuning
from gdw_bench.training.cuda_graphs import WARMUP_STEPS, GraphedSteps
from gdw_bench.training.engine import cosine_lr, prepared_data, resolve_device, run_cell
from gdw_bench.training.models import build_model, place_model, preferred_memory_format

META_TARGET_METHODS = ("l2rw", "insw", "mwnet", "softlabel", "genlabel", "gdw")  # the speed targets
META_STEP_TARGET = 3.5  # × a plain step
GDW_OVER_MWNET_TARGET = 1.02


def median_interval(values, confidence: float = 0.95):
    """A distribution-free confidence interval of the median of ``values``: the order statistics
    x_(k) and x_(n+1−k) with the largest k for which P(Binomial(n, ½) < k) ≤ (1 − confidence)/2. It
    assumes only independent rounds; (None, None) when n is too small (n < 6 at 95 %)."""

    data, n = sorted(values), len(values)
    tail, k, cumulative = (1 - confidence) / 2, 0, 0.0
    while k < n and cumulative + comb(n, k) / 2 ** n <= tail:
        cumulative += comb(n, k) / 2 ** n
        k += 1
    if k == 0:
        return None, None
    return data[k - 1], data[n - k]


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_steps(step, train, meta, steps: int, dev) -> float:
    """Seconds per step over ``steps`` consecutive steps (one device sync at each end: the GPU may run
    ahead of the CPU between steps, as in training)."""
    _sync(dev)
    start = time.perf_counter()
    for _ in range(steps):
        step(train, meta)
    _sync(dev)
    return (time.perf_counter() - start) / steps


def main(device: str = "auto", steps: int = 10, rounds: int = 3, methods: str = "all", model: str = "resnet32",
         batch: int = 100, classes: int = 10, graphs: bool = False, memory_format: str | None = None) -> dict[str, float]:
    """ms per step of each method and its ratio to BaseModel. ``graphs`` (CUDA): also each graph-safe
    method's step replayed as a CUDA graph (``gdw_bench.training.cuda_graphs``, as ``run`` trains it).
    ``memory_format``: the models' layout (None: the one ``run`` uses, ``models.place_model``)."""

    dev = resolve_device(device)
    cpu_tuning.apply()  # as run_cell does
    graphs = graphs and dev.type == "cuda"
    keys = resolve_methods(methods, get_table("2"))
    if "basemodel" not in keys:
        keys = ("basemodel", *keys)
    if "gdw" in keys and "mwnet" in keys:  # GDW right after MWNet: the pair compared to 2 % is timed back to back
        keys = tuple(k for k in keys if k != "gdw")
        keys = keys[:keys.index("mwnet") + 1] + ("gdw",) + keys[keys.index("mwnet") + 1:]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, 32, 32, generator=gen).to(dev)
    y = torch.randint(0, classes, (batch,), generator=gen).to(dev)
    xm = torch.randn(batch, 3, 32, 32, generator=gen).to(dev)
    train, meta = Batch(x, y, torch.arange(batch, device=dev), y), Batch(xm, y, torch.arange(batch, device=dev))
    runners = {}
    for key in keys:
        torch.manual_seed(0)
        nets = [place_model(build_model(model, classes), dev, memory_format)
                for _ in range(get_method(key).num_networks)]
        layout = memory_format or preferred_memory_format(nets[0], dev)
        method = create_method(key, nets if len(nets) > 1 else nets[0], num_classes=classes, num_train=batch,
                               wrong_label_fraction=0.36, epochs=80, meta_size=1000)
        phase = method.phases()[-1]
        method.on_epoch_start(phase.epochs - 1, phase)  # past warm-ups: time the steady-state step
        for _ in range(2):
            method.train_step(train, meta)
        runners[key] = [("eager", method.train_step)]
        if graphs and method.graph_safe:
            graphed = GraphedSteps(method)
            for _ in range(WARMUP_STEPS + 2):  # eager warm-up, capture, one replay
                graphed(train, meta)
            runners[key].append(("graph", graphed))
    times = {(key, kind): [] for key, steps_of in runners.items() for kind, _ in steps_of}
    for round_index in range(rounds):
        # every other round in reverse order (A B … B A): a drift of the machine's speed within a round
        # then weighs on every method alike instead of on the last ones
        order = list(runners.items())
        for key, steps_of in order if round_index % 2 == 0 else reversed(order):
            for kind, step in steps_of:
                times[key, kind].append(_time_steps(step, train, meta, steps, dev))
    medians = {key: statistics.median(t) * 1000 for key, t in times.items()}

    def paired(key, to) -> list[float]:
        """Each round's ratio: paired, so the machine's drift between rounds (±10 % here) cancels; the
        medians of the times alone would not."""
        return [a / b for a, b in zip(times[key], times[to])]

    def ratio(key, to) -> float:
        return statistics.median(paired(key, to))

    def interval(key, to) -> str:
        low, high = median_interval(paired(key, to))
        return f"[{low:.2f}, {high:.2f}]" if low is not None else "[n/a]"

    print(f"device {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}), torch "
          f"{torch.__version__}, threads {torch.get_num_threads()}, {model} ({layout}), batch {batch}/{batch}, "
          f"{rounds}×{steps} steps per method")
    header = f"{'method':12s} {'ms/step':>9s} {'× basemodel':>12s} {'95 % CI':>14s}"
    print(header + (f" {'graphed ms':>11s} {'× graphed base':>15s} {'graph speed-up':>15s}" if graphs else ""))
    for key in runners:
        line = (f"{key:12s} {medians[key, 'eager']:9.1f} {ratio((key, 'eager'), ('basemodel', 'eager')):12.2f} "
                f"{interval((key, 'eager'), ('basemodel', 'eager')):>14s}")
        if graphs and (key, "graph") in medians:
            line += (f" {medians[key, 'graph']:11.2f} {ratio((key, 'graph'), ('basemodel', 'graph')):15.2f} "
                     f"{ratio((key, 'eager'), (key, 'graph')):15.2f}")
        elif graphs:
            line += f" {'(eager: not graph-safe)':>43s}"
        print(line)
    gdw_over_mwnet = None
    if "gdw" in runners and "mwnet" in runners:
        gdw_over_mwnet = ratio(("gdw", "eager"), ("mwnet", "eager"))
        low, high = median_interval(paired(("gdw", "eager"), ("mwnet", "eager")))
        line = f"GDW / MWNet = {gdw_over_mwnet:.3f}" + (f" (95 % CI {low:.3f}–{high:.3f})" if low is not None else "")
        if graphs:
            line += f" (graphed {ratio(('gdw', 'graph'), ('mwnet', 'graph')):.3f})"
        print(line)
    print("(ratios: the median over rounds of each round's ratio; CI: distribution-free, of that median)")
    meta = [key for key in runners if key in META_TARGET_METHODS]
    if meta:
        worst = max(meta, key=lambda key: ratio((key, "eager"), ("basemodel", "eager")))
        worst_ratio = ratio((worst, "eager"), ("basemodel", "eager"))
        verdict = (f"targets: meta step ≤ {META_STEP_TARGET}× plain: "
                   f"{'met' if worst_ratio <= META_STEP_TARGET else 'NOT met'} (highest: {worst} {worst_ratio:.2f})")
        if gdw_over_mwnet is not None:
            verdict += (f"; GDW / MWNet ≤ {GDW_OVER_MWNET_TARGET}: "
                        f"{'met' if gdw_over_mwnet <= GDW_OVER_MWNET_TARGET else 'NOT met'} ({gdw_over_mwnet:.3f})")
        print(verdict)
    return {f"{key}" if kind == "eager" else f"{key}+graph": ms for (key, kind), ms in medians.items()}


if __name__ == "__main__":
    main()


def pack(device: str = "auto", counts=(1, 2, 4, 8), profile: str = "fmnist-paper", method: str = "basemodel",
         epochs: int = 2, data_dir=None, cuda_graphs: bool = True) -> list[dict]:
    """Several cells sharing one device: for each N in ``counts``, N cells (seeds 1..N) of ``method``
    on the profile's Table 2 40 % column, ``epochs`` long, trained by N worker processes at once
    (what ``run --jobs N`` does). Throughput is measured in steady state, from the per-epoch times of
    epochs after the first (process start, data upload and cudnn's tuning are excluded), as
    cell-epochs per hour over all N processes; the ratio is to N = 1."""


    prof = get_profile(profile)
    dev = resolve_device(device)
    print(f"packing on {dev} ({torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}): {method}, "
          f"profile {profile}, {epochs} epochs per cell" + (", CUDA graphs" if cuda_graphs and dev.type == "cuda" else ""),
          flush=True)
    print(f"{'N':>3s} {'wall s':>8s} {'s/epoch':>8s} {'cell-epochs/h':>14s} {'× N=1':>7s}", flush=True)
    rows = []
    for n in counts:
        cells = grid.table_cells(get_table("2"), prof, tuple(range(1, n + 1)), (method,), {"0.4"})
        cells = [dataclasses.replace(c, protocol=dataclasses.replace(c.protocol, epochs=epochs)) for c in cells]
        with tempfile.TemporaryDirectory() as root:
            start = time.perf_counter()
            options = RunOptions(device=str(dev), data_dir=str(data_dir) if data_dir else None,
                                 threads=max(1, (os.cpu_count() or 1) // n), cuda_graphs=cuda_graphs)
            outcome = execute(cells, Path(root), options, Pool(n) if n > 1 else InProcess(), progress=False)
            wall = time.perf_counter() - start
            if outcome.failed:
                raise RuntimeError(f"packing run N={n} failed: {outcome.failed[0][1]}")

            times = [e["epoch_time_s"] for r in iter_records(Path(root)) for e in r["curve"][1:]]
        epoch_s = statistics.median(times)
        row = {"n": n, "wall_s": wall, "epoch_s": epoch_s, "epochs_per_hour": n * 3600.0 / epoch_s}
        rows.append(row)
        # each row as soon as it is measured: a run stopped at a time limit keeps the rows it has
        print(f"{row['n']:3d} {row['wall_s']:8.1f} {row['epoch_s']:8.2f} {row['epochs_per_hour']:14.0f} "
              f"{row['epochs_per_hour'] / rows[0]['epochs_per_hour']:7.2f}", flush=True)
    return rows


def phases(device: str = "auto", model: str = "resnet32", batch: int = 100, classes: int = 10, steps: int = 10,
           image_shape=(3, 32, 32), memory_format: str | None = None) -> dict[str, float]:
    """Per-phase cost of one GDW/MWNet-style meta step (median ms over ``steps``), beside a plain
    step: the same primitives ``_bilevel`` uses, timed one by one (with a device sync around each)."""
    import torch.nn.functional as F
    from torch.func import functional_call


    dev = resolve_device(device)
    cpu_tuning.apply()  # as run_cell does
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *image_shape, generator=gen).to(dev)
    y = torch.randint(0, classes, (batch,), generator=gen).to(dev)
    xm = torch.randn(batch, *image_shape, generator=gen).to(dev)
    torch.manual_seed(0)
    net = place_model(build_model(model, classes, image_shape[0], image_shape=image_shape), dev, memory_format)
    vnet, vopt = build_weighting(net, 1e-3, 1e-4)
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    names = [n for n, _ in net.named_parameters()]
    params = [p for _, p in net.named_parameters()]
    recorder = ActivationRecorder(net)  # keeps the first forward's layer outputs for the replayed JVP
    times: dict[str, list[float]] = {}

    def timed(name, fn):
        _sync(dev)
        start = time.perf_counter()
        out = fn()
        _sync(dev)
        times.setdefault(name, []).append(time.perf_counter() - start)
        return out

    for step in range(steps + 2):  # two warm-up steps, not counted
        def plain():
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        timed("plain step", plain)
        logits = timed("first forward", lambda: net(x))
        residual = softmax_residual(logits, y, 0.999)
        losses = F.cross_entropy(logits.detach(), y, reduction="none")
        weights = vnet(losses)
        logit_grad = weights * residual / batch
        grads = timed("virtual backward", lambda: torch.autograd.grad(logits, params, grad_outputs=logit_grad.detach(),
                                                                      retain_graph=True))
        fast = {n: (p.detach() - 0.1 * g).requires_grad_(True) for n, p, g in zip(names, params, grads)}
        with batch_statistics_only(net), recorder.paused():
            meta_loss = timed("meta forward", lambda: F.cross_entropy(functional_call(net, fast, (xm,)), y))
            v = timed("meta backward", lambda: torch.autograd.grad(meta_loss, list(fast.values())))
            timed("JVP, recomputed", lambda: logits_jvp(net, names, params, v, x))  # for comparison only
            assert recorder.can_replay(x)
            jv = timed("JVP, replayed", lambda: logits_jvp(net, names, params, v, x, recorder))

        def pull_back_and_adam():
            vgrads = torch.autograd.grad(logit_grad, list(vnet.parameters()), grad_outputs=-0.1 * jv)
            for p, g in zip(vnet.parameters(), vgrads):
                p.grad = g
            vopt.step()
        timed("pull-back + Adam", pull_back_and_adam)

        def real_step():
            opt.zero_grad(set_to_none=True)
            logits.backward(logit_grad.detach())
            opt.step()
        timed("real backward + SGD", real_step)
    medians = {name: statistics.median(t[2:]) * 1000 for name, t in times.items()}
    plain_ms = medians["plain step"]
    meta_total = sum(ms for name, ms in medians.items() if name not in ("plain step", "JVP, recomputed"))
    print(f"phases of one meta step on {dev}, {model} ({memory_format or preferred_memory_format(net, dev)}), "
          f"batch {batch}/{batch}, threads {torch.get_num_threads()}, "
          f"median of {steps} steps")
    print(f"{'phase':22s} {'ms':>9s} {'× plain':>8s}")
    for name, ms in medians.items():
        print(f"{name:22s} {ms:9.1f} {ms / plain_ms:8.2f}")
    print(f"{'meta step (sum)':22s} {meta_total:9.1f} {meta_total / plain_ms:8.2f}  (with the replayed JVP, as the "
          f"methods run it)")
    return medians


def engine_overhead(profile: str = "fmnist", epochs: int | None = None, device: str = "cpu", data_dir=None) -> dict:
    """An epoch of ``run`` (the engine: data, checkpoints, records, evaluation of the test and training
    splits) against a bare PyTorch loop doing the same steps and evaluations on the same model and data,
    for BaseModel on ``profile``'s Table 2 40 % cell. Both in this process, interleaved, ``epochs`` each
    (default: the profile's, so a cell's fixed costs — building the model, writing the record — are
    spread as in a real run)."""

    import torch.nn.functional as F


    prof = get_profile(profile)
    dev = resolve_device(device)
    cpu_tuning.apply()  # before the bare loop too, so both run under the same settings
    cell = grid.table_cells(get_table("2"), prof, (1,), ("basemodel",), {"0.4"})[0]
    epochs = epochs or cell.protocol.epochs
    cell = dataclasses.replace(cell, protocol=dataclasses.replace(cell.protocol, epochs=epochs))
    p = cell.protocol
    data = prepared_data(cell, dev, data_dir)

    def bare() -> float:
        torch.manual_seed(cell.train_seed)
        shape = tuple(data.train.images.shape[1:])
        net = place_model(build_model(p.model, data.num_classes, shape[0], image_shape=shape), dev)  # as the engine
        opt = torch.optim.SGD(net.parameters(), lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay)
        images, labels = data.train.images, data.train.labels
        start = time.perf_counter()
        for epoch in range(epochs):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(p.lr, epoch, epochs)
            order = torch.randperm(len(labels), device=dev)
            for i in range(0, len(labels), p.batch_size):
                idx = order[i:i + p.batch_size]
                loss = F.cross_entropy(net(images[idx]), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            net.eval()
            with torch.no_grad():
                for split in (data.test, data.train):
                    for j in range(0, len(split), p.eval_batch_size):
                        net(split.images[j:j + p.eval_batch_size]).argmax(1)
            net.train()
        _sync(dev)
        return (time.perf_counter() - start) / epochs

    def engine() -> float:
        with tempfile.TemporaryDirectory() as root:
            start = time.perf_counter()
            run_cell(cell, Path(root), RunOptions(device=str(dev), data_dir=str(data_dir) if data_dir else None))
            return (time.perf_counter() - start) / epochs

    bare(), engine()  # warm-up: caches, allocator, first-call costs
    pairs = [(bare(), engine()) for _ in range(3)]
    bare_s = statistics.median(b for b, _ in pairs)
    engine_s = statistics.median(e for _, e in pairs)
    print(f"engine overhead on {dev}, profile {profile}, BaseModel, {epochs} epochs × 3 interleaved runs, "
          f"threads {torch.get_num_threads()}")
    print(f"bare loop {bare_s * 1000:.1f} ms/epoch, engine {engine_s * 1000:.1f} ms/epoch, "
          f"overhead {100 * (engine_s / bare_s - 1):+.1f} %")
    return {"bare_s": bare_s, "engine_s": engine_s}
