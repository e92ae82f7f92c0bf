"""Profiles from TOML config files and ``--set`` overrides, validated key by key.

TOML because the standard library reads it (``tomllib``, Python ≥ 3.11; the ``tomli`` backport
below that), it has typed numbers, booleans and lists, and pyproject.toml made it familiar; YAML
would add a dependency and its implicit typing ("no" is false, "1e3" is a string). A config starts
from a profile (``extends``, a built-in name or another config file) and changes what it names::

    extends = "mini"                  # start from the built-in mini profile
    name = "mini-20ep"                # results go to results/mini-20ep/… (default: the file's stem)
    seeds = [1, 10, 100]              # default seeds (else each table's five)
    tables = ["2"]                    # what `run --config` runs when no --table is given

    [datasets.digits]                 # the protocol of a dataset of the profile
    epochs = 20

    [datasets.mydata]                 # your own data: an .npz or an ImageFolder tree
    source = "npz"                    # npz | imagefolder
    path = "data/mydata.npz"          # relative to the config file
    model = "mlp128bn"
    epochs = 30

    [stand_ins]                       # which paper dataset each of the profile's data stands in for
    cifar10 = "mydata"                # or {dataset = "mydata", noise = "uniform", rate = 0.4}

    [methods.gdw]                     # hyperparameter overrides per method
    outer_lr = 50.0

``--set KEY=VALUE`` (repeatable) changes one key after the file: ``epochs=20`` (every dataset's
protocol), ``datasets.digits.lr=0.05``, ``gdw.outer_lr=50`` (or ``methods.gdw.outer_lr=50``),
``seeds=1,2,3``, ``name=my-run``. Every unknown key or bad value is a one-line error naming the key,
the value and the valid choices (with "did you mean").
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from gdw_bench import statefile
from gdw_bench.core.cell import BUILTIN_MODELS, protocol_problem, value_fits
from gdw_bench.datasets.catalogue import DATASETS, USER_SOURCES, register_user_dataset
from gdw_bench.datasets.corruption import Corruption
from gdw_bench.errors import UserInputError, unknown_choice
from gdw_bench.plan.specs import LEVELED_SETTINGS, Profile, Protocol, StandIn, get_table, parse_seeds

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TOP_KEYS = ("extends", "name", "description", "seeds", "tables", "datasets", "stand_ins", "methods", "levels",
            "needs_gpu")
DATASET_KEYS = ("source", "path", "description", "seconds_per_epoch")  # besides the Protocol fields
DEVICE_TYPES = ("cpu", "cuda")  # the keys of a dataset's seconds_per_epoch
PROTOCOL_FIELDS = {f.name: f for f in dataclasses.fields(Protocol)}
PAPER_DATASETS = ("cifar10", "cifar100", "clothing1m", "places_lt")


def read_toml(path: Path, option: str = "--config") -> dict:
    """A config file's table, through the guarded reader (``statefile``: a regular file of at most 4 MiB,
    UTF-8, TOML); anything else is one line naming ``option`` and the file."""
    found = statefile.read(path, "config", fmt="toml")
    if found.missing:
        raise UserInputError(f"{option} {path}: no such file; valid: a TOML file (see `gdw-bench info "
                             f"mini --as-config`)")
    if found.reason is not None:  # "--config x.toml is not valid TOML (…)", "--config x.toml: it is a FIFO, …"
        said = f" is {found.reason}" if found.reason.startswith("not ") else f": {found.reason}"
        raise UserInputError(f"{option} {path}{said}; valid: a TOML file")
    return found.value


def parse_value(text: str):
    """A --set value: a TOML value when it parses as one (50, 0.1, true, "x", [1, 2]), else the text."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def _check_keys(where: str, given, valid) -> None:
    for key in given:
        if key not in valid:
            raise unknown_choice(f"key in {where}", key, valid)


def int_only(annotation):
    """An annotation that accepts an int only where the original names ``int`` itself (not via float)."""
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    return "int" if "int" in str(text).replace("Int", "") else "str"


