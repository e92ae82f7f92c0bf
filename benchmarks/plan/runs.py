"""The resolved run, stored beside its results: ``<results>/runs/<name>.json``.

`run` resolves what the user asked for once — the profile after ``--config``/``--set`` (protocol per
dataset, hyperparameters, stand-ins, extra levels), the tables, seeds, methods, levels, and a
``--sweep``'s axes with one resolved profile per point — and writes it here before training. `report`
and `results` read it back by name (``--profile <name>``; without ``--profile``, the run written last),
so they describe exactly what was trained without ``--config``/``--set`` again, and without torch.
Plain JSON, written atomically; a newer run of the same name replaces it (the cells it names are
found by identity either way).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from gdw_bench import statefile
from gdw_bench.core.cell import protocol_problem
from gdw_bench.datasets.corruption import Corruption
from gdw_bench.errors import UserInputError
from gdw_bench.files import atomic_write_json
from gdw_bench.plan.config import check_name
from gdw_bench.plan.specs import Profile, Protocol, StandIn

RUNS = "runs"
RUN_SCHEMA = 1


def profile_to_dict(profile: Profile) -> dict:
    def stand(value: StandIn | None):
        if value is None:
            return None
        return {"dataset": value.dataset, "note": value.note,
                "corruption": dataclasses.asdict(value.corruption) if value.corruption else None}

    return {"name": profile.name, "description": profile.description,
            "datasets": {k: stand(v) for k, v in profile.datasets.items()},
            "protocols": {k: dataclasses.asdict(v) for k, v in profile.protocols.items()},
            "method_overrides": profile.method_overrides, "needs_gpu": profile.needs_gpu,
            "base_epoch_seconds": [[d, dev, s] for (d, dev), s in profile.base_epoch_seconds.items()],
            "user_datasets": {k: list(v) for k, v in profile.user_datasets.items()},
            "seeds": list(profile.seeds) if profile.seeds else None, "tables": list(profile.tables),
            "source": profile.source, "extra_levels": {k: list(v) for k, v in profile.extra_levels.items()},
            "built_on": profile.built_on}


def profile_from_dict(data: dict) -> Profile:
    def stand(value):
        if value is None:
            return None
        corruption = Corruption(**value["corruption"]) if value.get("corruption") else None
        return StandIn(value["dataset"], corruption, value.get("note", ""))

    return Profile(name=data["name"], description=data["description"],
                   datasets={k: stand(v) for k, v in data["datasets"].items()},
                   protocols={k: Protocol(**v) for k, v in data["protocols"].items()},
                   method_overrides=data.get("method_overrides", {}),
                   base_epoch_seconds={(d, dev): s for d, dev, s in data.get("base_epoch_seconds", [])},
                   needs_gpu=data.get("needs_gpu", False),
                   user_datasets={k: tuple(v) for k, v in data.get("user_datasets", {}).items()},
                   seeds=tuple(data["seeds"]) if data.get("seeds") else None, tables=tuple(data.get("tables", ())),
                   source=data.get("source", ""),
                   extra_levels={k: tuple(v) for k, v in data.get("extra_levels", {}).items()},
                   built_on=data["built_on"] if isinstance(data.get("built_on"), str) else "")


@dataclass(kw_only=True)
class StoredRun:
    """What one `run` resolved: the profile (after --config/--set) and, for a sweep, one profile per
    point of the swept axes (``axes``: [(key, [values])], ``points``: [(profile, {key: value})])."""

    name: str
    profile: Profile
    tables: list[str]
    seeds: list[int] | None
    methods: str | None = None
    levels: str | None = None
    axes: list = field(default_factory=list)
    points: list = field(default_factory=list)
    argv: list = field(default_factory=list)
    written_at: str = ""

    @property
    def swept_methods(self) -> set[str]:
        """Methods a sweep's hyperparameter axes change (``gdw`` for ``gdw.outer_lr``); empty for a
        protocol axis, which changes every method."""
        return {key.split(".")[0] for key, _ in self.axes if "." in key}

    def to_json(self) -> dict:
        return {"schema": RUN_SCHEMA, "name": self.name, "profile": profile_to_dict(self.profile),
                "tables": self.tables, "seeds": self.seeds, "methods": self.methods, "levels": self.levels,
                "axes": [[k, list(v)] for k, v in self.axes],
                "points": [[profile_to_dict(p), values] for p, values in self.points],
                "argv": self.argv, "written_at": self.written_at}

    @classmethod
    def from_json(cls, data: dict) -> "StoredRun":
        return cls(name=data["name"], profile=profile_from_dict(data["profile"]), tables=data.get("tables", []),
                   seeds=data.get("seeds"), methods=data.get("methods"), levels=data.get("levels"),
                   axes=[(k, v) for k, v in data.get("axes", [])],
                   points=[(profile_from_dict(p), values) for p, values in data.get("points", [])],
                   argv=data.get("argv", []), written_at=data.get("written_at", ""))


def path_of(root: Path, name: str) -> Path:
    return Path(root) / RUNS / f"{name}.json"


def save(root: Path, run: StoredRun) -> Path:
    run.written_at = run.written_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    path = path_of(root, run.name)
    atomic_write_json(path, run.to_json())
    return path


def _profile_problem(data, where: str) -> str | None:
    """What makes a stored profile unusable (None: nothing): every field's type, every protocol value's
    type and range, the seeds."""
    wrong = statefile.object_problem(data) or statefile.fields_problem(data, PROFILE_FIELDS, where)
    if wrong:
        return wrong if wrong.startswith("field") else f"'{where.rstrip('.')}' {wrong}"
    for dataset, protocol in data["protocols"].items():
        if not isinstance(protocol, dict):
            return f"'{where}protocols.{dataset}' is {statefile.type_name(protocol)}, not an object"
        for key in ("model", "epochs"):
            if key not in protocol:
                return f"'{where}protocols.{dataset}' has no '{key}'"
        for key, value in protocol.items():
            bad = protocol_problem(key, value)
            if bad:
                return f"'{where}protocols.{dataset}.{key}' {bad}"
    for dataset, stand in data["datasets"].items():
        if stand is not None and not (isinstance(stand, dict) and isinstance(stand.get("dataset"), str)):
            return f"'{where}datasets.{dataset}' is not a stand-in ({{dataset, note, corruption}} or null)"
    seeds = data["seeds"]
    if seeds is not None and not (isinstance(seeds, list) and all(statefile.is_int(s) and s >= 0 for s in seeds)):
        return f"'{where}seeds' = {str(seeds)[:40]!r}: valid: a list of non-negative integers or null"
    if not all(isinstance(v, dict) for v in data["method_overrides"].values()):
        return f"'{where}method_overrides' holds a value that is not an object"
    for row in data["base_epoch_seconds"]:
        if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str) and isinstance(row[1], str)
                and statefile.is_number(row[2]) and row[2] > 0):
            return f"'{where}base_epoch_seconds' holds {str(row)[:40]!r}; valid: [dataset, device, seconds > 0]"
    return None


PROFILE_FIELDS = {"name": (str,), "description": (str,), "datasets": (dict,), "protocols": (dict,),
                  "method_overrides": (dict,), "needs_gpu": (bool,), "base_epoch_seconds": (list,),
                  "user_datasets": (dict,), "seeds": (list, type(None)), "tables": (list,), "source": (str,),
                  "extra_levels": (dict,)}
RUN_FIELDS = {"name": (str,), "profile": (dict,), "tables": (list,), "seeds": (list, type(None)),
              "methods": (str, type(None)), "levels": (str, type(None)), "axes": (list,), "points": (list,),
              "argv": (list,), "written_at": (str,)}


def run_problem(data) -> str | None:
    """What makes a stored run's JSON unusable (None: nothing): its schema, every field's type and range,
    its profile and each sweep point's (``statefile`` reads it; this is its check)."""
    wrong = statefile.object_problem(data, "schema", RUN_SCHEMA) or statefile.fields_problem(data, RUN_FIELDS)
    if wrong:
        return wrong
    try:
        check_name(data["name"])
    except UserInputError:
        return f"'name' = {data['name'][:40]!r} is not a plain name (letters, digits and . _ + = -)"
    seeds = data["seeds"]
    if seeds is not None and not all(statefile.is_int(s) and s >= 0 for s in seeds):
        return f"'seeds' = {str(seeds)[:40]!r}: valid: a list of non-negative integers or null"
    if not all(isinstance(t, str) for t in data["tables"]):
        return "'tables' holds a value that is not text"
    if not all(isinstance(a, list) and len(a) == 2 and isinstance(a[0], str) and isinstance(a[1], list)
               for a in data["axes"]):
        return "'axes' holds a value that is not [key, [values]]"
    wrong = _profile_problem(data["profile"], "profile.")
    for i, point in enumerate(data["points"]):
        if wrong:
            break
        if not (isinstance(point, list) and len(point) == 2 and isinstance(point[1], dict)):
            return f"'points' entry {i} is not [profile, {{key: value}}]"
        wrong = _profile_problem(point[0], f"points.{i}.profile.")
    if wrong:
        return wrong
    try:
        StoredRun.from_json(data)
    except (KeyError, TypeError, ValueError) as exc:  # a field the checks above did not reach
        return f"not a stored run this gdw-bench reads ({type(exc).__name__}: {str(exc)[:80]})"
    return None


