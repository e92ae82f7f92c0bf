"""Method cards: what planning, validation, `list methods` and `info <method>` need of each method — its
names, version, needs, look, cost and hyperparameters (defaults, ranges, choices) — without importing
torch or the method.

The cards of the built-in methods are stored in ``cards.json`` beside them, with a hash of every
``.py`` file of this folder. They are used only while that hash matches and no plugin is installed;
otherwise (a method edited, a file dropped in, an entry point) the cards are made from the imported
classes, so they are never out of date — just slower to get. ``tests/test_registry.py`` fails when the
stored file lags the code, and ``python -m gdw_bench.methods.cards --write`` (or ``python
tests/test_registry.py``) writes it anew.

A card resolves a cell's hyperparameters (defaults with the overrides applied) with the same checks and
the same error lines as the registry's ``hyperparameters_of`` (``_fields``); from an imported class it
calls that function itself, so a plugin's own ``__post_init__`` checks hold too.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from gdw_bench import statefile
from gdw_bench.errors import unknown_choice
from gdw_bench.files import atomic_write_bytes

from ._fields import (
    FieldRule,
    Range,
    Search,
    check_names,
    check_values,
    hyperparameter_dict,
    hyperparameters_of,
    valid_text,
)
from ._folder import BUILTIN_FILES, ENTRY_POINT_GROUP, FOLDER, NOT_METHOD_FILES, PACKAGE

STORED = FOLDER / "cards.json"
FORMAT = 2  # of cards.json: bump when the card's fields change (2: each hyperparameter's search space)


@dataclass(frozen=True, kw_only=True)
class HyperparameterCard:
    name: str
    annotation: str  # as written in the dataclass ("float | None"): config files are type-checked against it
    default: object
    range: Range | None = None
    choices: tuple = ()
    why: str = ""
    resolved: str = ""  # what a None default becomes (GDW's outer_lr)
    search: Search | None = None  # where `gdw-bench tune` looks; None: never tuned

    @property
    def rule(self) -> FieldRule:
        return FieldRule(self.name, self.range, self.choices, self.why)


@dataclass(frozen=True, kw_only=True)
class MethodCard:
    key: str
    title: str
    paper: str
    order: float
    version: int
    relative_cost: float
    needs_meta_set: bool
    per_instance_state: bool
    num_networks: int
    records_weights: bool
    color: str
    marker: str
    origin: str  # the file or "<distribution> (entry point …)" it came from
    builtin: bool  # a file of this folder
    doc: str  # its module's docstring: paper, equation, deviations
    hyperparameters: tuple[HyperparameterCard, ...] = ()

    def resolve(self, overrides: dict | None = None) -> dict:
        """Its hyperparameters with ``overrides`` applied, checked: what a cell's identity stores."""
        overrides = dict(overrides or {})
        base = sys.modules.get(f"{PACKAGE}.base")
        live = base._REGISTRY.get(self.key) if base is not None else None
        if live is not None:  # the imported class: its dataclass's own checks too
            return hyperparameter_dict(hyperparameters_of(live, overrides))
        rules = [h.rule for h in self.hyperparameters]
        check_names(self.key, rules, overrides)
        check_values(self.key, rules, overrides)
        values = {h.name: overrides.get(h.name, h.default) for h in self.hyperparameters}
        check_values(self.key, rules, values)
        return values

    @property
    def needs(self) -> list[str]:
        return [n for n, on in (("meta set", self.needs_meta_set), ("per-instance state", self.per_instance_state),
                                (f"{self.num_networks} networks", self.num_networks > 1)) if on]

    def describe(self) -> str:
        """One paragraph for `gdw-bench info <key>`: what it is, what it needs, its hyperparameters."""
        listed = "".join(f"\n  {h.name} = {h.default!r}" + (f" → {h.resolved}" if h.default is None and h.resolved
                                                              else "") + f"  (valid: {valid_text(h.rule)}"
                         + (f"; tuned over {h.search}" if h.search else "") + ")" for h in self.hyperparameters)
        return (f"{self.key}: {self.title} — {self.paper}\n"
                f"from: {self.origin}; version {self.version}; needs: {', '.join(self.needs) or 'nothing extra'}"
                f"; relative step cost: {self.relative_cost}\n"
                f"hyperparameters (defaults):{listed or ' none'}\n{self.doc}")


