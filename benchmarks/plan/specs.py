"""Declarative specs of the paper's tables and figures, and the profiles that size them.

A *table spec* names the paper's columns (dataset, setting, level) and methods; a *profile* maps
each paper dataset onto what runs here (the paper's data, or a stand-in) and gives the training
protocol. Both ``run`` and ``report`` read these; neither imports a method to do so.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from gdw_bench.datasets.corruption import Corruption
from gdw_bench.training.cell import Protocol  # the cell's protocol lives with the cell (torch-free)
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


@dataclass(frozen=True)
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
    TableSpec("2", "Test accuracy (%) with uniform noise",
              tuple(noise_column(d, "uniform", r) for d in (C10, C100) for r in (0.0, 0.4, 0.6)), NOISE_METHODS),
    TableSpec("3", "Test accuracy (%) with flip noise",
              tuple(noise_column(d, "flip", r) for d in (C10, C100) for r in (0.0, 0.2, 0.4)), NOISE_METHODS),
    TableSpec("4", "Test accuracy (%) on long-tailed data (μ = n_min/n_max)",
              tuple(imbalance_column(d, mu) for d in (C10, C100) for mu in (1.0, 0.1, 0.01)), IMBALANCE_METHODS),
    TableSpec("5", "Test accuracy (%) on Clothing1M", (Column("clothing1m", "real", "", Corruption()),),
              REAL_WORLD_METHODS),
    TableSpec("6", "Ratio of increased class-level weights ω_i on C_j instances (long-tailed CIFAR-10, μ = 0.1)",
              (imbalance_column(C10, 0.1),), ("gdw",), kind="weight_ratios", diagnostics=True, metric=WEIGHT_RATIOS),
    TableSpec("7", "Test accuracy (%) on Places-LT", (Column("places_lt", "imbalance", "", Corruption()),),
              ("l2rw", "insw", "mwnet", "gdw")),
    TableSpec("8", "Test accuracy (%) under mixed uniform noise and long tail",
              tuple(mixed_column(d, r, mu) for d in (C10, C100) for mu in (0.1, 0.01) for r in (0.4, 0.6)),
              ("mwnet", "gdw"), regime_methods=("basemodel",)),
    TableSpec("fig3", "Fig. 3: target weight ω_t of clean vs noisy instances (CIFAR-10, 40 % uniform)",
              (noise_column(C10, "uniform", 0.4),), ("gdw",), kind="figure", diagnostics=True,
              metric="histogram of ω_t at the last epoch, clean vs noisy instances, pooled over seeds"),
    TableSpec("fig4", "Fig. 4: class-level weights of one noisy instance before/after an iteration, GDW vs MWNet",
              (noise_column(C10, "uniform", 0.4),), ("mwnet", "gdw"), kind="figure", diagnostics=True,
              metric="the K class-level weights of one recorded noisy instance, before and after its iteration"),
    TableSpec("fig5", "Fig. 5: per-epoch ratio of increased ω^c_nt, ω^n_tt, ω^n_nt (CIFAR-10, 40 % uniform)",
              (noise_column(C10, "uniform", 0.4),), ("gdw",), kind="figure", diagnostics=True,
              metric="per epoch, increased / all weights of each category, mean over seeds"),
    TableSpec("fig6", "Fig. 6: per-epoch ratio of increased ω_8 on C9 instances (long-tailed CIFAR-10, μ = 0.1)",
              (imbalance_column(C10, 0.1),), ("gdw",), kind="figure", diagnostics=True,
              metric="per epoch, increased ω_{K-2} / all ω_{K-2} on C_{K-1} instances, mean over seeds"),
    TableSpec("fig7", "Fig. 7: training curves with and without the zero-mean constraint (CIFAR-10, 40 % uniform)",
              (noise_column(C10, "uniform", 0.4),), ("gdw", "gdw-nozm"), kind="figure",
              metric="test accuracy (%) per epoch, mean over seeds"),
]}


@dataclass(frozen=True)
class StandIn:
    """What a paper dataset becomes in a profile: a dataset, and optionally a fixed corruption that
    replaces the column's (for real-world data with no synthetic equivalent)."""

    dataset: str
    corruption: Corruption | None = None
    note: str = ""


