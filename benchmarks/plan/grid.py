"""The cells of tables under a profile, their status, what a run trains, and the checks of their data and
models before anything is written (``planner`` resolves a whole request with these)."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from gdw_bench.errors import UserInputError, first_line, number_or_text, refuse_repeats
from gdw_bench.methods.cards import card, method_keys
from gdw_bench.plan import costs
from gdw_bench.plan.specs import Profile, TableSpec, takes_levels, with_levels
from gdw_bench.storage import store
from gdw_bench.training.cell import CellConfig


def parse_levels(text: str | None, table: TableSpec) -> set[str] | None:
    """'0,0.4' → the matching columns' level strings; one-line errors for bad or absent levels.

    A level is a number (the noise rate or μ of Tables 2–4), a column's level exactly as `list
    tables` prints it (Table 8: 'noise=0.4;imb=0.1'), or one part of it ('noise=0.4', 'imb=0.01': every
    Table 8 column with that part). Tables 5 and 7 have a single column and no level."""
    if text is None:
        return None
    valid = sorted({c.level for c in table.columns})
    if valid == [""]:
        raise UserInputError(f"--levels {text}: table {table.key} has a single column and no levels; valid: leave "
                             f"--levels out")
    items = [item.strip() for item in text.split(",")]
    refuse_repeats("--levels", text, items, number_or_text)  # 0.4 and 0.40 are one level
    chosen = set()
    for item in items:
        parts = [lv for lv in valid if item == lv or item in lv.split(";")]
        if parts:
            chosen.update(parts)
            continue
        value = level_value(item, table)
        match = [lv for lv in valid if _level_value(lv) == value]
        if not match:
            raise UserInputError(f"level {item} is not in table {table.key}; valid: {', '.join(valid)}")
        chosen.update(match)
    return chosen


def level_value(item: str, table: TableSpec) -> float:
    """One numeric level of --levels (or a config's ``levels``) checked for the table's setting: a noise
    rate in [0, 1), or μ in (0, 1]."""
    valid = ", ".join(sorted({c.level for c in table.columns}))
    try:
        value = float(item)
    except ValueError:
        raise UserInputError(f"bad level '{item}'; valid levels for table {table.key}: {valid}, or any other "
                             f"number for tables 2–3 (noise rate in [0, 1)) and 4 (μ in (0, 1])") from None
    imbalance = {c.setting for c in table.columns} == {"imbalance"}
    if imbalance and not 0.0 < value <= 1.0:
        raise UserInputError(f"imbalance level μ = {item} is outside (0, 1]; valid levels for table {table.key}: "
                             f"{valid}, or any μ in (0, 1]")
    if not imbalance and not 0.0 <= value < 1.0:
        raise UserInputError(f"noise level {item} is outside [0, 1); valid levels for table {table.key}: {valid}"
                             + (", or any rate in [0, 1)" if table.key in ("2", "3") else ""))
    return value


def with_requested_levels(table: TableSpec, text: str | None, profile: Profile) -> TableSpec:
    """The table with the columns a run asks for beyond the paper's: numeric --levels it lacks, and the
    profile's ``levels`` for its setting (a config's ``[levels]`` table)."""
    if not takes_levels(table):
        return table
    values = list(profile.extra_levels.get(table.columns[0].setting, ()))
    if text is not None:
        known = {c.level for c in table.columns}
        for item in (i.strip() for i in text.split(",")):
            if item and item not in known:
                value = level_value(item, table)
                if not any(_level_value(lv) == value for lv in known):
                    values.append(value)
    return with_levels(table, values)


def _level_value(level: str) -> float | None:
    try:
        return float(level)
    except ValueError:
        return None


def resolve_methods(text: str | None, table: TableSpec) -> tuple[str, ...]:
    if text is None:
        return table.methods + tuple(m for m in table.regime_methods if m not in table.methods)
    if text.strip() == "all":
        return tuple(method_keys())
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    if not keys:
        raise UserInputError(f"--methods '{text}' names no method; valid: 'all' or comma-separated keys of "
                             f"{', '.join(method_keys())}")
    refuse_repeats("--methods", text, keys)
    for key in keys:
        card(key)  # raises "unknown method 'x' (did you mean ...)"
    return keys


def cells_of_tables(tables: list[TableSpec], profile: Profile, seeds, methods: str | None = None,
                    levels: str | None = None, from_scratch: bool = False, seen: set | None = None) -> list[CellConfig]:
    """The cells of ``tables`` (the --methods and --levels texts parsed for each), each once: tables
    share cells (Table 4's clean column is Table 2's). ``seen``: cells already planned (by folder and
    hash), shared with earlier calls (a sweep's points share the cells no value changes)."""
    cells, seen = [], set() if seen is None else seen
    for table in tables:
        table = with_requested_levels(table, levels, profile)
        cells += table_cells(table, profile, seeds, resolve_methods(methods, table), parse_levels(levels, table),
                             from_scratch, seen)
    return cells


def table_cells(table: TableSpec, profile: Profile, seeds, methods=None, levels=None,
                from_scratch: bool = False, seen: set | None = None) -> list[CellConfig]:
    """Every cell of ``table`` here, deduplicated (stand-in columns may coincide).

    ``from_scratch`` turns the ImageNet-pretrained networks of the real-world protocols into
    randomly initialised ones (offline machines); those cells live in ``<method>+scratch`` folders
    so they never mix with pretrained results. Protocols that are not pretrained are unaffected.
    ``seen``: cells already planned (by folder and hash), shared across tables by ``cells_of_tables``."""
    cells, seen = [], set() if seen is None else seen
    for column in table.columns:
        if levels is not None and column.level not in levels:
            continue
        resolved = profile.resolve(column)
        if resolved is None:
            continue
        dataset, corruption = resolved
        protocol = profile.protocols[dataset]
        scratch = from_scratch and protocol.pretrained
        if scratch:
            protocol = dataclasses.replace(protocol, pretrained=False)
        for method in methods or table.methods:
            overrides = tuple(sorted(profile.method_overrides.get(method, {}).items()))
            for seed in seeds:
                cell = CellConfig(profile=profile.name, dataset=dataset, setting=column.setting, level=column.level,
                                  corruption=corruption, method=method, seed=seed, protocol=protocol,
                                  hyperparameters=overrides, diagnostics=table.diagnostics, from_scratch=scratch,
                                  user_data=profile.user_datasets.get(dataset, ()))
                key = (cell.folder(Path(".")), cell.config_hash)
                if key not in seen:
                    seen.add(key)
                    cells.append(cell)
    return cells


def estimate_seconds(cell: CellConfig, profile: Profile, device_type: str, measured: dict | None = None) -> float:
    """Seconds to train ``cell`` here: what this machine measured (``costs``), else the profile's guess."""
    return costs.estimate(cell, profile, device_type, measured or {})


def check_data(cells: list[CellConfig], data_dir: Path | None, download: bool = False) -> None:
    """Everything the grid's cells will need, checked before anything is written: each dataset's
    source loaded once (a missing download is one line up front, not a failed cell), every planned
    (corruption, seed) split built as indices (meta split sizes, subsets, padding, non-empty splits),
    and every model built and run on a blank batch of its dataset's shape. ``download``: fetch what can
    be fetched (CIFAR) now, in this process, so the cells' processes find it on disk."""
    from gdw_bench.datasets.protocol import check_splits, load_source

    for cell in cells:
        cell.ensure_dataset()
    for dataset in sorted({c.dataset for c in cells}):
        load_source(dataset, data_dir, download)
    seeds_by_split: dict[tuple, set[int]] = {}
    for c in cells:
        p = c.protocol
        key = (c.dataset, c.corruption.canonical(), p.train_subset, p.test_subset, p.meta_per_class, p.pad_to)
        seeds_by_split.setdefault(key, set()).add(c.seed)
    for (dataset, corruption, train_subset, test_subset, meta_per_class, pad_to), seeds in seeds_by_split.items():
        try:
            check_splits(dataset, corruption, sorted(seeds), data_dir, train_subset, test_subset, meta_per_class,
                         pad_to)
        except UserInputError as exc:
            raise UserInputError(f"{dataset} ({corruption.slug}): {exc}") from None
    for dataset, model, pad_to in sorted({(c.dataset, c.protocol.model, c.protocol.pad_to) for c in cells}):
        check_model_fits(dataset, model, pad_to)


def check_model_fits(dataset: str, model: str, pad_to: int | None) -> None:
    """Build ``model`` (untrained) for ``dataset``'s images and classes and run a forward pass on two
    blank images: a model that cannot take the input, or returns the wrong shape, is a one-line
    error before any cell starts, not a failed cell per seed."""
    import torch

    from gdw_bench.datasets import dataset_spec
    from gdw_bench.training.models import build_model

    spec = dataset_spec(dataset)
    channels, height, width = spec.image_shape
    shape = (channels, pad_to, pad_to) if pad_to else (channels, height, width)
    where = f"model '{model}' on {dataset} ({'×'.join(map(str, shape))}, {spec.num_classes} classes)"
    try:
        net = build_model(model, spec.num_classes, channels, pretrained=False, image_shape=shape).eval()
        with torch.no_grad():
            out = net(torch.zeros(2, *shape))
    except UserInputError as exc:
        raise UserInputError(f"{where}: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - the model's own error, in one line
        raise UserInputError(f"{where} does not run: {type(exc).__name__}: {first_line(exc)}") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, spec.num_classes):
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserInputError(f"{where} returns {got} for a batch of 2; expected (2, {spec.num_classes}) logits")


# Why cells are not trained: by their status before a run (`run` says so up front), or by the reason
# the engine skipped them during it (said at the end).
NOT_TRAINED_BECAUSE = {
    "stale": "hold a record of another configuration (left as is; --rerun-stale retrains them)",
    "corrupt": "hold a damaged record (left as is; --rerun-corrupt retrains them)",
    "running": "are being trained by another process (their lock is held)",
    "queued": "are queued or running as SLURM jobs",
    "busy": "were being trained by another process",
    "done": "were finished by another process meanwhile",
}


def default_parallelism(jobs: int | None, threads: int | None, device_type: str, cells: int) -> tuple[int, int | None]:
    """(--jobs, --threads) where not given. On CPU, one thread per cell and as many cells as cores:
    measured on 2 cores, 2 cells × 1 thread filled the grids of the mini and fmnist profiles
    faster than 1 cell × 2 threads (README, "Speed"), since their small networks' steps do not
    split over threads. On a GPU one process: with CUDA graphs an H100 trained 817 fmnist-paper
    cell-epochs an hour with one process and 775–785 with 2, 4 or 8 (without MPS the GPU time-slices
    between processes, so their kernels never overlap)."""
    cores = os.cpu_count() or 1
    if device_type != "cpu":
        return jobs or 1, threads
    if jobs is None:
        jobs = max(1, min(cores // (threads or 1), max(cells, 1)))
    if threads is None and jobs > 1:
        threads = max(1, cores // jobs)
    return jobs, threads


NOT_TO_TRAIN = ("done", "stale", "corrupt", "running", "queued")  # stale, corrupt: records never overwritten


def cell_statuses(cells: list[CellConfig], root: Path, problems: list[str] | None = None) -> list[str]:
    """Each cell's store status; SLURM is asked (once) only when some cell has a queued.json.
    ``problems``: one line per damaged file met."""
    active = None
    if any((c.folder(root) / store.QUEUED).exists() for c in cells):
        from gdw_bench.execution.slurm import active_jobs

        active = active_jobs()
    return [store.cell_status(c.folder(root), c.config_hash, active, problems) for c in cells]


def to_train(status: str, rerun: frozenset = frozenset()) -> bool:
    """Whether ``run`` trains a cell of this status (``rerun``: the kinds of record to retrain)."""
    return status not in NOT_TO_TRAIN or status in rerun
