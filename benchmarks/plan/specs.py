"""Declarative specs of the paper's tables and figures, and the profiles that size them.

A *table spec* names the paper's columns (dataset, setting, level) and methods; a *profile* maps
each paper dataset onto what runs here (the paper's data, or a stand-in) and gives the training
protocol. Both ``run`` and ``report`` read these; neither imports a method to do so.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field, replace

from gdw_bench.core.cell import Protocol  # the cell's protocol lives with the cell (torch-free)
from gdw_bench.datasets.corruption import Corruption
from gdw_bench.errors import UserInputError, unknown_choice

PAPER_SEEDS = (1, 10, 100, 1000, 10000)  # Appendix C

# The method names the paper (and paper_results.csv) uses, by registry key.
PAPER_METHOD_NAMES = {
    "basemodel": "BaseModel", "finetune": "Fine-tuning", "focal": "Focal", "cb": "Balanced",
    "coteaching": "Co-teaching", "glc": "GLC", "l2rw": "L2RW", "insw": "INSW", "mwnet": "MWNet",
    "softlabel": "Soft-label", "genlabel": "Gen-label", "gdw": "GDW", "gdw-nozm": "GDW w/o zero-mean",
}
# How a reader names a dataset (tables' LaTeX group headers, figure titles); a key not here is shown as is.
READER_NAMES = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "clothing1m": "Clothing1M", "places_lt": "Places-LT",
                "digits": "digits", "fashion-mnist": "Fashion-MNIST"}


def reader_name(dataset: str) -> str:
    return READER_NAMES.get(dataset, dataset)


NOISE_METHODS = ("basemodel", "finetune", "coteaching", "glc", "l2rw", "insw", "mwnet", "softlabel", "genlabel", "gdw")
IMBALANCE_METHODS = ("basemodel", "finetune", "focal", "cb", "l2rw", "insw", "mwnet", "gdw")
REAL_WORLD_METHODS = NOISE_METHODS


@dataclass(frozen=True)
class Column:
    """One column of a paper table: a paper dataset, a setting name and a level as printed."""

    dataset: str
    setting: str  # uniform | flip | imbalance | mixed | real
    level: str  # "0.4", "0.01", "noise=0.4;imb=0.1", "" (as in paper_results.csv)
    corruption: Corruption

    @property
    def label(self) -> str:
        return f"{self.dataset} {self.setting} {self.level}".strip()


def noise_column(dataset: str, setting: str, rate: float) -> Column:
    return Column(dataset, setting, f"{rate:g}", Corruption(setting, rate))


def imbalance_column(dataset: str, mu: float) -> Column:
    return Column(dataset, "imbalance", f"{mu:g}", Corruption("none", 0.0, mu))


def mixed_column(dataset: str, rate: float, mu: float) -> Column:
    return Column(dataset, "mixed", f"noise={rate:g};imb={mu:g}", Corruption("uniform", rate, mu))


ACCURACY = "top-1 test accuracy (%), mean of the last 5 epochs' evaluations; mean ± std over seeds"
WEIGHT_RATIOS = "ratio of increased ω_i on instances labelled C_j over the last epoch, mean over seeds"


@dataclass(frozen=True, kw_only=True)
class TableSpec:
    """A paper table or figure. Epochs, model and optimiser come from the profile's protocol for
    each dataset (``Profile.protocols``), so one spec serves the paper, mini and fmnist grids."""

    key: str  # "2".."8", "6" (weights), "fig3".."fig7"
    title: str
    columns: tuple[Column, ...]
    methods: tuple[str, ...]
    kind: str = "accuracy"  # accuracy | weight_ratios | figure
    diagnostics: bool = False  # cells record GDW/MWNet class-level weights
    note: str = ""
    metric: str = ACCURACY
    seeds: tuple[int, ...] = PAPER_SEEDS  # what `run` and `report` use when --seeds is not given
    # Trained by `run` with the table (no --methods) but not rows of it: Table 8 prints no BaseModel, yet
    # its columns' regime verdict (does a plain network memorise here?) needs BaseModel's cells.
    regime_methods: tuple[str, ...] = ()


LEVELED_SETTINGS = ("uniform", "flip", "imbalance")  # a table of these takes levels outside the paper's


def level_column(dataset: str, setting: str, value: float) -> Column:
    """A column of ``setting`` at ``value`` (a noise rate, or μ for imbalance)."""
    return imbalance_column(dataset, value) if setting == "imbalance" else noise_column(dataset, setting, value)


def takes_levels(table: TableSpec) -> bool:
    """Whether levels outside the paper's can be added: an accuracy table of one leveled setting whose
    columns all have a numeric level (Tables 2, 3 and 4)."""
    if table.kind != "accuracy" or len({c.setting for c in table.columns}) != 1 \
            or table.columns[0].setting not in LEVELED_SETTINGS:
        return False
    try:
        return all(float(c.level) >= 0 for c in table.columns)
    except ValueError:
        return False


def with_levels(table: TableSpec, values) -> TableSpec:
    """``table`` with a column for each of ``values`` it does not already have, for every paper dataset
    it spans: noise rates of Tables 2–3 or μ of Table 4 outside the paper's, shown as extra columns.
    Columns stay grouped by dataset and ordered by level (μ from balanced to most skewed)."""
    values = sorted({float(v) for v in values})
    if not values:
        return table
    if not takes_levels(table):
        raise UserInputError(f"table {table.key} takes no level outside the paper's; valid: levels of tables 2, 3 "
                             f"(noise rate) and 4 (μ)")
    setting = table.columns[0].setting
    have = {(c.dataset, float(c.level)) for c in table.columns}
    datasets = list(dict.fromkeys(c.dataset for c in table.columns))
    columns = list(table.columns) + [level_column(d, setting, v) for d in datasets for v in values if (d, v) not in have]
    sign = -1.0 if setting == "imbalance" else 1.0
    columns.sort(key=lambda c: (datasets.index(c.dataset), sign * float(c.level)))
    return replace(table, columns=tuple(columns))


def extra_levels(table: TableSpec) -> list[str]:
    """The level strings of a table's columns that are not the paper's (added by ``with_levels``)."""
    paper = {c.level for c in TABLES[table.key].columns} if table.key in TABLES else set()
    return [c.level for c in table.columns if c.level not in paper]


C10, C100 = "cifar10", "cifar100"
TABLES: dict[str, TableSpec] = {t.key: t for t in [
    TableSpec(key="2", title="Test accuracy (%) with uniform noise",
              columns=tuple(noise_column(d, "uniform", r) for d in (C10, C100) for r in (0.0, 0.4, 0.6)),
              methods=NOISE_METHODS),
    TableSpec(key="3", title="Test accuracy (%) with flip noise",
              columns=tuple(noise_column(d, "flip", r) for d in (C10, C100) for r in (0.0, 0.2, 0.4)),
              methods=NOISE_METHODS),
    TableSpec(key="4", title="Test accuracy (%) on long-tailed data (μ = n_min/n_max)",
              columns=tuple(imbalance_column(d, mu) for d in (C10, C100) for mu in (1.0, 0.1, 0.01)),
              methods=IMBALANCE_METHODS),
    TableSpec(key="5", title="Test accuracy (%) on Clothing1M", columns=(Column("clothing1m", "real", "", Corruption()),),
              methods=REAL_WORLD_METHODS),
    TableSpec(key="6",
              title="Ratio of increased class-level weights ω_i on C_j instances (long-tailed CIFAR-10, μ = 0.1)",
              columns=(imbalance_column(C10, 0.1),), methods=("gdw",), kind="weight_ratios", diagnostics=True,
              metric=WEIGHT_RATIOS),
    TableSpec(key="7", title="Test accuracy (%) on Places-LT", columns=(Column("places_lt", "imbalance", "", Corruption()),),
              methods=("l2rw", "insw", "mwnet", "gdw")),
    TableSpec(key="8", title="Test accuracy (%) under mixed uniform noise and long tail",
              columns=tuple(mixed_column(d, r, mu) for d in (C10, C100) for mu in (0.1, 0.01) for r in (0.4, 0.6)),
              methods=("mwnet", "gdw"), regime_methods=("basemodel",)),
    TableSpec(key="fig3", title="Fig. 3: target weight ω_t of clean vs noisy instances (CIFAR-10, 40 % uniform)",
              columns=(noise_column(C10, "uniform", 0.4),), methods=("gdw",), kind="figure", diagnostics=True,
              metric="histogram of ω_t at the last epoch, clean vs noisy instances, pooled over seeds"),
    TableSpec(key="fig4", title="Fig. 4: class-level weights of one noisy instance before/after an iteration, GDW vs MWNet",
              columns=(noise_column(C10, "uniform", 0.4),), methods=("mwnet", "gdw"), kind="figure", diagnostics=True,
              metric="the K class-level weights of one recorded noisy instance, before and after its iteration"),
    TableSpec(key="fig5", title="Fig. 5: per-epoch ratio of increased ω^c_nt, ω^n_tt, ω^n_nt (CIFAR-10, 40 % uniform)",
              columns=(noise_column(C10, "uniform", 0.4),), methods=("gdw",), kind="figure", diagnostics=True,
              metric="per epoch, increased / all weights of each category, mean over seeds"),
    TableSpec(key="fig6", title="Fig. 6: per-epoch ratio of increased ω_8 on C9 instances (long-tailed CIFAR-10, μ = 0.1)",
              columns=(imbalance_column(C10, 0.1),), methods=("gdw",), kind="figure", diagnostics=True,
              metric="per epoch, increased ω_{K-2} / all ω_{K-2} on C_{K-1} instances, mean over seeds"),
    TableSpec(key="fig7", title="Fig. 7: training curves with and without the zero-mean constraint (CIFAR-10, 40 % uniform)",
              columns=(noise_column(C10, "uniform", 0.4),), methods=("gdw", "gdw-nozm"), kind="figure",
              metric="test accuracy (%) per epoch, mean over seeds"),
]}


@dataclass(frozen=True)
class StandIn:
    """What a paper dataset becomes in a profile: a dataset, and optionally a fixed corruption that
    replaces the column's (for real-world data with no synthetic equivalent)."""

    dataset: str
    corruption: Corruption | None = None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str
    description: str
    datasets: dict  # paper dataset → StandIn, or None when the profile leaves it out
    protocols: dict  # profile dataset → Protocol
    method_overrides: dict = field(default_factory=dict)  # method key → {hyperparameter: value}
    base_epoch_seconds: dict = field(default_factory=dict)  # (dataset, device type) → s/epoch of BaseModel
    needs_gpu: bool = False
    # The user's own datasets (config files): key → (source kind, path, meta per class, description).
    user_datasets: dict = field(default_factory=dict)
    seeds: tuple[int, ...] | None = None  # a config's default seeds (else each table's)
    tables: tuple[str, ...] = ()  # a config's tables, run when `run --config` names no --table
    source: str = ""  # the config file and --set overrides it came from, shell-quoted ("" for the built-ins)
    # Levels beyond the paper's columns, by setting ("uniform" | "flip" | "imbalance" → rates or μ): a
    # config's [levels] table; `run` trains them and `report` shows them as extra columns.
    extra_levels: dict = field(default_factory=dict)
    # The built-in profile at the root of its ``extends`` chain (a built-in: its own name): what
    # ``info --config`` writes as ``extends`` of the resolved config.
    built_on: str = ""

    def rerun_arguments(self) -> list[str]:
        """The `run` arguments that select this profile again: ``--profile NAME``, or the config file and
        --set overrides it came from (``source``, split as the shell would; a config file gets ``--config``)."""
        try:
            words = shlex.split(self.source)
        except ValueError:  # a stored run's source that no shell could have typed
            words = []
        if not words:
            return ["--profile", self.name]
        return words if words[0] == "--set" else ["--config", *words]

    def stand_in(self, paper_dataset: str) -> StandIn | None:
        return self.datasets.get(paper_dataset)

    def resolve(self, column: Column) -> tuple[str, Corruption] | None:
        """(dataset, corruption) that runs for ``column`` here, or None if the profile omits it."""
        stand = self.stand_in(column.dataset)
        if stand is None:
            return None
        return stand.dataset, (stand.corruption or column.corruption)


