"""A cell's identity, its hash, where it lives, and whether a record matches what a profile defines.

Torch-free and method-free, so that ``report`` can tell current records from stale ones by reading
files only. The identity is everything that decides a cell's numbers: dataset, corruption, method,
the method's ``version``, the hyperparameters set explicitly (``overrides``) and the *resolved* ones
(defaults included, ``meta_mode`` too), seed, protocol, diagnostics, the seed scheme, and the kind of
the user's data source. ``run`` builds it from the registered method (``engine.CellConfig.identity``)
and stores it in the record.

The profile's *name* is not in it: a profile is a label for a request, and two requests that define
the same cell share it. A cell lives in ``<dataset>/<corruption>/<method>/<configuration key>/seed-<n>``
(``cell_dir`` below), the key a hash of what a request may change — the protocol, the explicit
hyperparameters, the data source — so ``--set gdw.outer_lr=50`` or a ``--sweep`` finds every other
method's finished cells where they are and trains only GDW's new ones. A changed method ``version``
or default keeps the folder and makes its record stale (``run --rerun-stale``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from gdw_bench import seeds, statefile
from gdw_bench.files import inside

_DIGESTS: dict = {}  # (path, size, mtime) → content digest: a grid of 150 cells reads a model file once


def file_digest(path: str) -> str:
    """``sha256:<12 hex digits>`` of a file's content; ``unreadable`` where it cannot be read (a report on
    a machine without the file: its cells then show as stale, never as someone else's)."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):
        return "unreadable"
    key = (path, info.st_size, info.st_mtime_ns)
    if key not in _DIGESTS:
        try:
            data = statefile.read_bytes(Path(path), statefile.LIMITS["model file"])
        except (OSError, statefile.Unreadable):
            return "unreadable"
        _DIGESTS[key] = "sha256:" + hashlib.sha256(data).hexdigest()[:12]
    return _DIGESTS[key]


def portable_protocol(protocol: dict) -> dict:
    """The protocol as identities see it: a model named by a file (``/home/me/clone/nets/my.py:Net``, as the
    config loader resolved it for the workers) by what it is — the file's name and a hash of its content,
    ``my.py:Net@sha256:1a2b3c4d5e6f`` — never by where this clone or cluster mounts it. Moving a clone
    retrains nothing; editing the model file makes its cells new ones. ``validation`` (a tuning trial's) is
    left out where it is unset, so the identities of every cell trained before it existed stay as they were."""
    if "validation" in protocol and protocol["validation"] is None:  # added later: in identities only when set
        protocol = {k: v for k, v in protocol.items() if k != "validation"}
    model = protocol.get("model")
    if isinstance(model, str) and ":" in model:
        module, _, attribute = model.rpartition(":")
        if module.endswith(".py"):
            return {**protocol, "model": f"{Path(module).name}:{attribute}@{file_digest(module)}"}
    return protocol


def data_source(user: tuple | None) -> str | None:
    """A user's dataset (``(kind, path, …)`` of a config's ``[datasets.X]``) as identities see it: its kind,
    the file or folder name and a hash of what it holds — an npz file's content; an image folder's file
    names and sizes — never where this clone mounts it. Another file under the same dataset key makes new
    cells; moving the data retrains nothing. None for the built-in datasets."""
    if not user:
        return None
    kind, path = user[0], str(user[1])
    if kind == "npz":
        return f"npz:{Path(path).name}@{file_digest(path)}"
    return f"{kind}:{Path(path).name}@{_tree_digest(path)}"


def _tree_digest(folder: str) -> str:
    """``sha256:<12 hex digits>`` of every file's relative path and size under ``folder`` (no image is read);
    listed once per process (each cell's identity and folder, and each record a report reads, ask)."""
    key = ("tree", folder)
    if key not in _DIGESTS:
        _DIGESTS[key] = _list_and_hash(folder)
    return _DIGESTS[key]


def _list_and_hash(folder: str) -> str:
    listing = []
    for here, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(here, name)
            try:
                listing.append(f"{os.path.relpath(full, folder)}\t{os.path.getsize(full)}")
            except OSError:
                continue
    return "sha256:" + hashlib.sha256("\n".join(listing).encode()).hexdigest()[:12] if listing else "unreadable"


