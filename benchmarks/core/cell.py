"""A cell: one (dataset, corruption, method, seed) under one protocol and set of hyperparameters —
what decides its numbers (its identity), where it lives, and how a run can end for it. Torch-free:
planning, `run --dry-run`'s statuses and every executor handle cells without importing torch (the
method's resolved defaults, for the identity, are read from its card: ``gdw_bench.methods.cards``).
"""
from __future__ import annotations

import dataclasses
import functools
import types
import typing
from dataclasses import dataclass
from pathlib import Path

from gdw_bench import seeds
from gdw_bench.core import identity
from gdw_bench.datasets.catalogue import DATASETS, register_user_dataset
from gdw_bench.datasets.corruption import Corruption

# The models ``training.models`` registers itself, by name: a protocol naming one is valid without
# importing torch (a test keeps this list equal to the registry's built-ins).
BUILTIN_MODELS = ("resnet32", "small_cnn", "small_cnn28", "cnn_bn", "conv_fc128", "mlp128", "mlp512", "mlp128bn",
                  "resnet18")


@dataclass(frozen=True, kw_only=True)
class Protocol:
    """How one dataset is trained in a profile (Appendix C, E, D.2 for the paper)."""

    model: str
    epochs: int
    batch_size: int = 100
    meta_batch_size: int = 100
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 5e-4
    train_subset: int | None = None
    test_subset: int | None = None
    meta_per_class: int | None = None  # None: the dataset's default (GDW: 1000 images in total)
    pretrained: bool = False
    eval_batch_size: int = 500
    augment: bool = True  # the dataset's training augmentation (crop and flip); False: none
    pad_to: int | None = None  # zero-pad images to pad_to × pad_to px first (Fashion-MNIST 28 → 32)
    crop_pad: int | None = None  # random-crop padding in px (None: the dataset's own)
    # The data a tuner selects on (``gdw-bench tune``): "noisy-val" holds out VALIDATION_SHARE of the noisy
    # training set, "meta" scores on the clean meta set; the record then has val_acc and val_score. None:
    # neither (every run but a tuning trial). In a cell's identity only when set.
    validation: str | None = None


VALIDATION_KINDS = ("noisy-val", "meta")


def value_fits(value, annotation) -> bool:
    """Whether a value read from a file (TOML, JSON) fits a dataclass field's annotation, written or as
    text ('int | None', 'float'): an int fits float; a bool fits only bool. An annotation this check does
    not know (a plugin's ``tuple[int, ...]``) is left to the dataclass: True."""
    if isinstance(annotation, str):
        try:
            annotation = eval(annotation, {"int": int, "float": float, "str": str, "bool": bool, "None": None})
        except Exception:  # an annotation this check does not know: the dataclass decides
            return True
    options = typing.get_args(annotation) if isinstance(annotation, types.UnionType) or \
        typing.get_origin(annotation) is typing.Union else (annotation,)
    for option in options:
        if option is type(None) and value is None or option is bool and isinstance(value, bool):
            return True
        if isinstance(value, bool):
            continue
        if option is int and isinstance(value, int) or option is str and isinstance(value, str) or \
                option is float and isinstance(value, (int, float)):
            return True
    return False


PROTOCOL_FIELDS = {f.name: f for f in dataclasses.fields(Protocol)}


def protocol_problem(key: str, value) -> str | None:
    """What is wrong with one protocol value as a config or a stored run gives it (None: nothing): an
    unknown key, the wrong type, a number out of its range. The model is checked by name elsewhere."""
    if key not in PROTOCOL_FIELDS:
        return f"is not a protocol key (valid: {', '.join(PROTOCOL_FIELDS)})"
    if not value_fits(value, PROTOCOL_FIELDS[key].type):
        return f"= {value!r}: expected {PROTOCOL_FIELDS[key].type}"
    if key == "validation":
        return None if value is None or value in VALIDATION_KINDS else \
            f"= {value!r}: valid: {' | '.join(VALIDATION_KINDS)}"
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    if value != value or value in (float("inf"), float("-inf")):
        return f"= {value!r} must be a finite number"
    if value <= 0 and key not in ("momentum", "weight_decay"):
        return f"= {value!r} must be positive"
    if key in ("momentum", "weight_decay") and value < 0:
        return f"= {value!r} must be 0 or more"
    if key == "momentum" and value >= 1:
        return f"= {value!r} must lie in [0, 1)"
    return None


