"""The training loop of one cell: epochs, the authors' schedule, evaluation, per-epoch seeding, the
checkpointed state and the record. The method owns one training step; the runner (``engine``) owns
locks, failures and where the record goes.

Schedule: the authors' per-epoch cosine, lr_e = lr · (1 + cos(π e / E)) / 2, constant within an
epoch, restarted for each phase. The score is the mean test accuracy (eval mode) of the last 5
evaluations of the final phase. At least every ``CHECKPOINT_INTERVAL_S`` seconds, at an epoch's end,
the whole state (networks, optimizers, the method's own state, the position and the curve) is saved
atomically; per-epoch seeding of every random choice makes a resumed run finish with the same numbers
as an uninterrupted one (on CPU).
"""
from __future__ import annotations

import dataclasses
import math
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch

from gdw_bench import seeds
from gdw_bench.core.cell import CellConfig, CellFailed
from gdw_bench.core.options import RunOptions
from gdw_bench.datasets import PreparedData, dataset_spec, expected_wrong_fraction, prepare
from gdw_bench.errors import UserInputError
from gdw_bench.methods import PhaseContext, TaskInfo, get_method, hyperparameter_dict, hyperparameters_of
from gdw_bench.storage import record as record_schema
from gdw_bench.storage import store
from gdw_bench.training import cpu_tuning, provenance
from gdw_bench.training.cuda_graphs import GraphedSteps
from gdw_bench.training.models import build_model, place_model, preferred_memory_format

SCORE_EPOCHS = 5
# Seconds of training between checkpoints (and always before a planned stop). A killed run redoes at
# most this much; per-epoch seeding makes the redone epochs identical. Saving after every epoch
# cost 8 % of a 100-epoch digits cell (pickling a growing curve, fsync).
CHECKPOINT_INTERVAL_S = 10.0