def build_identity(dataset: str, corruption: dict, method: str, method_version: int, hyperparameters: dict,
                   overrides: dict, seed: int, protocol: dict, diagnostics: bool,
                   data_source: str | None = None) -> dict:
    identity = {"dataset": dataset, "corruption": corruption, "method": method, "method_version": method_version,
                "hyperparameters": hyperparameters, "overrides": dict(sorted(overrides.items())), "seed": seed,
                "protocol": portable_protocol(protocol), "diagnostics": diagnostics, "seed_scheme": seeds.SEED_SCHEME}
    if data_source:
        identity["data_source"] = data_source
    return identity


CONFIG_KEY_PREFIX = "cfg-"  # marks the configuration level of the layout (an older layout has none)


def configuration_key(protocol: dict, overrides: dict, data_source: str | None) -> str:
    """The folder of a cell's configuration: what a request can change about a (dataset, corruption,
    method) besides the seed, hashed. Readable in full from any record beneath it (``identity``)."""
    what = {"protocol": portable_protocol(protocol), "overrides": dict(sorted(overrides.items())),
            "data_source": data_source}
    return CONFIG_KEY_PREFIX + hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:10]


def config_hash(identity: dict) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:12]


def profile_protocol(record: dict, profile) -> dict | None:
    """The protocol ``profile`` gives the record's dataset today, as the record's identity stores it
    (``portable_protocol``; None: none)."""
    protocol = profile.protocols.get(record.get("dataset"))
    if protocol is None:
        return None
    if record.get("from_scratch"):
        protocol = dataclasses.replace(protocol, pretrained=False)
    return portable_protocol(dataclasses.asdict(protocol))


def identity_for(record: dict, profile, hyperparameters: dict | None = None, method_version: int = 1) -> dict:
    """The identity `run` would store for the cell ``record`` describes under ``profile`` today, given
    the method's resolved hyperparameters (default: just the profile's overrides) and version."""
    overrides = profile.method_overrides.get(record["method"], {})
    user = profile.user_datasets.get(record["dataset"], ())
    corruption = {k: v for k, v in record.get("corruption", {}).items() if k != "slug"}
    return build_identity(record["dataset"], corruption, record["method"], method_version,
                          {**overrides, **(hyperparameters or {})}, overrides, record["seed"],
                          profile_protocol(record, profile), bool(record.get("diagnostics")), data_source(user))


def record_is_current(record: dict, profile) -> bool:
    """Whether ``record`` was trained under the configuration ``profile`` defines today: its stored
    identity hashes to its config hash, and it has today's protocol, seed scheme, data source and the
    profile's hyperparameter overrides. (Whether the method's code or defaults changed since is what
    ``run --dry-run`` checks, with the methods imported.) Reads the record, never writes it; a report
    asks once per record (``gdw_bench.reporting.records``)."""
    identity = record.get("identity")
    if not isinstance(identity, dict) or config_hash(identity) != record.get("config_hash"):
        return False  # written before identities were stored (all stale since), or altered
    if "overrides" in identity:  # today's identity: what the profile asks of this method, exactly
        if identity["overrides"] != dict(sorted(profile.method_overrides.get(record.get("method"), {}).items())):
            return False
    elif record.get("profile") != profile.name or identity.get("profile") != profile.name:
        return False  # a record of the older layout, whose identity named its profile: that profile's only
    if identity.get("protocol") != profile_protocol(record, profile) or identity.get("seed_scheme") != seeds.SEED_SCHEME:
        return False
    user = profile.user_datasets.get(record.get("dataset"), ())
    if identity.get("data_source") != data_source(user):
        return False
    resolved = identity.get("hyperparameters", {})
    return all(resolved.get(k, object()) == v for k, v in profile.method_overrides.get(record.get("method"), {}).items())


def cell_dir(root: Path, dataset: str, corruption_slug: str, method_folder: str, configuration_key: str,
             seed: int) -> Path:
    """``<root>/<dataset>/<corruption>/<method>/<configuration key>/seed-<n>`` (``identity.py``)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed {seed!r} is not a non-negative integer")
    return inside(root, dataset, corruption_slug, method_folder, configuration_key, f"seed-{seed}")