def _model_reference(value, folder: Path):
    """A model named by a file ('nets/my.py:Net') is resolved against the config's folder, so the
    cells' worker processes and SLURM tasks find the same file."""
    if isinstance(value, str) and ":" in value:
        module, _, attribute = value.rpartition(":")
        if module.endswith(".py"):
            return f"{(folder / Path(module).expanduser()).resolve()}:{attribute}"
    return value


def _protocol(where: str, base: Protocol | None, values: dict) -> Protocol:
    fields = {k: v for k, v in values.items() if k in PROTOCOL_FIELDS}
    for key, value in fields.items():
        wrong = protocol_problem(key, value)
        if wrong:
            raise UserInputError(f"{where}.{key} {wrong}")
    if "model" in fields and fields["model"] not in BUILTIN_MODELS:  # a plugin's or a file's: import it
        from gdw_bench.training.models import resolve_model  # torch: only for a model that is not built in

        try:
            resolve_model(fields["model"])
        except UserInputError as exc:
            raise UserInputError(f"{where}: {exc}") from None
    if base is None:
        missing = [k for k in ("model", "epochs") if k not in fields]
        if missing:
            raise UserInputError(f"{where} needs {' and '.join(missing)} (a new dataset has no protocol to start from)")
        return Protocol(**fields)
    return dataclasses.replace(base, **fields)


def _stand_in(where: str, value, datasets: dict) -> StandIn | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = {"dataset": value}
    if not isinstance(value, dict):
        raise UserInputError(f"{where} = {value!r}: valid: a dataset key or a table {{dataset = …, noise = …, "
                             f"rate = …, imbalance = …, note = …}}")
    _check_keys(where, value, ("dataset", "noise", "rate", "imbalance", "note"))
    if value.get("dataset") not in datasets:
        raise unknown_choice(f"dataset in {where}", value.get("dataset"), datasets)
    corruption = None
    if any(k in value for k in ("noise", "rate", "imbalance")):
        try:
            corruption = Corruption(value.get("noise", "none"), float(value.get("rate", 0.0)),
                                    float(value.get("imbalance", 1.0)))
        except (ValueError, TypeError) as exc:
            raise UserInputError(f"{where}: {exc}") from None
    return StandIn(value["dataset"], corruption, str(value.get("note", "")))


def _set_path(tree: dict, dotted: str, value, method_keys) -> None:
    """Put one --set KEY=VALUE into the config tree (before validation)."""
    parts = dotted.split(".")
    if len(parts) == 1:
        key = parts[0]
        if key in PROTOCOL_FIELDS:  # every dataset of the profile
            tree.setdefault("_all_datasets", {})[key] = value
            return
        if key not in TOP_KEYS:  # a shortcut's typo: "did you mean 'epochs'"
            raise unknown_choice("--set key", key, [*PROTOCOL_FIELDS, *TOP_KEYS])
        if key == "seeds" and isinstance(value, str):
            value = list(parse_seeds(value))
        tree[key] = value
        return
    if parts[0] in method_keys and len(parts) == 2:
        parts = ["methods", *parts]
    elif parts[0] not in TOP_KEYS:  # "gwd.outer_lr": a method's typo
        raise unknown_choice("--set key", parts[0], [*method_keys, *TOP_KEYS])
    node = tree
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise UserInputError(f"--set {dotted}: '{part}' is not a table")
    node[parts[-1]] = value


# The kind of value each top-level key takes (a wrong kind is one line naming the key and what fits).
TOP_KINDS = {"extends": (str, "a profile name or a .toml file"), "name": (str, "a folder name"),
             "description": (str, "text"), "seeds": ((list, tuple), "a list of non-negative integers"),
             "tables": ((list, tuple), 'a list such as ["2", "3"]'),
             "datasets": (dict, "a table of [datasets.<key>] tables"),
             "stand_ins": (dict, "a table mapping paper datasets to yours"),
             "methods": (dict, "a table of [methods.<key>] tables"),
             "levels": (dict, 'a table such as {uniform = [0.2, 0.8], imbalance = [0.05]}'),
             "needs_gpu": (bool, "true or false (the profile is meant for a GPU: `run` warns on a CPU)")}
NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+=-")
NAME_MAX = 100  # characters: a results folder name, well inside every filesystem's 255-byte limit