def get_table(key: str) -> TableSpec:
    key = str(key).lower().removeprefix("table")
    if key not in TABLES:
        raise unknown_choice("table", key, TABLES)
    return TABLES[key]


def parse_seeds(text: str) -> tuple[int, ...]:
    """'1,10,100' → (1, 10, 100); one-line error naming the bad item otherwise."""
    seeds = []
    for item in str(text).split(","):
        item = item.strip()
        # "²" and "①" are digits to str.isdigit, not to int(); 5,000 digits are past int()'s own limit
        if not (item.isascii() and item.isdigit()) or len(item.lstrip("0")) > 19 or int(item) > MAX_SEED:
            shown = item if len(item) <= 40 else item[:20] + f"… ({len(item)} characters)"
            shown_text = text if len(text) <= 60 else text[:40] + "…"
            raise UserInputError(f"bad seed '{shown}' in --seeds '{shown_text}'; valid: comma-separated integers "
                                 f"0…{MAX_SEED}")
        seeds.append(int(item))
    if len(set(seeds)) != len(seeds):
        raise UserInputError(f"--seeds '{text}' repeats a seed")
    return tuple(seeds)


MAX_SEED = (1 << 63) - 1  # the largest integer TOML holds: a config's seeds and --seeds share one range


__all__ = ["Column", "PAPER_METHOD_NAMES", "READER_NAMES", "reader_name", "PAPER_SEEDS", "Profile",
           "Protocol", "StandIn", "TABLES",
           "TableSpec", "get_table", "parse_seeds", "replace"]
