"""The record of a finished cell: the contract between `run`, which writes it, and `report`,
`export` and ``gdw_bench.results``, which read it. Written (``write``) and read (``read``) here only.

Schema 1. A field may be added without a new schema number when readers need not know it (older
records then lack it); removing or changing the meaning of a field makes schema 2, and readers
report a record of another schema as damaged rather than guessing. Torch-free.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, TypedDict

from gdw_bench import statefile
from gdw_bench.files import atomic_write_json

SCHEMA_VERSION = 1


class Record(TypedDict, total=False):
    schema: int                  # SCHEMA_VERSION of the writer
    profile: str                 # the profile (built-in or config name) = the results subfolder
    dataset: str                 # the dataset that ran (a stand-in's, or the user's own key)
    setting: str                 # the paper column's setting: uniform | flip | imbalance | mixed | real
    level: str                   # the paper column's level as printed ("0.4", "0.01", …)
    corruption: dict             # noise, rate, imbalance (canonical) and slug, e.g. "uniform-0.4"
    method: str                  # registry key
    method_title: str            # the row label (the paper's name)
    method_look: dict            # {"color": "#rrggbb" or "", "marker": matplotlib marker or ""}: how figures draw it
    hyperparameters: dict        # the method's hyperparameters as it ran (auto values resolved)
    seed: int                    # the user-facing seed (1, 10, 100, …)
    train_seed: int              # network 0's init / batch order seed derived from it
    seeds: dict                  # every derived seed: scheme, data, train, networks, auxiliary
    protocol: dict               # the Protocol: model, epochs, batch sizes, lr, subsets, augmentation, …
    model: str                   # protocol.model, repeated for quick filtering
    pretrained: bool             # an ImageNet-pretrained network
    from_scratch: bool           # a pretrained protocol trained from random weights (--from-scratch)
    diagnostics: bool            # class-level weight diagnostics were recorded (+diag cells)
    config_hash: str             # identity.config_hash(identity): 12 hex digits
    identity: dict               # everything that decides the numbers (gdw_bench.core.identity)
    score: float                 # mean test accuracy (%) of the last 5 evaluations of the final phase
    score_net2: float | None     # the same for a second network (Co-teaching), else None
    score_epochs: list           # the global epochs averaged into score
    val_score: float | None      # a tuning trial's mean validation accuracy over those epochs, else None
    phases: list                 # the method's phases: name, epochs, data, lr, schedule, eval_every
    curve: list                  # per epoch: phase, epoch, global_epoch, lr, losses, test_acc, regime columns
    diagnostics_per_epoch: list  # per epoch: the class-level weight summaries (+diag cells)
    extras: dict                 # the method's own record (GLC's matrix, Co-teaching's forget rate, …)
    wall_time_s: float           # seconds of training, over all resumed attempts
    versions: dict               # gdw_bench, python, torch, numpy, platform
    git_commit: str | None       # the checkout's commit, when there is one
    device: str                  # "cpu: x86_64" or "cuda: <card>"
    torch_threads: int           # CPU threads of the final attempt (numbers depend on it bit for bit)
    execution: dict              # how the final attempt ran: device, threads, CPU settings, CUDA graphs
    execution_changes: list      # a resume under another device or thread count: before, after, from which epoch
    run_options: dict            # the RunOptions the final call was handed (device, threads, tensorboard, rerun, …)
    notes: list                  # one-line notes, e.g. a damaged checkpoint so trained from scratch
    data_hash: str               # hash of the prepared splits (labels, indices)
    data_info: dict              # split sizes and the actual fraction of wrong labels
    finished_at: str             # UTC, ISO 8601
    argv: list                   # the command line that finished it
    host: str                    # the machine
    slurm_job_id: str | None     # the SLURM array task, when it ran in one


# What a record must hold, with these types, for `report` to use it.
REQUIRED_FIELDS = {"schema": (int,), "profile": (str,), "dataset": (str,), "method": (str,), "seed": (int,),
                   "config_hash": (str,), "score": (int, float), "curve": (list,), "corruption": (dict,)}


# Optional fields a reader (report, figures, results, identity) uses: when present, of these types.
OPTIONAL_FIELDS = {"identity": (dict,), "hyperparameters": (dict,), "protocol": (dict,), "seeds": (dict,),
                   "extras": (dict,), "diagnostics_per_epoch": (list,), "method_title": (str,),
                   "method_look": (dict,), "setting": (str,),
                   "level": (str,), "device": (str,), "torch_threads": (int,), "wall_time_s": (int, float),
                   "score_net2": (int, float, type(None)), "data_info": (dict,), "execution": (dict,),
                   "run_options": (dict,), "val_score": (int, float, type(None))}
# Numbers a curve entry may hold, read by the regime verdicts, figures and results.curves; the weight
# means are None in an epoch without wrongly (or correctly) labelled samples.
CURVE_NUMBERS = ("epoch", "global_epoch", "lr", "loss", "test_acc", "train_acc_noisy", "train_acc_true",
                 "epoch_time_s")
CURVE_OPTIONAL_NUMBERS = ("weight_correct", "weight_wrong", "val_acc")


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def problem(record: Any) -> str | None:
    """What makes ``record`` unusable by a reader (None: nothing): the required fields and their types,
    the optional fields readers use, every curve entry, the score finite."""
    if not isinstance(record, dict):
        return f"not a JSON object but {statefile.type_name(record)}"
    if record.get("schema") != SCHEMA_VERSION and statefile.is_int(record.get("schema")):
        return statefile.object_problem(record, "schema", SCHEMA_VERSION)
    for name, types in REQUIRED_FIELDS.items():
        if name not in record:
            return f"field '{name}' is missing"
        if not isinstance(record[name], types) or isinstance(record[name], bool):
            return f"field '{name}' is {type(record[name]).__name__}, not {'/'.join(t.__name__ for t in types)}"
    for name, types in OPTIONAL_FIELDS.items():
        if name in record and (not isinstance(record[name], types) or isinstance(record[name], bool)):
            return f"field '{name}' is {type(record[name]).__name__}, not {'/'.join(t.__name__ for t in types)}"
    if not _is_number(record["score"]):
        return f"score {record['score']!r} is not a finite number"
    if not isinstance(record["corruption"].get("slug"), str) or not record["corruption"]["slug"]:
        return "field 'corruption' has no 'slug' (e.g. \"uniform-0.4\")"
    for i, entry in enumerate(record["curve"]):
        if not isinstance(entry, dict):
            return f"curve entry {i} is {type(entry).__name__}, not an object"
        for key in CURVE_NUMBERS:
            if key in entry and not _is_number(entry[key]):
                return f"curve entry {i}: '{key}' = {entry[key]!r} is not a finite number"
        for key in CURVE_OPTIONAL_NUMBERS:
            if entry.get(key) is not None and not _is_number(entry[key]):
                return f"curve entry {i}: '{key}' = {entry[key]!r} is not a finite number or null"
    for i, entry in enumerate(record.get("diagnostics_per_epoch", [])):
        if not isinstance(entry, dict):
            return f"diagnostics_per_epoch entry {i} is {type(entry).__name__}, not an object"
    return None


def read(path: Path) -> tuple[Record | None, str | None]:
    """(record, None) for a usable record; (None, what is wrong) for a damaged one; (None, None) when
    there is none. A damaged record is never silently replaced: the cell shows as ``corrupt``. Read
    through the one guarded reader (``gdw_bench.statefile``: regular files only, size capped)."""
    found = statefile.read(path, "record", problem)
    return found.value, found.reason


def write(path: Path, record: Record) -> None:
    """Atomically (temporary file + rename): a record exists whole or not at all."""

    wrong = problem(record)
    if wrong:
        raise ValueError(f"refusing to write an invalid record: {wrong}")
    atomic_write_json(path, record)