@dataclass(frozen=True, kw_only=True)
class CellConfig:
    """Everything that decides a cell's numbers (and so its identity), and the profile that asked for it
    (a label the record keeps; not part of the identity or the folder)."""

    profile: str
    dataset: str
    setting: str
    level: str
    corruption: Corruption
    method: str
    seed: int
    protocol: Protocol
    hyperparameters: tuple = ()  # sorted (name, value) overrides of the method's defaults
    diagnostics: bool = False
    from_scratch: bool = False  # a pretrained protocol's network started from random weights instead
    # The user's own dataset: (source kind, path, meta images per class, description); () for built-in
    # data. Worker processes register it from here. It enters the identity by its kind, name and content
    # (``identity.data_source``), never by its path.
    user_data: tuple = ()

    @property
    def method_folder(self) -> str:
        return self.method + ("+diag" if self.diagnostics else "") + ("+scratch" if self.from_scratch else "")

    @property
    def label(self) -> str:
        """``digits/uniform-0.4/gdw/seed-1``: the cell in progress lines and messages."""
        return f"{self.dataset}/{self.corruption.canonical().slug}/{self.method_folder}/seed-{self.seed}"

    @property
    def configuration_key(self) -> str:
        """Its configuration's folder (``identity.configuration_key``): shared by every request that
        defines the same protocol, explicit hyperparameters and data source, whatever its profile's name."""
        return identity.configuration_key(dataclasses.asdict(self.protocol), dict(self.hyperparameters),
                                          identity.data_source(self.user_data))

    def folder(self, root: Path) -> Path:
        return identity.cell_dir(root, self.dataset, self.corruption.canonical().slug, self.method_folder,
                              self.configuration_key, self.seed)

    def identity(self) -> dict:
        """What decides the cell's numbers (``gdw_bench.core.identity``). The method's hyperparameters are
        the *resolved* ones (its defaults with the overrides applied, ``meta_mode`` included), and its
        ``version`` is in: a changed default or a changed method makes old records stale."""
        from gdw_bench.methods import cards  # torch-free: the stored cards, or the imported registry's

        card = cards.card(self.method)
        return identity.build_identity(
            self.dataset, dataclasses.asdict(self.corruption.canonical()), self.method, card.version,
            card.resolve(dict(self.hyperparameters)), dict(self.hyperparameters),
            self.seed, dataclasses.asdict(self.protocol), self.diagnostics, identity.data_source(self.user_data))

    def ensure_dataset(self) -> None:
        """Register the user's dataset in this process (a pool worker starts without it)."""
        if self.user_data:
            kind, path, meta_per_class, description = self.user_data
            if self.dataset not in DATASETS or DATASETS[self.dataset].user != (kind, path):
                register_user_dataset(self.dataset, kind, path, meta_per_class, description)

    @functools.cached_property
    def config_hash(self) -> str:
        return identity.config_hash(self.identity())

    @property
    def noisy(self) -> bool:
        """Synthetic label noise: the record then tracks the regime (memorisation, weight separation)."""
        return self.corruption.canonical().noise != "none"

    def network_seed(self, network: int) -> int:
        """Initial weights of network ``network`` (never the method: seeds are paired across methods)."""
        return seeds.train_seed(self.dataset, self.corruption.canonical().slug, self.seed, network)

    @property
    def train_seed(self) -> int:
        """Training randomness shared by every method: network 0's init, batch order, augmentation,
        meta-batch stream."""
        return self.network_seed(0)

    def seeds_used(self, num_networks: int) -> dict:
        return {"scheme": seeds.SEED_SCHEME,
                "data": seeds.data_seed(self.dataset, self.corruption.canonical().slug, self.seed),
                "train": self.train_seed,
                "networks": [self.network_seed(i) for i in range(num_networks)],
                "auxiliary": self.network_seed(seeds.AUXILIARY_NETWORK)}


class CellFailed(RuntimeError):
    pass


class CellSkipped(Exception):
    """The cell was not trained by this call; ``reason``: busy (another process holds its lock),
    done (another process finished it meanwhile), stale or corrupt (a record left for the user)."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


