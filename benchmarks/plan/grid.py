"""The cells of tables under a profile, their status, what a run trains, and the checks of their data and
models before anything is written (``planner`` resolves a whole request with these)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from gdw_bench.core.cell import CellConfig
from gdw_bench.errors import UserInputError, number_or_text, refuse_repeats
from gdw_bench.methods.cards import card, method_keys
from gdw_bench.plan.specs import Profile, TableSpec, takes_levels, with_levels


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
