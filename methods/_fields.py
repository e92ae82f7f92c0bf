"""Hyperparameter fields and their checks, torch-free: what a method declares of each hyperparameter (a
default, a valid range or a set of choices, why a bound is there) and the one check every path runs —
the registry's ``hyperparameters_of`` with the classes imported, and the method cards (``cards``) that
plan, validate and describe a run without importing torch. One check, so both say the same line."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from gdw_bench.errors import UserInputError, unknown_choice


@dataclass(frozen=True)
class Range:
    """The valid values of a numeric hyperparameter: low … high, each end open or closed (None: unbounded)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return self.high is None or (value < self.high if self.high_open else value <= self.high)

    def __str__(self) -> str:
        low = "(-∞" if self.low is None else f"{'(' if self.low_open else '['}{self.low:g}"
        high = "∞)" if self.high is None else f"{self.high:g}{')' if self.high_open else ']'}"
        return f"{low}, {high}"


@dataclass(frozen=True)
class Search:
    """Where `gdw-bench tune` looks for a hyperparameter's value: a log or linear interval (``integer``: whole
    numbers only), or a set of choices. Declared beside the valid range; the protocol is never searched."""

    kind: str  # "log" | "linear" | "choices"
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    integer: bool = False

    def __str__(self) -> str:
        if self.kind == "choices":
            return "one of " + ", ".join(map(str, self.choices))
        return f"{self.kind}{' integer' if self.integer else ''} [{self.low:g}, {self.high:g}]"


SEARCH_KINDS = ("log", "linear", "choices")


def log_search(low: float, high: float, integer: bool = False) -> Search:
    """Searched on a log scale between ``low`` and ``high`` (both > 0): learning rates, step sizes."""
    return Search("log", float(low), float(high), (), integer)


def linear_search(low: float, high: float, integer: bool = False) -> Search:
    return Search("linear", float(low), float(high), (), integer)


def choice_search(*values) -> Search:
    return Search("choices", None, None, tuple(values))


def search_problem(search, rule: "FieldRule") -> str | None:
    """Why ``search`` cannot be searched for the hyperparameter ``rule`` describes (None: it can): an unknown
    kind, an empty or one-point space, a log space touching 0, or values outside the valid range."""
    if not isinstance(search, Search) or search.kind not in SEARCH_KINDS:
        return f"search of '{rule.name}' is {search!r}; valid: log_search, linear_search or choice_search"
    if search.kind == "choices":
        values = list(search.choices)
        if len(set(map(repr, values))) < 2:
            return f"search of '{rule.name}' offers {len(set(map(repr, values)))} distinct choice(s); valid: two or more"
        candidates = values
    else:
        low, high = search.low, search.high
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high)) \
                or not low < high:
            return f"search of '{rule.name}' is [{low}, {high}]; valid: finite low < high"
        if search.kind == "log" and low <= 0:
            return f"search of '{rule.name}' is log [{low:g}, {high:g}]; valid: a log space above 0"
        if search.integer and math.floor(high) < math.ceil(low) + 1:
            return f"search of '{rule.name}' holds fewer than two integers in [{low:g}, {high:g}]"
        candidates = [low, high]
    for value in candidates:
        if rule.choices and value not in rule.choices:
            return f"search of '{rule.name}' offers {value!r}, not one of its valid values {valid_text(rule)}"
        if rule.range is not None and isinstance(value, (int, float)) and not isinstance(value, bool) \
                and value not in rule.range:
            return f"search of '{rule.name}' reaches {value!r}, outside its valid range {rule.range}"
    return None


def searches_of(hyperparameters_class) -> dict:
    """name → ``Search`` of every hyperparameter that declares one (what `tune` searches)."""
    return {f.name: f.metadata["search"] for f in dataclasses.fields(hyperparameters_class) if "search" in f.metadata}