def from_class(cls) -> MethodCard:
    """The card of an imported method class."""
    hyperparameters = []
    for f in dataclasses.fields(cls.Hyperparameters):
        annotation = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        hyperparameters.append(HyperparameterCard(
            name=f.name, annotation=annotation, default=f.default, range=f.metadata.get("range"),
            choices=tuple(f.metadata.get("choices", ())), why=f.metadata.get("why", ""),
            resolved=f.metadata.get("resolved", ""), search=f.metadata.get("search")))
    origin = cls.origin or cls.__module__
    builtin = origin.endswith(".py") and Path(origin).parent == FOLDER and Path(origin).stem in BUILTIN_FILES
    return MethodCard(key=cls.key, title=cls.title, paper=cls.paper, order=float(cls.order), version=int(cls.version),
                      relative_cost=float(cls.relative_cost), needs_meta_set=bool(cls.needs_meta_set),
                      per_instance_state=bool(cls.per_instance_state), num_networks=int(cls.num_networks),
                      records_weights=bool(cls.records_weights), color=cls.color, marker=cls.marker, origin=origin,
                      builtin=builtin, doc=(sys.modules[cls.__module__].__doc__ or "").strip(),
                      hyperparameters=tuple(hyperparameters))


def _suite_file(path: Path) -> bool:
    """A file of the suite's own in this folder: a built-in method's, or a shared module (``_*.py``, ``base``,
    ``cards``, the package's ``__init__``). Any other ``.py`` here is a user's method file: a plugin."""
    return path.stem in BUILTIN_FILES or path.stem in NOT_METHOD_FILES or path.stem.startswith("_")


def source_hash() -> str:
    """A hash of the suite's own .py files of this folder (names and bytes): the stored cards hold for it only."""
    digest = hashlib.sha256()
    for path in sorted(p for p in FOLDER.glob("*.py") if _suite_file(p)):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def plugin_files() -> list[Path]:
    """A user's method files dropped into this folder (the README's ``methods/sce.py``)."""
    return sorted(p for p in FOLDER.glob("*.py") if not _suite_file(p))


def plugins_present() -> bool:
    """Whether a method besides the built-ins can register: an installed entry point or a dropped-in file.
    Then the stored cards (built-ins only) are not the whole list, and the registry is imported instead."""
    return bool(plugin_files()) or bool(list(entry_points(group=ENTRY_POINT_GROUP)))


def _to_json(card: MethodCard) -> dict:
    out = dataclasses.asdict(card)
    out["origin"] = Path(card.origin).name  # made absolute again on reading: the folder moves with the install
    for h in out["hyperparameters"]:
        h["choices"] = list(h["choices"])
        if h["search"] is not None:  # asdict made the search space a dict; its choices a list, as JSON reads them
            h["search"]["choices"] = list(h["search"]["choices"])
    return out


def _from_json(data: dict) -> MethodCard:
    hps = tuple(HyperparameterCard(**{**h, "range": Range(**h["range"]) if h["range"] is not None else None,
                                      "choices": tuple(h["choices"]), "search": _search_from_json(h.get("search"))})
                for h in data["hyperparameters"])
    return MethodCard(**{**data, "origin": str(FOLDER / data["origin"]), "hyperparameters": hps})


def _search_from_json(data) -> Search | None:
    if data is None:
        return None
    return Search(data["kind"], data["low"], data["high"], tuple(data["choices"]), data["integer"])


def catalogue_from_registry() -> dict:
    """The stored file's content, made from the imported registry (built-in methods only)."""
    return {"format": FORMAT, "source_hash": source_hash(),
            "methods": [_to_json(c) for c in _registry_cards().values() if c.builtin]}


def write() -> Path:

    atomic_write_bytes(STORED, (json.dumps(catalogue_from_registry(), indent=1, ensure_ascii=False) + "\n").encode())
    return STORED


CARD_FIELDS = {f.name: f.type for f in dataclasses.fields(MethodCard) if f.name not in ("hyperparameters", "origin",
                                                                                          "builtin")}
HYPERPARAMETER_FIELDS = {"name": (str,), "annotation": (str,), "range": (dict, type(None)), "choices": (list,),
                         "why": (str,), "resolved": (str,), "search": (dict, type(None))}
SEARCH_FIELDS = {"kind": (str,), "low": (int, float, type(None)), "high": (int, float, type(None)), "choices": (list,),
                 "integer": (bool,)}
_JSON_TYPES = {"str": (str,), "float": (int, float), "int": (int,), "bool": (bool,)}