def check_name(name) -> str:
    """A profile name becomes a results folder: letters, digits and . _ + = - only, at most NAME_MAX."""
    if not isinstance(name, str) or not name or name.startswith(".") or len(name) > NAME_MAX or \
            not set(name) <= NAME_CHARACTERS:
        shown = repr(name) if not isinstance(name, str) or len(name) <= 40 else repr(name[:40] + "…")
        raise UserInputError(f"name = {shown}: valid: 1–{NAME_MAX} letters, digits and . _ + = - (not starting "
                             f"with '.'), since it names the results folder")
    return name


def derived_name(base: str, label: str) -> str:
    """``base+label`` (a --set run's, a sweep's or a sweep point's name), valid by construction: where the
    label has characters a name cannot hold, or the whole would pass NAME_MAX, the label becomes a hash
    of itself and the base is shortened to leave it room."""
    name = f"{base}+{label}"
    if len(name) <= NAME_MAX and set(name) <= NAME_CHARACTERS:
        return name
    digest = hashlib.sha256(label.encode()).hexdigest()[:8]
    return f"{base[:NAME_MAX - len(digest) - 1]}+{digest}"


def _check_kinds(tree: dict) -> None:
    for key, (kind, valid) in TOP_KINDS.items():
        if key in tree and not isinstance(tree[key], kind):
            raise UserInputError(f"{key} = {tree[key]!r}: valid: {valid}")