@dataclass(frozen=True)
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
    source: str = ""  # the config file and --set overrides it came from ("" for the built-ins)
    # Levels beyond the paper's columns, by setting ("uniform" | "flip" | "imbalance" → rates or μ): a
    # config's [levels] table; `run` trains them and `report` shows them as extra columns.
    extra_levels: dict = field(default_factory=dict)

    def stand_in(self, paper_dataset: str) -> StandIn | None:
        return self.datasets.get(paper_dataset)

    def resolve(self, column: Column) -> tuple[str, Corruption] | None:
        """(dataset, corruption) that runs for ``column`` here, or None if the profile omits it."""
        stand = self.stand_in(column.dataset)
        if stand is None:
            return None
        return stand.dataset, (stand.corruption or column.corruption)


def fmnist_stand_ins(note: str) -> dict:
    """The CPU Fashion-MNIST profiles' stand-ins: CIFAR-10 → Fashion-MNIST; CIFAR-100 omitted (10 classes);
    Clothing1M → Fashion-MNIST with 40 % uniform noise; Places-LT → Fashion-MNIST long-tailed, μ = 0.1."""
    return {C10: StandIn("fashion-mnist", note=note), C100: None,
            "clothing1m": StandIn("fashion-mnist", Corruption("uniform", 0.4), "Fashion-MNIST, 40 % uniform"),
            "places_lt": StandIn("fashion-mnist", Corruption("none", 0.0, 0.1), "Fashion-MNIST, μ = 0.1")}


MINI_NOTE = ("digits (8×8, 1,157 train / 100 meta / 540 test), MLP with 128 batch-normalised hidden units, "
             "80 epochs, no augmentation")