def _stderr_note(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def cosine_lr(base_lr: float, epoch: int, epochs: int) -> float:
    """The authors' per-epoch cosine: lr · (1 + cos(π·epoch/epochs)) / 2."""
    return base_lr * (1.0 + math.cos(math.pi * epoch / epochs)) / 2.0


@torch.no_grad()
def evaluate(net: torch.nn.Module, split, batch_size: int, true_labels: bool = False):
    """Top-1 accuracy (%) in eval mode, without augmentation. ``true_labels``: also against the
    split's true labels, returned as (against its labels, against its true labels)."""
    was_training = net.training
    net.eval()
    correct = correct_true = None  # counted on the device: no synchronisation per batch
    total = 0
    for batch in split.ordered(batch_size):
        predicted = net(batch.x).argmax(1)
        hits = (predicted == batch.y).sum()
        correct = hits if correct is None else correct + hits
        if true_labels:
            hits_true = (predicted == batch.true_y).sum()
            correct_true = hits_true if correct_true is None else correct_true + hits_true
        total += len(batch)
    net.train(was_training)
    accuracy = 100.0 * (0 if correct is None else int(correct)) / max(total, 1)
    if not true_labels:
        return accuracy
    return accuracy, 100.0 * (0 if correct_true is None else int(correct_true)) / max(total, 1)


def resolve_device(device: str, here: bool = True) -> torch.device:
    """``device`` as a torch device; ``here=False`` checks only its syntax (a SLURM job resolves
    "auto" and finds its GPU on the compute node, not on the machine that submits)."""

    if device == "auto":
        return torch.device("cuda" if here and torch.cuda.is_available() else "cpu")
    if here and device.startswith("cuda") and not torch.cuda.is_available():
        raise UserInputError(f"--device {device}: no CUDA device is available here; valid: auto, cpu")
    if device != "cpu" and not device.startswith("cuda"):
        raise UserInputError(f"unknown device '{device}'; valid: auto, cpu, cuda, cuda:N")
    return torch.device(device)


_DATA_CACHE: dict = {}


def prepared_data(cell: CellConfig, device: torch.device, data_dir: Path | None) -> PreparedData:
    """Prepared splits, memoised per process for the last few (dataset, corruption, seed) keys:
    every method of a grid row trains on the very same tensors."""
    cell.ensure_dataset()
    p = cell.protocol
    # everything prepare() reads: a cell of another crop padding or data file never gets these tensors
    key = (cell.dataset, cell.corruption.canonical(), cell.seed, str(device), str(data_dir), p.train_subset,
           p.test_subset, p.meta_per_class, p.pad_to, p.crop_pad, cell.user_data, p.validation)
    if key not in _DATA_CACHE:
        if len(_DATA_CACHE) >= 4:
            _DATA_CACHE.pop(next(iter(_DATA_CACHE)))
        _DATA_CACHE[key] = prepare(cell.dataset, cell.corruption, cell.seed, device, data_dir, p.train_subset,
                                   p.test_subset, p.meta_per_class, pad_to=p.pad_to, crop_pad=p.crop_pad,
                                   validation=p.validation)
    return _DATA_CACHE[key]


def build_method(cell: CellConfig, data: PreparedData, device: torch.device):
    cls = get_method(cell.method)
    p = cell.protocol
    task = TaskInfo(num_classes=data.num_classes, num_train=data.num_train, class_counts=data.noisy_class_counts,
                    wrong_label_fraction=expected_wrong_fraction(cell.corruption, data.num_classes), epochs=p.epochs,
                    batch_size=p.batch_size, lr=p.lr, momentum=p.momentum, weight_decay=p.weight_decay,
                    meta_size=len(data.meta))
    image_shape = tuple(data.train.images.shape[1:]) if hasattr(data.train, "images") else \
        dataset_spec(cell.dataset).image_shape
    nets = []
    for i in range(cls.num_networks):  # network i's init depends on (data key, i), never on the method
        torch.manual_seed(cell.network_seed(i))
        nets.append(place_model(build_model(p.model, data.num_classes, image_shape[0], p.pretrained, image_shape),
                                device))  # channels-last for conv models (models.place_model)
    torch.manual_seed(cell.network_seed(seeds.AUXILIARY_NETWORK))  # a weighting net, if the method builds one
    method = cls(nets, task, hyperparameters_of(cls, dict(cell.hyperparameters)))
    if cell.diagnostics and cls.records_weights:
        method.enable_diagnostics()
    return method


class Diverged(FloatingPointError):
    """A non-finite training loss, with where it first appeared."""

    def __init__(self, message: str, epoch: int, step: int):
        super().__init__(message)
        self.epoch, self.step = epoch, step


def _execution(dev: torch.device, cuda_graphs: bool = False, memory_format: str = "contiguous") -> dict:
    """Where and how this call trains (applying the CPU settings of ``cpu_tuning``): a resumed cell
    compares it with where its first epochs ran."""
    tuning = cpu_tuning.apply()
    return {"device": str(dev), "torch_threads": torch.get_num_threads(), "memory_format": memory_format,
            **(tuning if dev.type == "cpu" else {"cuda_graphs": cuda_graphs})}


@dataclass(kw_only=True)
class CellState:
    """What a cell's checkpoint holds besides the method's own state: where training stands (phase, epoch
    within it, epoch over all phases), the curve and diagnostics so far, the seconds spent before this
    call, and how it executes (device, threads, CUDA graphs) with each change of that since the start."""

    execution: dict
    position: dict = field(default_factory=lambda: {"phase": 0, "epoch": 0, "global_epoch": 0})
    curve: list = field(default_factory=list)
    diagnostics: list = field(default_factory=list)
    elapsed_s: float = 0.0  # seconds of training before this call
    execution_changes: list = field(default_factory=list)

    @classmethod
    def resumed(cls, saved: dict, execution: dict) -> "CellState":
        """The state of a checkpoint, going on with ``execution``: a change of it is kept, since the numbers
        after that epoch may differ in their last digits."""
        changes = list(saved.get("execution_changes", []))
        before = saved.get("execution", execution)
        if before != execution:
            changes.append({"from_global_epoch": saved["position"]["global_epoch"], "before": before,
                            "after": execution})
        return cls(execution=execution, position=saved["position"], curve=saved["curve"],
                   diagnostics=saved["diagnostics"], elapsed_s=saved["elapsed_s"], execution_changes=changes)

    def checkpoint(self, config_hash: str, method_state: dict, elapsed_s: float) -> dict:
        """The checkpoint's content (its keys are read back by ``resumed``)."""
        return {"config_hash": config_hash, "method": method_state, "position": self.position, "curve": self.curve,
                "diagnostics": self.diagnostics, "execution": self.execution,
                "execution_changes": self.execution_changes, "elapsed_s": elapsed_s}


def _train(cell, folder, dev, data_dir, on_epoch, stop_after_epochs, started, on_note=_stderr_note,
           checkpoint_every: float = CHECKPOINT_INTERVAL_S, options: RunOptions | None = None):
    options = options or RunOptions()
    cuda_graphs = options.cuda_graphs

    data = prepared_data(cell, dev, data_dir)
    method = build_method(cell, data, dev)
    phases = method.phases()
    p = cell.protocol
    notes: list[str] = []
    # CUDA graphs for the step where the method allows it (gdw_bench.training.cuda_graphs); diagnostics keep
    # per-step Python state, so +diag cells step eagerly
    graphed = cuda_graphs and dev.type == "cuda" and method.graph_safe and not cell.diagnostics
    execution = _execution(dev, graphed, preferred_memory_format(method.networks[0], dev))
    state = CellState(execution=execution)
    checkpoint_path = folder / store.CHECKPOINT
    if checkpoint_path.exists():
        try:
            saved = torch.load(checkpoint_path, map_location=dev, weights_only=False)
            if saved.get("config_hash") == cell.config_hash:
                method.load_state_dict(saved["method"])
                state = CellState.resumed(saved, execution)
        except Exception as exc:  # truncated, corrupt, or from an incompatible version: start over
            note = (f"{checkpoint_path}: unreadable ({type(exc).__name__}: {str(exc)[:120]}); trained from "
                    f"scratch")
            notes.append(note)
            on_note(note)
            method = build_method(cell, data, dev)
            state = CellState(execution=execution)
    curve, diagnostics = state.curve, state.diagnostics
    splits = {"train": data.train, "meta": data.meta}
    step = method.train_step
    if graphed:
        def note(message: str) -> None:
            notes.append(message)
            on_note(message)

        step = GraphedSteps(method, note)
    epochs_this_call, last_saved = 0, time.perf_counter()
    for phase_index in range(state.position["phase"], len(phases)):
        phase = phases[phase_index]
        split = data.trusted_union() if phase.data == "train+meta" else splits[phase.data]
        if state.position["epoch"] == 0:
            if phase_index > 0:
                method.reset_optimizers()  # a new phase starts with fresh momentum
            method.on_phase_start(phase_index, phase, PhaseContext(data.meta, p.eval_batch_size))
        for epoch in range(state.position["epoch"], phase.epochs):
            if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs:
                return None
            global_epoch = state.position["global_epoch"]
            base_lr = p.lr if phase.lr is None else phase.lr
            lr = cosine_lr(base_lr, epoch, phase.epochs) if phase.schedule == "cosine" else base_lr
            method.set_learning_rate(lr)
            method.on_epoch_start(epoch, phase)
            torch.manual_seed(cell.train_seed + 7919 * (global_epoch + 1))  # any stray global draw
            epoch_start = time.perf_counter()
            if graphed:
                step.new_epoch()
            logs = _train_epoch(method, step, split, data, cell, global_epoch)
            entry = {"phase": phase.name, "epoch": epoch, "global_epoch": global_epoch, "lr": lr, **logs}
            last_five = epoch >= phase.epochs - SCORE_EPOCHS
            if last_five or epoch % phase.eval_every == 0:
                entry["test_acc"] = evaluate(method.networks[0], data.test, p.eval_batch_size)
                if cell.noisy and data.train.true_labels is not None and split is data.train:
                    # the regime: does the network fit the wrong labels (noisy > true) or not?
                    entry["train_acc_noisy"], entry["train_acc_true"] = evaluate(
                        method.networks[0], data.train, p.eval_batch_size, true_labels=True)
                for i, net in enumerate(method.networks[1:], start=2):
                    entry[f"test_acc_net{i}"] = evaluate(net, data.test, p.eval_batch_size)
                if data.validation is not None:  # a tuning trial: what the tuner is told (never test_acc)
                    entry["val_acc"] = evaluate(method.networks[0], data.validation, p.eval_batch_size)
            entry["epoch_time_s"] = round(time.perf_counter() - epoch_start, 4)
            curve.append(entry)
            if method.diagnostics is not None:
                diagnostics.append({"phase": phase.name, "epoch": epoch, **method.diagnostics.epoch_summary()})
            state.position = {"phase": phase_index, "epoch": epoch + 1, "global_epoch": global_epoch + 1}
            if epoch + 1 == phase.epochs:
                state.position = {"phase": phase_index + 1, "epoch": 0, "global_epoch": global_epoch + 1}
            epochs_this_call += 1
            stopping = stop_after_epochs is not None and epochs_this_call >= stop_after_epochs
            finished = state.position["phase"] == len(phases)
            if not finished and (stopping or time.perf_counter() - last_saved >= checkpoint_every):
                store.atomic_torch_save(checkpoint_path, state.checkpoint(
                    cell.config_hash, method.state_dict(), elapsed_s=state.elapsed_s + time.perf_counter() - started))
                last_saved = time.perf_counter()
            if on_epoch is not None:
                on_epoch({**entry, "cell": cell, "epoch": global_epoch + 1,  # 1-based, over all phases
                          "epochs": sum(ph.epochs for ph in phases)})
    record = _record(cell, method, phases, state, data, dev, state.elapsed_s + time.perf_counter() - started, notes,
                     options)
    record_schema.write(folder / store.RECORD, record)
    checkpoint_path.unlink(missing_ok=True)
    (folder / store.FAILED).unlink(missing_ok=True)
    return record


def _train_epoch(method, step, split, data: PreparedData, cell: CellConfig, global_epoch: int) -> dict:
    """One epoch of ``step`` (the method's ``train_step``, or its CUDA-graphed form) over ``split``."""
    p = cell.protocol
    meta_stream = (data.meta.cycle(p.meta_batch_size, cell.train_seed, global_epoch, p.augment)
                   if method.needs_meta_set else None)
    weight_sums = None  # [Σ w on correct labels, their count, Σ w on wrong labels, their count]
    # per step: its logged tensors, kept on the device and summed once at the epoch's end (no device
    # sync and no extra op per step)
    step_logs: list[dict[str, torch.Tensor]] = []
    steps = 0
    for batch in split.epoch(p.batch_size, cell.train_seed, global_epoch, p.augment):
        meta_batch = next(meta_stream) if meta_stream is not None else None
        step_logs.append(_checked_logs(method, step(batch, meta_batch)))
        weights = method.last_sample_weights
        if cell.noisy and weights is not None and batch.true_y is not None:
            wrong = (batch.y != batch.true_y).double()  # masks, not boolean indexing: no device sync
            right = 1.0 - wrong
            w = weights.detach().double().flatten()
            step_sums = torch.stack([(w * right).sum(), right.sum(), (w * wrong).sum(), wrong.sum()])
            weight_sums = step_sums if weight_sums is None else weight_sums + step_sums
        steps += 1
    keys = list(dict.fromkeys(key for logs in step_logs for key in logs))
    means = {key: float(torch.stack([logs[key] for logs in step_logs if key in logs]).double().sum()) / steps
             for key in keys}
    if not all(math.isfinite(v) for v in means.values()):
        first_bad = next((i for i, logs in enumerate(step_logs) if not all(math.isfinite(float(v)) for v in logs.values())),
                         steps - 1)  # no single step: the finite values' sum overflowed by the last one
        raise Diverged(f"non-finite training loss at epoch {global_epoch + 1} (of all phases, from 1), step "
                       f"{first_bad + 1} of {steps}: epoch means {means}", global_epoch + 1, first_bad + 1)
    logs = {key: round(v, 6) for key, v in means.items()}
    if weight_sums is not None:  # mean weight of correctly / wrongly labelled samples this epoch
        correct_sum, correct_n, wrong_sum, wrong_n = weight_sums.cpu().tolist()
        logs["weight_correct"] = round(correct_sum / correct_n, 6) if correct_n else None
        logs["weight_wrong"] = round(wrong_sum / wrong_n, 6) if wrong_n else None
    return logs


def _checked_logs(method, logs) -> dict:
    """The step contract: a dict of scalar tensors to log, with at least ``loss`` (the divergence check
    reads it). A step that breaks it fails its cell with this reason (Python checks only: no device
    sync). Where the step returns plain numbers, they are made tensors."""
    if not isinstance(logs, dict) or "loss" not in logs:
        got = f"a dict without 'loss' (keys: {', '.join(map(str, logs)) or 'none'})" if isinstance(logs, dict) \
            else type(logs).__name__
        raise CellFailed(f"{type(method).__name__}.train_step returned {got}; the step contract: a dict of scalar "
                         f"tensors to log, with at least 'loss'")
    out = {}
    for key, value in logs.items():
        value = value.detach() if isinstance(value, torch.Tensor) else torch.as_tensor(value, dtype=torch.float64)
        if value.numel() != 1:
            raise CellFailed(f"{type(method).__name__}.train_step logged '{key}' with {value.numel()} values; the "
                             f"step contract: scalars only")
        out[key] = value if value.dim() == 0 else value.reshape(())  # no extra op on the usual 0-d value
    return out


def _record(cell, method, phases, state: CellState, data, dev, wall_time: float, notes: list[str],
            options: RunOptions) -> dict:
    """The cell's record, whole (its fields and their meaning: ``gdw_bench.storage.record.Record``)."""
    curve = state.curve
    final = [e for e in curve if e["phase"] == phases[-1].name and "test_acc" in e][-SCORE_EPOCHS:]
    score = sum(e["test_acc"] for e in final) / len(final)
    net2 = [e["test_acc_net2"] for e in final if "test_acc_net2" in e]
    validation = [e["val_acc"] for e in final if "val_acc" in e]
    return {  # the fields and their meaning: gdw_bench.storage.record.Record
        "schema": record_schema.SCHEMA_VERSION, "profile": cell.profile, "dataset": cell.dataset,
        "setting": cell.setting, "level": cell.level,
        "corruption": {**dataclasses.asdict(cell.corruption.canonical()), "slug": cell.corruption.canonical().slug},
        "method": cell.method, "method_title": type(method).title,
        "method_look": {"color": type(method).color, "marker": type(method).marker},
        "hyperparameters": hyperparameter_dict(method.hp),
        "seed": cell.seed, "train_seed": cell.train_seed, "seeds": cell.seeds_used(len(method.networks)),
        "protocol": dataclasses.asdict(cell.protocol),
        "model": cell.protocol.model, "pretrained": cell.protocol.pretrained, "from_scratch": cell.from_scratch,
        "diagnostics": cell.diagnostics, "config_hash": cell.config_hash, "identity": cell.identity(),
        "score": round(score, 4), "score_net2": round(sum(net2) / len(net2), 4) if net2 else None,
        "score_epochs": [e["global_epoch"] for e in final],
        # a tuning trial's score on its selection data (protocol ``validation``), over the same epochs
        "val_score": round(sum(validation) / len(validation), 4) if validation else None,
        "phases": [dataclasses.asdict(ph) for ph in phases],
        "curve": curve, "diagnostics_per_epoch": state.diagnostics, "extras": method.record_extras(),
        "wall_time_s": round(wall_time, 3), "versions": provenance.versions(), "git_commit": provenance.git_commit(),
        "device": provenance.device_label(dev), "torch_threads": torch.get_num_threads(),
        "data_hash": data.data_hash, "data_info": {**data.info, "actual_noise_fraction": data.actual_noise_fraction},
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argv": sys.argv[1:], "host": provenance.host(), "slurm_job_id": provenance.slurm_job_id(),
        "execution": state.execution, "execution_changes": state.execution_changes, "notes": notes,
        "run_options": options.for_record(),  # what this call was asked, as every executor handed it over
    }