def load_profile(config: Path | None = None, sets: tuple[str, ...] = (), base: str | None = "mini",
                 _chain: tuple[Path, ...] = (), builtin: bool = False) -> Profile:
    """The profile a config file (and ``--set`` overrides) define, on top of ``base`` or its ``extends``.
    ``base=None`` with no ``extends``: a profile from nothing (the built-ins, ``plan/profiles/*.toml``,
    which ``builtin`` marks: no source to name). ``_chain``: the config files already being read
    through ``extends`` (a cycle is one line)."""
    tree: dict = {}
    folder = Path.cwd()
    extended = bool(_chain)  # read as another config's `extends`: its name is the child's to choose
    if config is not None:
        config = Path(config).expanduser()
        if "\0" in str(config):
            raise UserInputError(f"{'extends' if extended else '--config'} {str(config)!r} holds a NUL byte; valid: "
                                 f"a path to a TOML file")
        tree = read_toml(config, "extends" if extended else "--config")  # first: a symlink loop is its one line
        resolved = config.resolve()
        if resolved in _chain:
            cycle = " → ".join(p.name for p in (*_chain[_chain.index(resolved):], resolved))
            raise UserInputError(f"extends cycle: {cycle}; valid: a chain of configs ending at a built-in profile")
        folder = resolved.parent
        _chain = (*_chain, resolved)
    for item in sets:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"bad --set '{item}'; expected KEY=VALUE, e.g. epochs=20 or gdw.outer_lr=50")
        from gdw_bench.methods.cards import method_keys  # the cards, read only when a run names a method

        _set_path(tree, key.strip(), parse_value(text), method_keys())
    all_datasets = tree.pop("_all_datasets", {})
    _check_keys("the config", tree, TOP_KEYS)
    _check_kinds(tree)

    extends = tree.get("extends", base)
    if extends is None:
        parent = Profile(name="", description="", datasets={}, protocols={})
    elif extends.endswith(".toml"):
        parent = load_profile(folder / extends, _chain=_chain)
    else:
        if extends not in PROFILES:
            raise unknown_choice("profile in extends", extends, PROFILES)
        parent = PROFILES[extends]

    protocols = dict(parent.protocols)
    user = dict(parent.user_datasets)
    for key, values in {**{k: {} for k in (protocols if all_datasets else ())}, **tree.get("datasets", {})}.items():
        if not isinstance(values, dict):
            raise UserInputError(f"datasets.{key} = {values!r}: valid: a table of protocol keys")
        values = {**all_datasets, **values}
        if "model" in values:
            values["model"] = _model_reference(values["model"], folder)
        _check_keys(f"datasets.{key}", values, (*PROTOCOL_FIELDS, *DATASET_KEYS))
        if "source" in values:
            try:
                check_name(key)  # it names the dataset's results folder
            except UserInputError:
                raise UserInputError(f"datasets.{key!r}: valid dataset keys: 1–{NAME_MAX} letters, digits and "
                                     f". _ + = - (the key names its results folder)") from None

            if values["source"] not in USER_SOURCES:
                raise unknown_choice(f"source of datasets.{key}", values["source"], USER_SOURCES)
            if "path" not in values:
                raise UserInputError(f"datasets.{key} needs a path to its {values['source']} data")
            path = (folder / Path(values["path"]).expanduser()).resolve()
            meta = values.get("meta_per_class", 10)
            register_user_dataset(key, values["source"], str(path), meta, str(values.get("description", "")))
            user[key] = (values["source"], str(path), meta, str(values.get("description", "")))
        elif key not in protocols:
            if key not in DATASETS:
                raise UserInputError(f"datasets.{key}: not a dataset of this profile or a built-in one; add "
                                     f"source = \"npz\" | \"imagefolder\" and a path for your own data (known: "
                                     f"{', '.join(sorted(set(protocols) | set(DATASETS)))})")
        protocols[key] = _protocol(f"datasets.{key}", protocols.get(key), values)

    stand_ins = dict(parent.datasets)
    given = tree.get("stand_ins", {})
    _check_keys("stand_ins", given, PAPER_DATASETS)
    for paper, value in given.items():
        stand_ins[paper] = _stand_in(f"stand_ins.{paper}", value, protocols)
    for paper, stand in stand_ins.items():  # an inherited note that states the old protocol says what changed
        if stand is not None and stand.note and paper not in given:
            changed = protocol_changes(parent.protocols.get(stand.dataset), protocols.get(stand.dataset))
            if changed:
                stand_ins[paper] = dataclasses.replace(stand, note=f"{stand.note}; changed here: {changed}")
    new = [k for k in protocols if k not in parent.protocols]
    if new and not any(s is not None and s.dataset in new for s in stand_ins.values()):
        raise UserInputError(f"datasets {', '.join(new)} stand in for no paper dataset; add e.g. [stand_ins] "
                             f"cifar10 = \"{new[0]}\" (valid paper datasets: {', '.join(PAPER_DATASETS)})")

    overrides = {k: dict(v) for k, v in parent.method_overrides.items()}
    for method, values in tree.get("methods", {}).items():
        if builtin and isinstance(values, dict):  # as written: no method card is read, so reports import no method
            overrides[method] = {**overrides.get(method, {}), **values}  # (tests check them like any config's)
            continue
        from gdw_bench.methods.cards import card  # the cards, read only when a config names a method

        method_card = card(method)  # "unknown method 'x' (did you mean …)"
        if not isinstance(values, dict):
            raise UserInputError(f"methods.{method} = {values!r}: valid: a table of hyperparameters")
        fields = {h.name: h for h in method_card.hyperparameters}
        for name, value in values.items():
            if name in fields and not value_fits(value, fields[name].annotation):
                raise UserInputError(f"methods.{method}.{name} = {value!r}: expected {fields[name].annotation}")
        method_card.resolve({**overrides.get(method, {}), **values})  # unknown names, out-of-range values
        # 50 and 50.0 set a float hyperparameter alike: one value, so one cell identity and folder
        values = {k: float(v) if k in fields and isinstance(v, int) and not isinstance(v, bool)
                  and not value_fits(v, int_only(fields[k].annotation)) else v for k, v in values.items()}
        overrides[method] = {**overrides.get(method, {}), **values}

    seeds = tree.get("seeds", parent.seeds)
    if seeds is not None:
        if not (isinstance(seeds, list | tuple) and seeds and all(isinstance(s, int) and not isinstance(s, bool)
                                                                   and s >= 0 for s in seeds)):
            raise UserInputError(f"seeds = {seeds!r}: valid: a list of non-negative integers, e.g. [1, 10, 100]")
        if len(set(seeds)) != len(seeds):
            raise UserInputError(f"seeds = {list(seeds)!r} repeats a seed; valid: distinct non-negative integers")
        seeds = tuple(seeds)
    levels = _levels(tree.get("levels", {}), parent.extra_levels)
    tables = tree.get("tables", list(parent.tables))

    if not isinstance(tables, list | tuple) or not all(isinstance(t, str | int) and not isinstance(t, bool)
                                                       for t in tables):
        raise UserInputError(f"tables = {tables!r}: valid: a list such as [\"2\", \"3\"]")
    tables = tuple(get_table(str(t)).key for t in tables)

    name = tree["name"] if "name" in tree else config.stem if config is not None else None  # name = "" is an error
    if name is None:  # --set only: a name of its own, so the results never mix with the base profile's
        name = derived_name(parent.name, hashlib.sha256(json.dumps(sorted(sets)).encode()).hexdigest()[:6])
    if not extended or "name" in tree:  # an extended file's stem never names a folder: the child's name does
        check_name(name)
    source = "" if builtin else shlex.join(([str(config)] if config is not None else []) +
                                            [word for s in sets for word in ("--set", s)])
    estimates = dict(parent.base_epoch_seconds)
    for key, protocol in protocols.items():  # the parent's seconds per epoch describe its model, not another
        before = parent.protocols.get(key)
        if before is not None and before.model != protocol.model:
            estimates = {k: v for k, v in estimates.items() if k[0] != key}
    for key, values in tree.get("datasets", {}).items():
        estimates.update(_seconds_per_epoch(f"datasets.{key}.seconds_per_epoch", key, values.get("seconds_per_epoch")))
    for key in user:
        for device in DEVICE_TYPES:
            estimates.setdefault((key, device), 1.0)
    description = tree.get("description") or (f"'{parent.name}' changed by {source}" if not new else
                                              f"your data ({', '.join(new)}) from {source}")
    return Profile(name=name, description=str(description), datasets=stand_ins, protocols=protocols,
                   method_overrides=overrides, base_epoch_seconds=estimates,
                   needs_gpu=tree.get("needs_gpu", parent.needs_gpu), user_datasets=user, seeds=seeds, tables=tables,
                   source=source, extra_levels=levels, built_on=parent.built_on or parent.name or name)


