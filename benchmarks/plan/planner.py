"""A run request, resolved once into a plan: ``plan(request) -> Plan``.

A ``RunRequest`` is what a user asked for, as typed (table, seeds, methods, levels, profile, config
file, ``--set`` and ``--sweep`` texts). ``plan`` resolves it once — the profile after the config and
overrides, the tables with their extra levels, the seeds, a sweep's axes and one profile per point —
into a ``Plan``: every cell with its protocol, its method's resolved hyperparameters and version
(``cell.identity()``, from the method cards), its seeds and its folder. Plain data, torch-free: `run
--dry-run` prints it, `run` stores it (``stored_run``) and hands its cells to one ``execute``.
Every bad value is a one-line ``UserInputError`` here, before anything is written.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from gdw_bench.core.cell import CellConfig
from gdw_bench.errors import UserInputError, number_or_text, refuse_repeats
from gdw_bench.plan import grid
from gdw_bench.plan.config import derived_name, parse_value, resolve_profile
from gdw_bench.plan.runs import StoredRun
from gdw_bench.plan.specs import TABLES, Profile, TableSpec, get_table, parse_seeds


@dataclass(frozen=True, kw_only=True)
class RunRequest:
    """What `run` was asked, as typed; ``None`` where an option was left out."""

    table: str | None = None  # "2", "fig3", "all"; None: the config's ``tables``
    seeds: str | None = None  # "1,10,100"; None: the config's, else each table's
    methods: str | None = None  # "gdw,mwnet" or "all"; None: each table's
    levels: str | None = None  # "0,0.4"; None: the table's columns (and the profile's extra levels)
    profile: str = "mini"
    config: Path | None = None
    sets: tuple[str, ...] = ()  # --set KEY=VALUE
    sweeps: tuple[str, ...] = ()  # --sweep KEY=V1,V2
    from_scratch: bool = False
    argv: tuple[str, ...] = ()  # the command line, kept with the stored run


@dataclass(frozen=True, kw_only=True)
class Plan:
    """A request resolved: the profile, tables, seeds, sweep and every distinct cell (shared cells once)."""

    request: RunRequest
    profile: Profile
    tables: tuple[TableSpec, ...]
    seeds: tuple[int, ...]
    axes: tuple = ()  # ((key, (text values…)), …) of --sweep
    points: tuple = ()  # ((profile, {key: value}), …): one resolved profile per point of the axes' product
    cells: tuple[CellConfig, ...] = ()

    @property
    def name(self) -> str:
        """The stored run's name: the profile's, or for a sweep the profile's and the swept keys'."""
        return self.profile.name if not self.axes else derived_name(self.profile.name,
                                                                    "sweep-" + "+".join(k for k, _ in self.axes))

    def stored_run(self) -> StoredRun:
        return StoredRun(name=self.name, profile=self.profile, tables=[t.key for t in self.tables],
                         seeds=list(self.seeds), methods=self.request.methods, levels=self.request.levels,
                         axes=[(k, list(v)) for k, v in self.axes], points=list(self.points),
                         argv=list(self.request.argv))


def plan(request: RunRequest) -> Plan:
    profile = resolve_profile(request.profile, request.config, request.sets)
    tables = _tables(request.table, profile)
    seeds = parse_seeds(request.seeds) if request.seeds is not None else profile.seeds or tables[0].seeds
    axes, points = sweep_points(request, profile)
    cells, seen = [], set()
    for variant in [p for p, _ in points] or [profile]:  # a sweep: one profile per point; cells they share, once
        cells += grid.cells_of_tables(list(tables), variant, seeds, request.methods, request.levels,
                                      request.from_scratch, seen)
    if not cells:
        raise UserInputError(f"table {', '.join(t.key for t in tables)} has no cells in profile '{profile.name}' for "
                             f"these options")
    return Plan(request=request, profile=profile, tables=tables, seeds=tuple(seeds),
                axes=tuple((k, tuple(v)) for k, v in axes), points=tuple(points), cells=tuple(cells))


def _tables(text: str | None, profile: Profile) -> tuple[TableSpec, ...]:
    if text is None and not profile.tables:
        raise UserInputError("--table is missing; valid: 2–8 or fig3–fig7 (or `tables = [...]` in a --config)")
    if text is not None and text.strip().lower() == "all":  # every table and figure; cells shared once
        return tuple(TABLES.values())
    return (get_table(text),) if text is not None else tuple(get_table(t) for t in profile.tables)


# Top-level config keys a sweep cannot vary: they name the run (name, description), pick its base (extends)
# or select what runs (seeds, tables, levels: --seeds and --levels say those), rather than change a cell.
UNSWEPT_KEYS = ("name", "extends", "description", "seeds", "tables", "levels", "stand_ins", "needs_gpu")


def sweep_points(request: RunRequest, base: Profile) -> tuple[list, list]:
    """--sweep KEY=V1,V2 (repeatable): the axes [(key, [values])] and one resolved profile per point of
    their product, named for it ('mini+gdw.outer_lr=10'); each point is --set KEY=V on top of the rest."""
    axes = []
    for item in request.sweeps:
        key, sep, text = item.partition("=")
        values = [v.strip() for v in text.split(",") if v.strip()]
        if not sep or not key.strip() or not values:
            raise UserInputError(f"bad --sweep '{item}'; expected KEY=V1,V2,…, e.g. gdw.outer_lr=10,50,100 or "
                                 f"epochs=20,40")
        key = key.strip()
        if key in [k for k, _ in axes]:
            raise UserInputError(f"--sweep {key} is given twice; valid: each key once, its values comma-separated")
        if key.split(".")[0] in UNSWEPT_KEYS:
            raise UserInputError(f"--sweep {key}: '{key.split('.')[0]}' cannot be swept (it names or selects the run, "
                                 f"it does not change how a cell trains); valid: a protocol key (epochs=20,40), "
                                 f"datasets.<dataset>.<key> or <method>.<hyperparameter> (gdw.outer_lr=10,50)")
        refuse_repeats(f"--sweep {key}", text, values, lambda v: number_or_text(parse_value(v)))  # 50 and 50.0
        axes.append((key, values))
    points = []
    for combination in itertools.product(*(values for _, values in axes)) if axes else []:
        assignment = dict(zip((k for k, _ in axes), combination))
        name = derived_name(base.name, "+".join(f"{k}={v}" for k, v in assignment.items()))
        variant = resolve_profile(request.profile, request.config,
                                  (*request.sets, *(f"{k}={v}" for k, v in assignment.items()), f"name={name}"))
        points.append((variant, {k: parse_value(v) for k, v in assignment.items()}))
    return axes, points


def planned_device_type(device: str) -> str:
    """The device type a plan's time estimate is for, without importing torch (`run --dry-run`): "cpu",
    "cuda", or for "auto" whether an NVIDIA driver is loaded here — torch itself decides when training."""
    if device == "auto":
        return "cuda" if Path("/proc/driver/nvidia/version").exists() else "cpu"
    if device != "cpu" and not device.startswith("cuda"):
        raise UserInputError(f"unknown device '{device}'; valid: auto, cpu, cuda, cuda:N")
    return "cpu" if device == "cpu" else "cuda"