PROFILES: dict[str, Profile] = {p.name: p for p in [
    Profile(
        "paper", "The paper's protocol: CIFAR with ResNet-32, 80 epochs; Clothing1M and Places-LT with "
                 "ImageNet-pretrained ResNet-18 (Appendix C, D.2, E)",
        {C10: StandIn(C10), C100: StandIn(C100), "clothing1m": StandIn("clothing1m"),
         "places_lt": StandIn("places_lt")},
        {C10: Protocol("resnet32", 80), C100: Protocol("resnet32", 80),
         # Clothing1M (Appendix E and §4.3): 5 epochs, lr 1e-3, batch 128, wd 1e-3, 7k meta set.
         "clothing1m": Protocol("resnet18", 5, 128, 128, 1e-3, weight_decay=1e-3, pretrained=True),
         # Places-LT (Appendix D.2): 10 epochs, lr 0.01 cosine, batch 64, wd 1e-3.
         "places_lt": Protocol("resnet18", 10, 64, 64, 1e-2, weight_decay=1e-3, pretrained=True)},
        base_epoch_seconds={(C10, "cpu"): 90.0, (C100, "cpu"): 90.0, (C10, "cuda"): 6.0, (C100, "cuda"): 6.0,
                            ("clothing1m", "cuda"): 1800.0, ("places_lt", "cuda"): 300.0,
                            ("clothing1m", "cpu"): 90000.0, ("places_lt", "cpu"): 15000.0},
        needs_gpu=True),
    Profile(
        "mini", "CPU minutes: every table and figure on scikit-learn's bundled digits. Stand-ins: "
                "CIFAR-10 → digits; CIFAR-100 → omitted (digits has 10 classes); Clothing1M → digits with "
                "40 % uniform noise; Places-LT → digits long-tailed μ = 0.1",
        {C10: StandIn("digits", note=MINI_NOTE), C100: None,
         "clothing1m": StandIn("digits", Corruption("uniform", 0.4), "digits, 40 % uniform noise"),
         "places_lt": StandIn("digits", Corruption("none", 0.0, 0.1), "digits, long-tailed μ = 0.1")},
        {"digits": Protocol("mlp128bn", 80, augment=False, eval_batch_size=2000)},
        method_overrides={"finetune": {"finetune_iterations": 100}},
        base_epoch_seconds={("digits", "cpu"): 0.019, ("digits", "cuda"): 0.01}),  # measured: 1.5 s / 80 epochs
    Profile(
        "fmnist", "Real Fashion-MNIST in the paper's proportions at CPU scale: a fixed 20,400-image stratified "
                  "subset (400 of them, 40 per class, the clean meta set: 2 % of the data, as the paper's 1,000 of "
                  "50,000), 20,000 noisy training images, the full 10,000-image test set, an MLP with 128 "
                  "batch-normalised hidden units, 35 epochs, no augmentation. Stand-ins: CIFAR-10 → Fashion-MNIST; "
                  "CIFAR-100 → omitted; Clothing1M → Fashion-MNIST 40 % uniform; Places-LT → Fashion-MNIST μ = 0.1",
        fmnist_stand_ins("Fashion-MNIST 20,000 noisy + 400 meta (2 %), MLP-128-BN, 35 epochs"),
        # 35 epochs, chosen by the regime diagnostics (BaseModel, 40 % uniform, 5 seeds): at 30 it lay 4.8–6.3
        # points below its best epoch (seed 10000 under the 5-point bar), at 35 6.9–7.7 on every seed
        {"fashion-mnist": Protocol("mlp128bn", 35, train_subset=20400, meta_per_class=40, augment=False,
                                   eval_batch_size=2000)},
        method_overrides={"finetune": {"finetune_iterations": 500}},
        base_epoch_seconds={("fashion-mnist", "cpu"): 0.5, ("fashion-mnist", "cuda"): 0.2}),  # measured: 15–20 s / 35
    Profile(
        "fmnist-small", "Quick real-data check, NOT the paper's proportions: Fashion-MNIST, a fixed 5,000-image "
                        "stratified subset (1,000 of them the clean meta set: 20 % of the data, ten times the "
                        "paper's share, which favours the methods that train on it), 4,000 noisy training images, "
                        "the full test set, MLP-128-BN, 30 epochs. Stand-ins as in 'fmnist'",
        fmnist_stand_ins("Fashion-MNIST 4,000 noisy + 1,000 meta (20 %), MLP-128-BN, 30 epochs"),
        {"fashion-mnist": Protocol("mlp128bn", 30, train_subset=5000, augment=False, eval_batch_size=2000)},
        method_overrides={"finetune": {"finetune_iterations": 500}},
        base_epoch_seconds={("fashion-mnist", "cpu"): 0.2, ("fashion-mnist", "cuda"): 0.2}),  # measured: 4–7 s / 30
    Profile(
        "fmnist-paper", "The paper's CIFAR protocol on real Fashion-MNIST, for a GPU: ResNet-32 with a 1-channel "
                        "stem on all 60,000 training images zero-padded to 32×32 (1,000 of them the clean, balanced "
                        "meta set), 80 epochs, batch 100, lr 0.1 cosine, random crop (pad 4) + flip, the full "
                        "10,000-image test set. Stand-ins: CIFAR-10 → Fashion-MNIST; the others omitted",
        {C10: StandIn("fashion-mnist", note="Fashion-MNIST 60k at 32×32, ResNet-32 (paper protocol)"), C100: None,
         "clothing1m": None, "places_lt": None},
        {"fashion-mnist": Protocol("resnet32", 80, pad_to=32, crop_pad=4)},
        base_epoch_seconds={("fashion-mnist", "cpu"): 100.0, ("fashion-mnist", "cuda"): 5.0},
        needs_gpu=True),
]}


def get_table(key: str) -> TableSpec:
    key = str(key).lower().removeprefix("table")
    if key not in TABLES:
        raise unknown_choice("table", key, TABLES)
    return TABLES[key]


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise unknown_choice("profile", name, PROFILES)
    return PROFILES[name]


def parse_seeds(text: str) -> tuple[int, ...]:
    """'1,10,100' → (1, 10, 100); one-line error naming the bad item otherwise."""
    seeds = []
    for item in str(text).split(","):
        item = item.strip()
        if not (item.isascii() and item.isdigit()):  # "²" and "①" are digits to str.isdigit, not to int()
            raise UserInputError(f"bad seed '{item}' in --seeds '{text}'; valid: comma-separated non-negative integers")
        seeds.append(int(item))
    if len(set(seeds)) != len(seeds):
        raise UserInputError(f"--seeds '{text}' repeats a seed")
    return tuple(seeds)


__all__ = ["Column", "PAPER_METHOD_NAMES", "READER_NAMES", "reader_name", "PAPER_SEEDS", "PROFILES", "Profile",
           "Protocol", "StandIn", "TABLES",
           "TableSpec", "get_profile", "get_table", "parse_seeds", "replace"]
