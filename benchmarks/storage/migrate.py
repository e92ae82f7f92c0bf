"""Results roots of the older layout (``<root>/<profile>/<dataset>/<corruption>/<method>/seed-<n>``),
moved in place to today's (``<root>/<dataset>/<corruption>/<method>/<configuration key>/seed-<n>``):
`gdw-bench migrate`. Nothing is retrained and nothing is deleted.

Each finished record's identity loses the profile name and gains ``overrides``: the hyperparameters
its resolved set holds at a value other than the method's default today (what the profile must have
set), so it lands where today's `run` looks for the same cell. Its whole cell folder moves (the
record, TensorBoard events, anything kept aside); the record is rewritten with the new identity, its
hash and ``migrated_from``. A cell of today's layout already there wins: the older copy stays where it
was and is counted. Folders without a record (a failure, a partial checkpoint) are left in place: the
cell trains again in the new layout, as it would have.

Restartable: the record is rewritten first, atomically, inside its old folder, and the folder is moved
second. A kill between the two leaves a rewritten record in the old layout, which the next `migrate`
finds and moves (the rewrite is idempotent: the new identity maps to itself); each folder's temporary
files from a killed write are swept before it is touched. The target is built from the record's own
fields, so each part must be a plain name that stays under the root (``files.inside``): a shared
results folder cannot move anything elsewhere.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

from gdw_bench.core import identity
from gdw_bench.storage import record as record_schema
from gdw_bench.storage import store


def old_layout_records(root: Path) -> list[Path]:
    """Records at ``<profile>/<dataset>/<corruption>/<method>/seed-<n>/record.json`` under ``root``."""
    root = Path(root)
    found = []
    for path in root.glob(f"*/*/*/*/seed-*/{store.RECORD}"):
        parts = path.relative_to(root).parts
        if not parts[3].startswith(identity.CONFIG_KEY_PREFIX) and not parts[0].startswith("."):
            found.append(path)
    return sorted(found)


@dataclass
class Migration:
    moved: list = field(default_factory=list)  # (old folder, new folder)
    duplicates: list = field(default_factory=list)  # old folders whose cell already exists in the new layout
    unreadable: list = field(default_factory=list)  # (old folder, why)


def effective_overrides(method: str, resolved: dict) -> dict:
    """The hyperparameters ``resolved`` holds at another value than the method's default today."""
    from gdw_bench.methods import get_method  # torch: the defaults of a method's class, for old records only

    defaults = dataclasses.asdict(get_method(method).Hyperparameters())
    return {k: v for k, v in sorted(resolved.items()) if k not in defaults or defaults[k] != v}


def migrate(root: Path, dry_run: bool = False) -> Migration:
    """Move every older-layout record's cell folder to today's layout (see the module's docstring)."""
    root = Path(root)
    done = Migration()
    for path in old_layout_records(root):
        folder = path.parent
        if not dry_run:
            store.remove_temp_files(folder)  # a rewrite killed before its rename
        record, problem = record_schema.read(path)
        if record is None or not isinstance(record.get("identity"), dict):
            done.unreadable.append((folder, problem or "no identity (written before identities were stored)"))
            continue
        old = record["identity"]
        try:
            overrides = effective_overrides(record["method"], old.get("hyperparameters", {}))
        except Exception as exc:  # a plugin method no longer installed: leave the cell where it is
            done.unreadable.append((folder, f"method '{record['method']}': {exc}"))
            continue
        new = {k: v for k, v in old.items() if k != "profile"}
        new["overrides"] = overrides
        key = identity.configuration_key(new.get("protocol") or {}, overrides, new.get("data_source"))
        try:
            target = identity.cell_dir(root, record["dataset"], record["corruption"]["slug"], folder.parent.name, key,
                                    record["seed"])
        except ValueError as exc:
            done.unreadable.append((folder, f"its record names {exc}; left where it is"))
            continue
        if target.exists():
            done.duplicates.append(folder)
            continue
        done.moved.append((folder, target))
        if dry_run:
            continue
        was_current = identity.config_hash(old) == record.get("config_hash")
        record["identity"] = new
        # a record whose stored identity no longer hashed to its config hash (altered) stays stale
        record["config_hash"] = identity.config_hash(new) if was_current else record.get("config_hash")
        record.setdefault("migrated_from", str(folder.relative_to(root)))  # kept from a rewrite a kill interrupted
        record_schema.write(path, record)  # first, in place: a kill after it leaves a record the next run moves
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(folder, target)
    if not dry_run:
        _remove_empty_folders(root, {f for f, _ in done.moved})
    return done


def _remove_empty_folders(root: Path, moved: set[Path]) -> None:
    """The older layout's folders emptied by the moves, up to (not including) the root."""
    for folder in moved:
        for parent in folder.parents:
            if parent == root or root not in parent.parents:
                break
            try:
                parent.rmdir()
            except OSError:
                break