def _read(path: Path) -> statefile.StateFile:
    return statefile.read(path, "stored run", run_problem)


def names(root: Path, problems: list[str] | None = None) -> list[str]:
    """Usable stored runs under ``root``, the one written last first; each damaged one is one line in
    ``problems`` (left as it is)."""
    folder = Path(root) / RUNS
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.glob("*.json")):
        read = _read(path)
        if read.value is not None:
            found.append((read.value["written_at"], path.stem))
        elif read.reason is not None and problems is not None:
            problems.append(f"{read.problem}; left as it is (this stored run is not used)")
    return [name for _, name in sorted(found, reverse=True)]


def stored(root: Path, name: str) -> bool:
    """Whether something is stored under the run name ``name`` (usable or not)."""
    try:
        check_name(name)
    except UserInputError:
        return False
    return os.path.lexists(path_of(root, name))


def load(root: Path, name: str) -> StoredRun:
    try:
        check_name(name)
    except UserInputError:
        raise UserInputError(f"--profile {name[:40]!r}: not a profile or stored run name (letters, digits and "
                             f". _ + = -)") from None
    read = _read(path_of(root, name))
    if read.missing:
        known = names(root)
        raise UserInputError(f"no stored run '{name}' under {root}; valid: {', '.join(known) or '(none yet)'}")
    if read.reason is not None:
        raise UserInputError(f"{read.problem}; valid: a stored run `gdw-bench run` wrote (rerun it to write it again)")
    return StoredRun.from_json(read.value)