def protocol_changes(before: Protocol | None, after: Protocol | None) -> str:
    """'epochs 35 → 20, lr 0.1 → 0.05': the protocol fields ``after`` changes ("" where none or either is None)."""
    if before is None or after is None:
        return ""
    return ", ".join(f"{f.name} {getattr(before, f.name)} → {getattr(after, f.name)}" for f in dataclasses.fields(after)
                     if getattr(before, f.name) != getattr(after, f.name))


def _seconds_per_epoch(where: str, dataset: str, value) -> dict:
    """A dataset's ``seconds_per_epoch = {cpu = 0.02, cuda = 0.01}``: BaseModel's time per epoch, for the
    estimates of a machine that has measured none yet (``costs``)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not value:
        raise UserInputError(f"{where} = {value!r}: valid: a table such as {{cpu = 0.5, cuda = 0.1}}")
    _check_keys(where, value, DEVICE_TYPES)
    for device, seconds in value.items():
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 < seconds < math.inf:
            raise UserInputError(f"{where}.{device} = {seconds!r}: valid: a positive number of seconds")
    return {(dataset, device): float(seconds) for device, seconds in value.items()}


def _levels(given: dict, inherited: dict) -> dict:
    """A config's [levels]: extra noise rates (uniform, flip: in [0, 1)) or μ (imbalance: in (0, 1])."""
    _check_keys("levels", given, LEVELED_SETTINGS)
    levels = dict(inherited)
    for setting, values in given.items():
        values = values if isinstance(values, list | tuple) else [values]
        for v in values:
            ok = isinstance(v, int | float) and not isinstance(v, bool) and \
                (0.0 < v <= 1.0 if setting == "imbalance" else 0.0 <= v < 1.0)
            if not ok:
                valid = "μ in (0, 1]" if setting == "imbalance" else "noise rates in [0, 1)"
                raise UserInputError(f"levels.{setting} = {values!r}: valid: a list of {valid}, e.g. [0.2, 0.8]")
        levels[setting] = tuple(sorted({float(v) for v in values}))
    return levels


