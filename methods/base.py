"""The method contract and the registry.

A method is one class in one file, registered with ``@register_method("key")``. It declares what
it needs as class attributes (the engine reads them and never tests a method's name), takes its
hyperparameters as a small dataclass with the paper's defaults, owns *one training step* and its
own state. The engine (``gdw_bench.training.engine``) owns epochs, schedules, evaluation, seeds,
checkpoints and records.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from gdw_bench.datasets import Batch
from gdw_bench.errors import FOREIGN_FAILURES, UserInputError, failure_text, unknown_choice

from ._diagnostics import WeightDiagnostics
from ._fields import (  # noqa: F401 (re-exported)
    Range,
    Search,
    check_names,
    check_values,
    choice_search,
    hyperparameter,
    hyperparameter_dict,
    hyperparameter_ranges,
    hyperparameters_of,
    linear_search,
    log_search,
    rules_of,
    searches_of,
    valid_text,
)
from ._folder import BUILTIN_FILES, ENTRY_POINT_GROUP, FOLDER, NOT_METHOD_FILES, PACKAGE


@dataclass(frozen=True)
class Phase:
    """A stretch of training with its own data, learning-rate schedule and fresh optimizer state.

    ``data``: "train" (the noisy split), "meta" (the clean meta set) or "train+meta" (both, meta
    samples flagged trusted). ``schedule``: "cosine" (the authors' per-epoch cosine over this
    phase) or "constant". ``lr``: None means the protocol's lr. ``eval_every``: evaluate every n
    epochs (the last 5 epochs are always evaluated: they make the score).
    """

    name: str
    epochs: int
    data: str = "train"
    schedule: str = "cosine"
    lr: float | None = None
    eval_every: int = 1


@dataclass(kw_only=True)
class TaskInfo:
    """What the runner tells a method about its task; plain values, no global config."""

    num_classes: int
    num_train: int
    class_counts: list[int]  # observed (noisy) training-label counts per class
    wrong_label_fraction: float  # expected share of wrong labels in this setting (0 without noise)
    epochs: int = 80  # the protocol's epoch budget
    batch_size: int = 100
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    meta_size: int = 0


@dataclass(frozen=True)
class NoHyperparameters:
    pass


class Method:
    """Base class. Subclasses set the class attributes below and implement ``train_step``."""

    key: ClassVar[str] = ""
    title: ClassVar[str] = ""  # the paper's name for the method (row label in tables)
    paper: ClassVar[str] = ""
    needs_meta_set: ClassVar[bool] = False  # receives a clean meta batch every step
    per_instance_state: ClassVar[bool] = False  # keeps state indexed by training-sample index
    num_networks: ClassVar[int] = 1
    relative_cost: ClassVar[float] = 1.0  # step cost relative to BaseModel (for time estimates)
    records_weights: ClassVar[bool] = False  # can record class-level weight diagnostics
    # How figures draw the method, the same in every figure: a matplotlib colour ("#rrggbb") and marker.
    # Written into each record (reports never import methods); empty: the report picks a stable colour
    # from the key, away from the built-ins' own.
    color: ClassVar[str] = ""
    marker: ClassVar[str] = ""
    Hyperparameters: ClassVar[type] = NoHyperparameters
    # Row position in tables and `list` (smaller first; ties by key). The built-ins use the paper's
    # order in steps of 10; a plugin without one comes after them.
    order: ClassVar[float] = 1000.0
    # Part of every cell's identity: bump it when a change alters the numbers the method produces, so
    # that records of the old code show as stale. tests/test_registry.py pins each built-in's source
    # (its code without docstrings and comments) to its version and fails when one changes alone.
    version: ClassVar[int] = 1
    origin: ClassVar[str] = ""  # where the registry found it: a file, or "<distribution> (entry point)"
    # The step may be recorded once as a CUDA graph and replayed (gdw_bench.training.cuda_graphs): it never reads
    # a value back to the CPU and changes no Python state per step beyond rebinding attributes to tensors
    # it computed (per-step bookkeeping goes in ``graph_replayed``). A replay runs kernels, not Python.
    graph_safe: ClassVar[bool] = False

    @classmethod
    def prepare_for_step_test(cls, method: "Method", num_classes: int) -> None:
        """Hook for the suite's generic one-step tests: put ``method`` (a fresh instance) in the state
        in which its characteristic step runs (GLC: its corrected phase, with a known matrix). Most
        methods need nothing."""

    def __init__(self, networks: nn.Module | list[nn.Module], task: TaskInfo, hyperparameters=None):
        self.networks = list(networks) if isinstance(networks, (list, tuple)) else [networks]
        if len(self.networks) != self.num_networks:
            raise UserInputError(f"{self.key} needs {self.num_networks} network(s), got {len(self.networks)}")
        self.task = task
        self.hp = hyperparameters if hyperparameters is not None else self.Hyperparameters()
        self.lr = task.lr
        self.optimizers = [self.make_optimizer(net) for net in self.networks]
        self.diagnostics = None  # set by ``enable_diagnostics`` where ``records_weights``
        # (B,) weight of each sample in the last real step, for methods that weight samples (GDW: its
        # target-class entry); the engine averages it over correctly and wrongly labelled samples.
        self.last_sample_weights: torch.Tensor | None = None

    # ----- helpers for subclasses -------------------------------------------------------------
    @property
    def model(self) -> nn.Module:
        return self.networks[0]

    def make_optimizer(self, net: nn.Module) -> torch.optim.Optimizer:
        """The protocol's classifier optimizer: SGD, momentum 0.9 without Nesterov, weight decay 5e-4."""
        return torch.optim.SGD(net.parameters(), lr=self.lr, momentum=self.task.momentum,
                               weight_decay=self.task.weight_decay, nesterov=False)

    def reset_optimizers(self) -> None:
        self.optimizers = [self.make_optimizer(net) for net in self.networks]
        self.set_learning_rate(self.lr)

    def apply_logit_gradient(self, logits: torch.Tensor, logit_grad: torch.Tensor, which: int = 0) -> None:
        """The real step: backpropagate a hand-built gradient at the logits, then one SGD step."""
        opt = self.optimizers[which]
        opt.zero_grad(set_to_none=True)
        logits.backward(logit_grad.detach())
        opt.step()

    def minimise(self, loss: torch.Tensor, which: int = 0) -> None:
        opt = self.optimizers[which]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def like_model(self, tensor: torch.Tensor) -> torch.Tensor:
        p = next(self.model.parameters())
        return tensor.to(device=p.device, dtype=p.dtype)

    # ----- the contract -----------------------------------------------------------------------
    def phases(self) -> list[Phase]:
        """The run's phases; by default one cosine phase over the whole budget on the noisy split."""
        return [Phase("train", self.task.epochs)]

    def set_learning_rate(self, lr: float) -> None:
        self.lr = float(lr)
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["lr"] = self.lr

    def on_phase_start(self, phase_index: int, phase: Phase, context: "PhaseContext") -> None:
        """Called before the first epoch of each phase (after a resume too, only if at its start)."""

    def on_epoch_start(self, epoch_in_phase: int, phase: Phase) -> None:
        """Called before each epoch, with the epoch's index inside its phase."""

    def train_step(self, batch: Batch, meta_batch: Batch | None) -> dict[str, torch.Tensor]:
        """One training step on ``batch``; returns scalar tensors to log (at least ``loss``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement train_step")

    def graph_replayed(self) -> None:
        """Called after each replay of the step's CUDA graph, for the Python-side bookkeeping that an
        eager ``train_step`` does itself (the attributes it set at capture hold the replay's tensors)."""

    def extra_state(self) -> dict[str, Any]:
        """Method state beyond networks and optimizers (weighting nets, per-instance tensors)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    def record_extras(self) -> dict[str, Any]:
        """JSON-able facts for the run record (e.g. GLC's estimated corruption matrix)."""
        return {}

    def enable_diagnostics(self, sample_instances: int = 4) -> None:
        if not self.records_weights:
            raise UserInputError(f"method '{self.key}' records no weight diagnostics")
        self.diagnostics = WeightDiagnostics(self.task.num_classes, sample_instances)

    # ----- checkpointing ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {"networks": [n.state_dict() for n in self.networks],
                "optimizers": [o.state_dict() for o in self.optimizers],
                "lr": self.lr, "extra": self.extra_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for net, s in zip(self.networks, state["networks"]):
            net.load_state_dict(s)
        for opt, s in zip(self.optimizers, state["optimizers"]):
            opt.load_state_dict(s)
        self.set_learning_rate(state["lr"])
        self.load_extra_state(state["extra"])


@dataclass
class PhaseContext:
    """What a phase hook may look at: the clean meta set (GLC estimates its matrix on it)."""

    meta: Any  # TensorBatches / FileBatches
    eval_batch_size: int = 500


def one_hot(labels: torch.Tensor, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    return F.one_hot(labels, num_classes).to(like.dtype)


# ----- registry ----------------------------------------------------------------------------------
_REGISTRY: dict[str, type[Method]] = {}
_FAILED_TO_LOAD: dict[str, str] = {}  # a key whose file or entry point failed to load → why
_PLUGIN_ERRORS: list[str] = []  # one line per method file or plugin that failed to load


def register_method(key: str, origin: str | None = None):
    """Class decorator: ``@register_method("gdw")``. Keys are unique; the class must derive from
    ``Method``; ``origin`` (default: the file defining it) is shown by `gdw-bench list/info`."""

    def decorate(cls):
        if not (isinstance(cls, type) and issubclass(cls, Method)):
            raise TypeError(f"method '{key}' ({cls!r}) must be a subclass of gdw_bench.methods.Method")
        if key in _REGISTRY and _REGISTRY[key] is not cls:
            here = origin or getattr(sys.modules.get(cls.__module__), "__file__", None) or cls.__module__
            raise ValueError(f"method key '{key}' of {cls.__name__} from {here} is already registered by "
                             f"{_REGISTRY[key].__name__} from {_REGISTRY[key].origin}")
        cls.key = key
        if origin is not None:
            cls.origin = origin
        elif not cls.origin or cls.origin == getattr(cls.__mro__[1], "origin", None):
            cls.origin = getattr(sys.modules.get(cls.__module__), "__file__", None) or cls.__module__
        _REGISTRY[key] = cls
        return cls

    return decorate


def _import_folder_methods() -> None:
    """The built-in files, then any other file of this folder; a file that fails (a syntax error, an
    exception at import, a key another file has) is named by ``plugin_errors()`` and the rest works."""
    names = [m.name for m in pkgutil.iter_modules([str(FOLDER)]) if not m.name.startswith("_")
             and m.name not in NOT_METHOD_FILES]
    for name in sorted(names, key=lambda n: (n not in BUILTIN_FILES, n)):
        try:
            importlib.import_module(f"{PACKAGE}.{name}")
        except FOREIGN_FAILURES as exc:  # foreign code: report it, never break (or end) every command
            _record_failure(name, f"method file {FOLDER / (name + '.py')}: {failure_text(exc)}")


def _load_plugins() -> None:
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        source = f"{entry.dist.name if entry.dist else entry.value} (entry point '{entry.name}')"
        try:
            loaded = entry.load()
            if isinstance(loaded, type):  # a class: register it under the entry point's name
                if getattr(loaded, "key", "") and loaded.key in _REGISTRY and _REGISTRY[loaded.key] is loaded:
                    loaded.origin = source
                else:
                    register_method(entry.name, origin=source)(loaded)
            else:  # a module: its @register_method decorators ran on import
                for cls in _REGISTRY.values():
                    if cls.__module__ == loaded.__name__:
                        cls.origin = source
        except FOREIGN_FAILURES as exc:  # a broken plugin must not break the suite: say which and why
            _record_failure(entry.name, f"plugin {source}: {failure_text(exc)}")


def _record_failure(key: str, line: str) -> None:
    """Remember why ``key`` (a file's stem or an entry point's name) is missing, for `list methods` and
    for `run --methods key`, which then says why instead of only "unknown method"."""
    _PLUGIN_ERRORS.append(line)
    _FAILED_TO_LOAD.setdefault(key.replace("_", "-"), line)
    _FAILED_TO_LOAD.setdefault(key, line)


_DISCOVERY = {"state": "not yet"}  # not yet | running | done


def discover() -> None:
    """Fill the registry once per process: the folder's method files, then the installed plugins. A call
    while it runs (a method file that asks the registry at import) returns at once."""
    if _DISCOVERY["state"] != "not yet":
        return
    _DISCOVERY["state"] = "running"
    try:
        _import_folder_methods()
        _load_plugins()
    finally:
        _DISCOVERY["state"] = "done"


def plugin_errors() -> list[str]:
    discover()
    return list(_PLUGIN_ERRORS)


def get_method(key: str) -> type[Method]:
    discover()
    if key not in _REGISTRY:
        if key in _FAILED_TO_LOAD:
            raise UserInputError(f"method '{key}' failed to load — {_FAILED_TO_LOAD[key]}")
        raise unknown_choice("method", key, _REGISTRY)
    return _REGISTRY[key]


def list_methods() -> list[str]:
    """Every registered key in row order (the class's ``order``, then the key): never import order."""
    discover()
    return sorted(_REGISTRY, key=lambda k: (_REGISTRY[k].order, k))


def create_method(key: str, networks, num_classes: int, num_train: int, class_counts=None,
                  wrong_label_fraction: float = 0.0, epochs: int = 80, lr: float = 0.1,
                  meta_size: int = 0, **hyperparameters) -> Method:
    """Python API: wrap any classifier (or list of classifiers) in a registered method.

    >>> method = create_method("gdw", my_net, num_classes=10, num_train=len(train_set))
    >>> method.set_learning_rate(0.1)
    >>> logs = method.train_step(Batch(x, y, index), meta_batch=Batch(xm, ym, index_m))
    """
    cls = get_method(key)
    task = TaskInfo(num_classes=num_classes, num_train=num_train,
                    class_counts=list(class_counts or [num_train // num_classes] * num_classes),
                    wrong_label_fraction=wrong_label_fraction, epochs=epochs, lr=lr, meta_size=meta_size)
    return cls(networks, task, hyperparameters_of(cls, hyperparameters))


__all__ = ["Method", "Phase", "PhaseContext", "Range", "Search", "log_search", "linear_search", "choice_search",
           "TaskInfo", "NoHyperparameters", "register_method", "get_method",
           "list_methods", "create_method", "hyperparameter", "hyperparameter_ranges", "hyperparameters_of",
           "hyperparameter_dict", "one_hot", "field"]
