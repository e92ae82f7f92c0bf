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
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from gdw_bench.datasets.corruption import Corruption
from gdw_bench.errors import UserInputError
from gdw_bench.plan.specs import Profile, Protocol, StandIn
from gdw_bench.storage.store import atomic_write_json

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
            "source": profile.source, "extra_levels": {k: list(v) for k, v in profile.extra_levels.items()}}


def profile_from_dict(data: dict) -> Profile:
    def stand(value):
        if value is None:
            return None
        corruption = Corruption(**value["corruption"]) if value.get("corruption") else None
        return StandIn(value["dataset"], corruption, value.get("note", ""))

    return Profile(data["name"], data["description"], {k: stand(v) for k, v in data["datasets"].items()},
                   {k: Protocol(**v) for k, v in data["protocols"].items()}, data.get("method_overrides", {}),
                   {(d, dev): s for d, dev, s in data.get("base_epoch_seconds", [])}, data.get("needs_gpu", False),
                   {k: tuple(v) for k, v in data.get("user_datasets", {}).items()},
                   tuple(data["seeds"]) if data.get("seeds") else None, tuple(data.get("tables", ())),
                   data.get("source", ""), {k: tuple(v) for k, v in data.get("extra_levels", {}).items()})


@dataclass
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
        return cls(data["name"], profile_from_dict(data["profile"]), data.get("tables", []), data.get("seeds"),
                   data.get("methods"), data.get("levels"), [(k, v) for k, v in data.get("axes", [])],
                   [(profile_from_dict(p), values) for p, values in data.get("points", [])], data.get("argv", []),
                   data.get("written_at", ""))


def path_of(root: Path, name: str) -> Path:
    return Path(root) / RUNS / f"{name}.json"


def save(root: Path, run: StoredRun) -> Path:
    run.written_at = run.written_at or datetime.now(timezone.utc).isoformat(timespec="seconds")
    path = path_of(root, run.name)
    atomic_write_json(path, run.to_json())
    return path


def names(root: Path) -> list[str]:
    """Stored runs under ``root``, the one written last first."""
    folder = Path(root) / RUNS
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("*.json"):
        try:
            found.append((json.loads(path.read_text(encoding="utf-8")).get("written_at", ""), path.stem))
        except (OSError, ValueError):
            continue
    return [name for _, name in sorted(found, reverse=True)]


def load(root: Path, name: str) -> StoredRun:
    path = path_of(root, name)
    try:
        return StoredRun.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        known = names(root)
        raise UserInputError(f"no stored run '{name}' under {root}; valid: {', '.join(known) or '(none yet)'}") \
            from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserInputError(f"{path}: not a readable stored run ({type(exc).__name__}: {exc})") from None