def catalogue_problem(data) -> str | None:
    """What makes a stored cards file unusable (None: nothing): its format, and every card's fields and
    their types (``statefile`` reads it; this is its check). A hash that no longer matches is not damage:
    the file simply lags the code."""
    wrong = statefile.object_problem(data, "format", FORMAT) or \
        statefile.fields_problem(data, {"source_hash": (str,), "methods": (list,)})
    if wrong:
        return wrong
    for i, card in enumerate(data["methods"]):
        where = f"methods.{i}."
        if not isinstance(card, dict):
            return f"card {i} is {statefile.type_name(card)}, not an object"
        fields = {**{name: _JSON_TYPES[str(kind)] for name, kind in CARD_FIELDS.items()}, "origin": (str,),
                  "hyperparameters": (list,)}
        wrong = statefile.fields_problem(card, fields, where) or next(
            filter(None, (_hyperparameter_problem(h, f"{where}hyperparameters.{j}")
                          for j, h in enumerate(card["hyperparameters"]))), None)
        if wrong:
            return wrong
    return None


def _hyperparameter_problem(data, where: str) -> str | None:
    if not isinstance(data, dict):
        return f"'{where}' is {statefile.type_name(data)}, not an object"
    wrong = statefile.fields_problem(data, HYPERPARAMETER_FIELDS, f"{where}.")
    if wrong:
        return wrong
    if "default" not in data:
        return f"field '{where}.default' is missing"
    if data["search"] is not None:
        wrong = statefile.fields_problem(data["search"], SEARCH_FIELDS, f"{where}.search.")
        if wrong:
            return wrong
    if data["range"] is None:
        return None
    limits = data["range"]
    try:
        Range(**limits)
    except TypeError as exc:
        return f"'{where}.range' is not a range ({exc})"
    if not all(end is None or statefile.is_number(end) for end in (limits.get("low"), limits.get("high"))) or \
            not all(isinstance(limits.get(k, False), bool) for k in ("low_open", "high_open")):
        return f"'{where}.range' = {str(limits)[:60]}: valid: finite or null ends, boolean openness"
    return None


def read_stored() -> dict | None:
    """The stored cards file's content, checked (``catalogue_problem``); a damaged file is one warning and
    None (the cards are then made from the method files)."""
    found = statefile.read(STORED, "method cards", catalogue_problem)
    if found.reason is not None:
        print(f"warning: {found.problem}; the method cards are made from the method files instead "
              f"(`python -m gdw_bench.methods.cards --write` writes the file anew)", file=sys.stderr)
    return found.value


def _stored_cards() -> dict[str, MethodCard] | None:
    """The stored cards, when they describe this folder as it is and no plugin can add a method."""
    data = read_stored()
    if data is None or data["source_hash"] != source_hash() or plugins_present():
        return None
    return {c.key: c for c in (_from_json(m) for m in data["methods"])}


def _registry_cards() -> dict[str, MethodCard]:
    from .base import get_method, list_methods  # torch: only where the stored cards lag behind the files

    return {key: from_class(get_method(key)) for key in list_methods()}


_CACHE: dict[str, dict] = {}


def _registry_loaded() -> bool:
    base = sys.modules.get(f"{PACKAGE}.base")
    return base is not None and bool(base._REGISTRY)


def cards() -> dict[str, MethodCard]:
    """Every method's card, in row order (``order``, then key). Where this process has imported the
    registry, it is the truth, read anew each time (a method registered or changed at run time
    included); else the stored cards when current; else the registry, imported now."""
    if _registry_loaded():
        return _ordered(_registry_cards())
    if "stored" not in _CACHE:
        found = _stored_cards()
        _CACHE["stored"] = _ordered(found if found is not None else _registry_cards())
    return _CACHE["stored"]


def _ordered(found: dict) -> dict[str, MethodCard]:
    return dict(sorted(found.items(), key=lambda kv: (kv[1].order, kv[0])))


def method_keys() -> list[str]:
    return list(cards())


def card(key: str) -> MethodCard:
    """The card of ``key``; an unknown key is one line (with "did you mean", or why its file failed)."""
    if _registry_loaded():
        from .base import get_method  # loaded already (``_registry_loaded``): no import happens here

        return from_class(get_method(key))
    found = cards()
    if key not in found:
        if _registry_loaded():  # imported just now (the stored cards lag): it knows which files failed and why
            return card(key)
        raise unknown_choice("method", key, found)
    return found[key]


def load_errors() -> list[str]:
    """Why a method file or plugin failed to load (none where the stored cards hold: every file is a built-in)."""
    if "stored" in _CACHE and f"{PACKAGE}.base" not in sys.modules:
        return []
    from .base import plugin_errors  # torch: the files that failed are known only by importing them

    return plugin_errors()


if __name__ == "__main__":  # python -m gdw_bench.methods.cards --write
    if sys.argv[1:] != ["--write"]:
        raise SystemExit("usage: python -m gdw_bench.methods.cards --write")
    print(f"wrote {write()}")


__all__ = ["HyperparameterCard", "MethodCard", "card", "cards", "from_class", "load_errors", "method_keys",
           "source_hash", "write"]
