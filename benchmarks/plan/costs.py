"""What cells cost on this machine, measured and kept in the results root (``costs.json``), for the
time estimates of `run` and its progress line.

After a run, each trained cell's wall time is filed under two keys: its exact configuration on this
kind of device (``digits|gdw|cfg-…|cpu`` → seconds per cell) and, as a fallback for a configuration
never trained here, its dataset, method and model (``digits|gdw|mlp128bn|cpu`` → seconds per epoch). The
last ``KEPT`` samples of each key are kept; estimates take their median. A cell never measured uses a
probe of BaseModel with its model (``training.probe``: ``digits|probe|small_cnn|…|cpu`` → seconds per
epoch), else the profile's built-in seconds per BaseModel epoch — which describe the profile's own model,
so a config that changes a dataset's model drops them and the probe runs instead — × epochs × the
method's ``relative_cost``.
Torch-free; written atomically; a damaged file is ignored (estimates fall back) and rewritten.
"""
from __future__ import annotations

import statistics
from pathlib import Path

from gdw_bench import statefile
from gdw_bench.core.identity import portable_protocol
from gdw_bench.files import atomic_write_json
from gdw_bench.methods import cards

COSTS = "costs.json"
KEPT = 25  # samples per key


def _cell_key(cell, device_type: str) -> str:
    return f"{cell.dataset}|{cell.method_folder}|{cell.configuration_key}|{device_type}"


def _model(cell) -> str:
    """The model as identities name it (a file's by its name and content hash, never its path)."""
    return portable_protocol({"model": cell.protocol.model})["model"]


def _epoch_key(cell, device_type: str) -> str:
    return f"{cell.dataset}|{cell.method_folder}|{_model(cell)}|{device_type}"


def probe_key(cell, device_type: str) -> str:
    """What a BaseModel probe measured: the dataset, model and what scales an epoch (batch, subsets, padding)."""
    p = cell.protocol
    return (f"{cell.dataset}|probe|{_model(cell)}|b{p.batch_size}|n{p.train_subset}|t{p.test_subset}|"
            f"pad{p.pad_to}|{device_type}")


def timed_here(cell, device_type: str, measured: dict) -> bool:
    """Whether this machine measured ``cell``'s configuration, its dataset, method and model, or probed them."""
    return bool(measured.get(_cell_key(cell, device_type)) or measured.get(_epoch_key(cell, device_type))
                or measured.get(probe_key(cell, device_type)))


def needs_probe(cell, profile, device_type: str, measured: dict, trust_profile: bool = False) -> bool:
    """Whether ``cell`` must be probed for an estimate: nothing timed here, and — where ``trust_profile``
    (a torch-free dry run) — no calibration of the profile's for its dataset either (a config that changed
    the model has none). The profile's seconds were measured on another machine: off by 2× here for mini."""
    return not timed_here(cell, device_type, measured) and not (
        trust_profile and (cell.dataset, device_type) in profile.base_epoch_seconds)


def add_probes(root: Path, probes: dict[str, float]) -> None:
    """File probes (key → BaseModel seconds per epoch) beside the measured costs."""
    if probes:
        data = load(root)
        data.update({key: [float(seconds)] for key, seconds in probes.items()})
        atomic_write_json(Path(root) / COSTS, data)


def costs_problem(data) -> str | None:
    """What makes a costs file unusable (None: nothing): an object of keys → lists of seconds ≥ 0."""
    wrong = statefile.object_problem(data)
    if wrong:
        return wrong
    for key, samples in data.items():
        if not (isinstance(samples, list) and all(statefile.is_number(s) and s >= 0 for s in samples)):
            return f"'{key[:60]}' holds {str(samples)[:40]}, not a list of seconds"
    return None


def load(root: Path, warn=None) -> dict:
    """The measured costs; a damaged file is one line to ``warn`` and counts as none measured (the next
    trained cell writes the file anew)."""
    found = statefile.read(Path(root) / COSTS, "costs", costs_problem)
    if found.reason is not None and warn is not None:
        warn(f"{found.problem}; the estimates use the profile's guesses, and the next run writes it anew")
    return found.value or {}


def add(root: Path, measured: list[tuple[object, str, float]]) -> None:
    """File (cell, device type, wall seconds) samples under the cells' keys (per epoch: per epoch of
    the protocol's budget, the unit estimates scale by)."""
    if not measured:
        return

    data = load(root)
    for cell, device_type, seconds in measured:
        for key, value in ((_cell_key(cell, device_type), seconds),
                           (_epoch_key(cell, device_type), seconds / max(_epochs(cell), 1))):
            samples = data.get(key) if isinstance(data.get(key), list) else []
            data[key] = (samples + [round(float(value), 4)])[-KEPT:]
    atomic_write_json(Path(root) / COSTS, data)


def estimate(cell, profile, device_type: str, measured: dict) -> float:
    """Seconds to train ``cell``: measured here for its configuration, else for its dataset and method
    per epoch, else the profile's built-in guess."""
    exact = measured.get(_cell_key(cell, device_type))
    if exact:
        return statistics.median(exact)
    per_epoch = measured.get(_epoch_key(cell, device_type))
    if per_epoch:
        return statistics.median(per_epoch) * _epochs(cell)
    probed = measured.get(probe_key(cell, device_type))
    base = statistics.median(probed) if probed else profile.base_epoch_seconds.get((cell.dataset, device_type), 60.0)
    return base * cell.protocol.epochs * cards.card(cell.method).relative_cost


def _epochs(cell) -> int:
    return cell.protocol.epochs
