"""A cost probe: BaseModel's seconds per epoch for a (dataset, model, protocol) this machine never trained,
measured in a second or two before `run` prints its estimate.

A profile's built-in ``seconds_per_epoch`` describes its own model; a config that trains another model
(a CNN of yours on digits) has no calibration, and the old fall-back — the profile's MLP number — was
off by an order of magnitude ("2 min" for a grid that took 15). The probe trains BaseModel with the
cell's own model, data and batch size for a few steps after a warm-up and times one evaluation pass,
so the estimate scales with what this machine does with this model. ``plan.costs`` keeps the result
(``run``) and uses it × epochs × the method's ``relative_cost``.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import torch

from gdw_bench.training.loop import build_method, evaluate, prepared_data

WARMUP_STEPS = 2
TIMED_SECONDS = 0.5  # steps are timed until this much has passed (at least MIN_STEPS, at most MAX_STEPS)
MIN_STEPS, MAX_STEPS = 3, 40


def basemodel_seconds_per_epoch(cell, device: torch.device, data_dir: Path | None, threads: int | None = None) -> float:
    """BaseModel's seconds per epoch of ``cell``'s protocol here: its training steps plus the test
    evaluation (and, for noisy data, the training-set evaluation) that every epoch of the engine runs."""

    base = dataclasses.replace(cell, method="basemodel", hyperparameters=(), diagnostics=False)
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, threads or 1))
    try:
        data = prepared_data(base, device, data_dir)
        method = build_method(base, data, device)
        p = base.protocol
        method.set_learning_rate(p.lr)
        steps_per_epoch = math.ceil(len(data.train) / p.batch_size)
        timed, took, epoch = 0, 0.0, 0
        while timed < MAX_STEPS and (timed < MIN_STEPS or took < TIMED_SECONDS):  # epochs again if one is short
            for i, batch in enumerate(data.train.epoch(p.batch_size, base.train_seed, epoch, p.augment)):
                start = time.perf_counter()
                method.train_step(batch, None)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                if epoch or i >= WARMUP_STEPS:
                    took += time.perf_counter() - start
                    timed += 1
                if timed >= MAX_STEPS or (timed >= MIN_STEPS and took >= TIMED_SECONDS):
                    break
            epoch += 1
        per_step = took / max(timed, 1)
        start = time.perf_counter()
        evaluate(method.networks[0], data.test, p.eval_batch_size)
        if base.noisy:
            evaluate(method.networks[0], data.train, p.eval_batch_size, true_labels=True)
        return steps_per_epoch * per_step + (time.perf_counter() - start)
    finally:
        torch.set_num_threads(before)