def toml_value(v) -> str:
    """A value as TOML writes it (the configs this suite writes: ``info --as-config``, `tune`'s)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return repr(v)


def toml_key(key: str) -> str:
    """A table or key name as TOML needs it: quoted where it holds a '-' (``methods."gdw-nozm"``)."""
    return json.dumps(key) if "-" in key else key


def to_toml(profile: Profile) -> str:
    """A profile as a config file, to copy and edit (``gdw-bench info <profile> --as-config``), or the profile a
    config resolves to, written out whole (``info --config``): read back, it is the same profile."""
    value = toml_value
    # a built-in: a copy under another name to edit; a config's profile: itself, whole, on its built-in root
    config = bool(profile.source) or profile.name not in PROFILES
    lines = [f"# {profile.description}", f"extends = {value(profile.built_on or profile.name or 'mini')}",
             f"name = {value(profile.name if config else profile.name + '-copy')}"]
    if profile.seeds:
        lines.append(f"seeds = {value(profile.seeds)}")
    if profile.extra_levels:
        lines.append("levels = {" + ", ".join(f"{k} = {value(v)}" for k, v in profile.extra_levels.items()) + "}")
    if profile.tables:
        lines.append(f"tables = {value(profile.tables)}")
    for key, protocol in profile.protocols.items():
        lines += ["", f"[datasets.{toml_key(key)}]"]
        if key in profile.user_datasets:
            kind, path, _, _ = profile.user_datasets[key]
            lines += [f"source = {value(kind)}", f"path = {value(path)}"]
        lines += [f"{k} = {value(v)}" for k, v in dataclasses.asdict(protocol).items() if v is not None]
    lines += ["", "[stand_ins]"]
    for paper, stand in profile.datasets.items():
        if stand is None:
            lines.append(f"{paper} = \"\"  # omitted")
            continue
        entry = {"dataset": stand.dataset}
        if stand.corruption is not None:
            entry.update(noise=stand.corruption.noise, rate=stand.corruption.rate, imbalance=stand.corruption.imbalance)
        if stand.note:
            entry["note"] = stand.note
        lines.append(f"{paper} = {{" + ", ".join(f"{k} = {value(v)}" for k, v in entry.items()) + "}")
    for method, values in profile.method_overrides.items():
        lines += ["", f"[methods.{toml_key(method)}]"]
        lines += [f"{k} = {value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


PROFILE_FOLDER = Path(__file__).resolve().parent / "profiles"
PROFILE_ORDER = ("paper", "mini", "fmnist", "fmnist-small", "fmnist-paper")  # as `list profiles` shows them


class BuiltinProfiles(Mapping):
    """The built-in profiles: ``plan/profiles/<name>.toml``, read on first use by the loader that reads
    your configs (``config.load_profile``), so a built-in is a config like any other — and
    ``gdw-bench info <name> --as-config`` prints one to copy. Ordered as ``PROFILE_ORDER``, then any
    other file by name."""

    def __init__(self):
        self._profiles: dict[str, Profile] | None = None

    def _loaded(self) -> dict[str, Profile]:
        if self._profiles is None:
            files = sorted(PROFILE_FOLDER.glob("*.toml"),
                           key=lambda f: (PROFILE_ORDER.index(f.stem) if f.stem in PROFILE_ORDER else len(PROFILE_ORDER),
                                          f.stem))
            self._profiles = {}
            for path in files:
                self._profiles[path.stem] = load_profile(path, base=None, builtin=True)
        return self._profiles

    def __getitem__(self, name: str) -> Profile:
        return self._loaded()[name]

    def __iter__(self):
        return iter(self._loaded())

    def __len__(self) -> int:
        return len(self._loaded())


PROFILES = BuiltinProfiles()


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise unknown_choice("profile", name, PROFILES)
    return PROFILES[name]


def resolve_profile(name: str, config: Path | None = None, sets: tuple[str, ...] = ()) -> Profile:
    """The built-in profile ``name``, or the one a config file and --set overrides define on top of it."""
    if config is None and not sets:
        return get_profile(name)

    get_profile(name)  # a bad --profile is still an error
    return load_profile(config, tuple(sets), base=name)