def hyperparameter(default, low=None, high=None, *, low_open=False, high_open=False, resolved: str = "",
                   choices: tuple = (), why: str = "", search: Search | None = None):
    """A hyperparameter field with its valid range (or its ``choices``, for a text value), checked (with
    finiteness) whenever the method is configured, and printed by `gdw-bench info <method>`. Plugins
    declare theirs the same way::

        step_size: float = hyperparameter(0.1, 0, None, low_open=True)   # (0, ∞)

    ``resolved``: for a default of None that the method derives from its task, what it becomes (shown
    by `info` beside the None, e.g. GDW's outer_lr: '0.1·B·K = 100 at batch 100 and 10 classes').
    ``why``: appended to the error of a value outside the range (what goes wrong there).
    ``search``: where `gdw-bench tune` looks (``log_search(1e-4, 1e-2)``, ``linear_search``, ``choice_search``);
    none: the value is never tuned."""
    metadata = {"range": Range(low, high, low_open, high_open)} if not choices else {"choices": tuple(choices)}
    if search is not None:
        metadata["search"] = search
    if resolved:
        metadata["resolved"] = resolved
    if why:
        metadata["why"] = why
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class FieldRule:
    """What the checks need of one hyperparameter: its name, valid range or choices, and why."""

    name: str
    range: Range | None = None
    choices: tuple = ()
    why: str = ""


def rules_of(hyperparameters_class) -> list[FieldRule]:
    """The rules a hyperparameter dataclass declares through ``hyperparameter(...)``."""
    return [FieldRule(f.name, f.metadata.get("range"), tuple(f.metadata.get("choices", ())), f.metadata.get("why", ""))
            for f in dataclasses.fields(hyperparameters_class)]


def check_names(key: str, rules: list[FieldRule], overrides: dict) -> None:
    """Every name set is a hyperparameter of the method (else one line, with "did you mean")."""
    names = [r.name for r in rules]
    for name in overrides:
        if name not in names:
            raise unknown_choice(f"hyperparameter of {key}", name, names or ["(none)"])


def check_values(key: str, rules: list[FieldRule], values: dict) -> None:
    """Each value of ``values`` (name → value) among its choices, or finite and inside its range."""
    for rule in rules:
        if rule.name not in values:
            continue
        value = values[rule.name]
        if rule.choices:
            if value not in rule.choices:
                raise unknown_choice(rule.name, value, rule.choices)
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        where = f"{key}.{rule.name} = {value!r}"
        valid = rule.range
        if not math.isfinite(value):
            raise UserInputError(f"{where} must be a finite number" + (f" in {valid}" if valid else ""))
        if valid is not None and value not in valid:
            raise UserInputError(f"{where} is outside its valid range {valid}" + (f": {rule.why}" if rule.why else ""))


def valid_text(rule: FieldRule) -> str:
    """A rule as `info` prints it: '(0, ∞)', 'jvp | double_backward', or 'any'."""
    if rule.choices:
        return " | ".join(map(str, rule.choices))
    return str(rule.range) if rule.range is not None else "any"


def hyperparameters_of(cls, overrides: dict | None = None):
    """The method's hyperparameter dataclass with ``overrides`` applied: unknown names, values outside
    their declared range or choices rejected first (the same lines the torch-free cards give), then the
    dataclass's own checks, then every value (defaults included) against its range."""
    overrides = dict(overrides or {})
    rules = rules_of(cls.Hyperparameters)
    check_names(cls.key, rules, overrides)
    check_values(cls.key, rules, overrides)
    hp = cls.Hyperparameters(**overrides)
    check_values(cls.key, rules, dataclasses.asdict(hp))
    return hp


def hyperparameter_ranges(cls) -> dict[str, str]:
    """Each hyperparameter's valid values as text ('(0, ∞)', 'jvp | double_backward'; 'any' where none is declared)."""
    return {rule.name: valid_text(rule) for rule in rules_of(cls.Hyperparameters)}


def hyperparameter_dict(hp) -> dict:
    return dataclasses.asdict(hp)
