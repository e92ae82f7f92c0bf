"""`gdw-bench tune`: every method gets the same tuning budget, selected on validation data, never on test.

For each method of a table, ``budget`` trials over the search space its hyperparameter fields declare
(``hyperparameter(..., search=log_search(1, 1000))``; a method without one gets a single trial at its
defaults). A trial is cells like any other — the table's chosen columns × the tuning seeds, with the
trial's values as ``--set`` overrides and the protocol's ``validation`` set — so trials are
identity-addressed, cached, resumable, and trained by the same executors as `run`. The tuner sees each
trial's ``val_score`` only (the mean validation accuracy over the scoring epochs, ``training.loop``):

- ``noisy-val`` (default): 10 % of each noisy class held out of the training set, by (dataset, setting,
  seed) only, with its noisy labels — the usual protocol in label-noise work; it needs no clean data;
- ``meta``: the clean meta set, which gives the methods that train on it a second use of it (every
  report of such a tuning says so).

The search is Optuna's TPE sampler, seeded per method (its first ten trials are its seeded random
start-up, as in Optuna's default), asked ``ROUND`` trials at a time whatever ``--jobs`` is: the same
command gives the same trials on any machine, and a rerun trains nothing. Tuning seeds are never
reported seeds. The result is a config (``extends`` the profile, ``[methods.X]`` with the chosen values
and a comment on each with its validation score and trial count) that `run --config` reads; the
shipped defaults never change because of it.
"""
from __future__ import annotations

import dataclasses
import hashlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gdw_bench.core.cell import VALIDATION_KINDS
from gdw_bench.core.options import RunOptions
from gdw_bench.errors import UserInputError, suggested_command, unknown_choice
from gdw_bench.execution import status
from gdw_bench.execution.prepare import prepare
from gdw_bench.methods import cards
from gdw_bench.methods._fields import search_problem
from gdw_bench.plan import costs
from gdw_bench.plan.config import toml_key, toml_value
from gdw_bench.plan.planner import Plan, RunRequest, plan, planned_device_type
from gdw_bench.plan.specs import parse_seeds
from gdw_bench.storage import record as record_schema
from gdw_bench.storage import store

SELECTIONS = VALIDATION_KINDS  # "noisy-val" | "meta"
SELECTION_NOTES = {
    "noisy-val": "selected on 10 % of the noisy training set held out per class (noisy labels), never on test",
    "meta": "selected on the clean meta set: methods that train on it use it twice (to train and to select)",
}
TUNING_SEEDS = (7, 77)  # never a reported seed of any table (1, 10, 100, 1000, 10000)
ROUND = 4  # trials asked of each method's sampler before any is told: fixed, so --jobs never changes the trials
MAX_BUDGET = 1000


@dataclass(frozen=True, kw_only=True)
class TuneRequest:
    table: str = "2"
    profile: str = "mini"
    config: Path | None = None
    methods: str | None = None  # None: the table's
    levels: str | None = None  # None: the table's columns
    budget: int = 16  # trials per method (one for a method without a search space)
    selection: str = "noisy-val"
    tuning_seeds: str | None = None  # None: TUNING_SEEDS[:1]


@dataclass(kw_only=True)
class Trial:
    number: int
    values: dict  # hyperparameter → value (empty: the defaults)
    score: float | None = None  # mean val_score over the trial's cells; None: a cell failed
    cells: list = field(default_factory=list)


@dataclass(kw_only=True)
class MethodTuning:
    method: str
    space: dict  # hyperparameter → Search
    trials: list[Trial] = field(default_factory=list)

    def budget(self, budget: int) -> int:
        """Trials this method gets: the request's budget, or one at its defaults without a search space."""
        return budget if self.space else 1

    @property
    def best(self) -> Trial | None:
        scored = [t for t in self.trials if t.score is not None]
        return max(scored, key=lambda t: (t.score, -t.number)) if scored else None


@dataclass(kw_only=True)
class TuneResult:
    request: TuneRequest
    base: Plan  # the tuning plan at the methods' defaults (columns × tuning seeds)
    tunings: list[MethodTuning]
    trained: int = 0  # trial cells trained by this call (0 on a rerun)
    diverged: int = 0  # trial cells left as they are: they diverged before (their trial failed)
    cells: int = 0  # trial cells in all

    def description(self) -> str:
        req = self.request
        where = Path(req.config).name if req.config else f"'{req.profile}'"
        return (f"{where} tuned by gdw-bench tune: {req.budget} trials per method on {req.selection}"
                + (" (the meta set used twice by the methods that train on it)" if req.selection == "meta" else "")
                + f", tuning seeds {','.join(map(str, self.base.seeds))}")

    def config_text(self, name: str, folder: Path | None = None) -> str:
        """The tuned config: ``extends`` the profile (or the config file tuned on, relative to ``folder``, where
        the tuned config is written), each tuned method's chosen values, and a comment per method with its
        validation score and trial count."""
        req = self.request
        extends = req.profile
        if req.config:
            extends = os.path.relpath(Path(req.config).resolve(), Path(folder).resolve()) if folder else \
                str(Path(req.config).resolve())
        seeds = ",".join(map(str, self.base.seeds))
        lines = [f"# {suggested_command('tune', *tune_arguments(req))}",
                 f"# {SELECTION_NOTES[req.selection]}; tuning seeds {seeds} (never reported);",
                 f"# {req.budget} trials per method with a search space (Optuna TPE, seeded per method).",
                 f"extends = {toml_value(extends)}", f"name = {toml_value(name)}",
                 f"description = {toml_value(self.description())}", ""]
        for tuning in self.tunings:
            best = tuning.best
            score = f"{best.score:.2f}" if best else "none (every trial failed)"
            if not tuning.space:
                lines.append(f"# {tuning.method}: no hyperparameter to tune; validation score {score} at its defaults")
                continue
            lines += [f"[methods.{toml_key(tuning.method)}]",
                      f"# validation score {score} ({req.selection}), best of {len(tuning.trials)} trials"]
            if best is not None:
                lines += [f"{k} = {toml_value(v)}" for k, v in best.values.items()]
            lines.append("")
        return "\n".join(lines).rstrip() + "\n"


def tune_arguments(req: TuneRequest) -> list[str]:
    args = ["--table", req.table, *(["--config", str(req.config)] if req.config else ["--profile", req.profile])]
    for option, value in (("--methods", req.methods), ("--levels", req.levels), ("--tuning-seeds", req.tuning_seeds)):
        if value is not None:
            args += [option, value]
    return args + ["--budget", str(req.budget), "--selection", req.selection]


def check_request(req: TuneRequest) -> tuple[int, ...]:
    """Every option of a tuning request (one line each); the tuning seeds."""
    if isinstance(req.budget, bool) or not isinstance(req.budget, int) or not 1 <= req.budget <= MAX_BUDGET:
        raise UserInputError(f"--budget {req.budget!r}: valid: trials per method, 1…{MAX_BUDGET}")
    if req.selection not in SELECTIONS:
        raise unknown_choice("selection", req.selection, SELECTIONS)
    seeds = parse_seeds(req.tuning_seeds) if req.tuning_seeds is not None else TUNING_SEEDS[:1]
    return seeds


def tuning_plan(req: TuneRequest, seeds: tuple[int, ...], sets: tuple[str, ...] = (), methods: str | None = None) -> Plan:
    """The cells of one trial (``sets``: its values as --set overrides) on the chosen columns and seeds."""
    return plan(RunRequest(table=req.table, seeds=",".join(map(str, seeds)), methods=methods or req.methods,
                           levels=req.levels, profile=req.profile, config=req.config,
                           sets=(f"validation={req.selection}", *sets)))


def search_spaces(methods, profile) -> dict[str, dict]:
    """method → {hyperparameter: Search} of what it declares, less what the profile fixes; a degenerate or
    invalid space is one line naming the method."""
    spaces = {}
    for method in methods:
        card = cards.card(method)
        fixed = profile.method_overrides.get(method, {})
        space = {}
        for h in card.hyperparameters:
            if h.search is None or h.name in fixed:
                continue
            wrong = search_problem(h.search, h.rule)
            if wrong:
                raise UserInputError(f"method '{method}': {wrong}; valid: a search space of two or more valid values")
            space[h.name] = h.search
        spaces[method] = space
    return spaces


def _sampler_seed(method: str) -> int:
    return int(hashlib.sha256(f"gdw-bench tune {method}".encode()).hexdigest()[:8], 16)


def _suggest(trial, name: str, search):
    if search.kind == "choices":
        return trial.suggest_categorical(name, list(search.choices))
    if search.integer:
        return trial.suggest_int(name, math.ceil(search.low), math.floor(search.high), log=search.kind == "log")
    return trial.suggest_float(name, search.low, search.high, log=search.kind == "log")


def plan_tuning(req: TuneRequest) -> TuneResult:
    """The request checked (every bad value one line, before anything is written) and planned: the methods,
    their search spaces, the trial cells to come; no trial run yet."""
    seeds = check_request(req)
    base = tuning_plan(req, seeds)
    reported = set(base.profile.seeds or ()) | {s for t in base.tables for s in t.seeds}
    overlap = sorted(set(seeds) & reported)
    if overlap:
        raise UserInputError(f"--tuning-seeds {','.join(map(str, seeds))} holds reported seed(s) "
                             f"{','.join(map(str, overlap))}; valid: seeds no table reports, e.g. "
                             f"{','.join(map(str, TUNING_SEEDS))}")
    methods = list(dict.fromkeys(c.method for c in base.cells))
    spaces = search_spaces(methods, base.profile)
    tunings = [MethodTuning(method=m, space=spaces[m]) for m in methods]
    per_trial = len(base.cells) // max(1, len(methods))
    return TuneResult(request=req, base=base, tunings=tunings, cells=sum(t.budget(req.budget) for t in tunings) * per_trial)


def tune(req: TuneRequest, root: Path, options: RunOptions | None = None, **how) -> TuneResult:
    """``plan_tuning`` then ``run_tuning`` (see the module's docstring)."""
    return run_tuning(plan_tuning(req), root, options, **how)


def run_tuning(result: TuneResult, root: Path, options: RunOptions | None = None, *, jobs: int | None = None,
               on_round: Callable[[str], None] | None = None, executor: str = "local",
               slurm_options=None) -> TuneResult:
    """Train a planned tuning's trials, round by round, telling each method's sampler their scores."""
    import optuna  # the search library: loaded by `tune` only

    req, tunings = result.request, result.tunings
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    studies = {t.method: optuna.create_study(direction="maximize",
                                             sampler=optuna.samplers.TPESampler(seed=_sampler_seed(t.method)))
               for t in tunings if t.space}
    for tuning in tunings:
        if not tuning.space:
            tuning.trials.append(Trial(number=0, values={}))
    rounds = 0
    while True:
        asked = []  # (tuning, optuna trial or None, Trial)
        for tuning in tunings:
            if tuning.method not in studies:
                if rounds == 0:
                    asked.append((tuning, None, tuning.trials[0]))
                continue
            for _ in range(min(ROUND, req.budget - len(tuning.trials))):
                optuna_trial = studies[tuning.method].ask()
                values = {name: _suggest(optuna_trial, name, search) for name, search in tuning.space.items()}
                trial = Trial(number=len(tuning.trials), values=values)
                tuning.trials.append(trial)
                asked.append((tuning, optuna_trial, trial))
        if not asked:
            break
        trained, diverged = _train_round(result.base, req, asked, root, options, jobs, executor, slurm_options)
        result.trained, result.diverged = result.trained + trained, result.diverged + diverged
        for tuning, optuna_trial, trial in asked:
            trial.score = _trial_score(trial.cells, root)
            if optuna_trial is not None:
                if trial.score is None:
                    studies[tuning.method].tell(optuna_trial, state=optuna.trial.TrialState.FAIL)
                else:
                    studies[tuning.method].tell(optuna_trial, trial.score)
        rounds += 1
        if on_round is not None:
            done = sum(len(t.trials) for t in tunings)
            on_round(f"tuning round {rounds}: {done} of {sum(t.budget(req.budget) for t in tunings)} trials scored")
    return result


def estimate_seconds(result: TuneResult, root: Path, device: str = "auto", jobs: int | None = None,
                     threads: int | None = None) -> float:
    """Seconds to train every trial cell here: each method's cells at its defaults (``costs``: what this
    machine measured, else the profile's guess) times its trial count, shared over the parallel cells."""
    measured = costs.load(root, warn=lambda _: None) if Path(root).is_dir() else {}
    device_type = planned_device_type(device)
    budget = {t.method: t.budget(result.request.budget) for t in result.tunings}
    total = sum(costs.estimate(c, result.base.profile, device_type, measured) * budget[c.method]
                for c in result.base.cells)
    parallel = status.default_parallelism(jobs, threads, device_type, result.cells)[0] if device_type == "cpu" else 1
    return total / max(1, min(parallel, result.cells))


def _train_round(base: Plan, req: TuneRequest, asked, root: Path, options, jobs, executor: str = "local",
                 slurm_options=None) -> tuple[int, int]:
    """Train the cells of every trial asked this round at once (one executor, every method together). A trial
    cell that diverged before is a result (its trial failed), not retried: on CPU it would diverge again."""
    cells, seen, diverged = [], set(), 0
    for tuning, _, trial in asked:
        sets = tuple(f"{tuning.method}.{name}={value!r}" for name, value in trial.values.items())
        trial.cells = list(tuning_plan(req, base.seeds, sets, methods=tuning.method).cells)
        for cell in trial.cells:
            folder = cell.folder(root)
            if str(folder) in seen:
                continue
            seen.add(str(folder))
            if _diverged(folder, cell.config_hash):
                diverged += 1
            else:
                cells.append(cell)
    combined = dataclasses.replace(base, cells=tuple(cells))
    ready = prepare(combined, root, options or RunOptions(), jobs=jobs, save_run=False, executor=executor,
                    slurm_options=slurm_options)
    if ready.todo:
        ready.execute(progress=False)
    return len(ready.todo), diverged


def _diverged(folder: Path, config_hash: str) -> bool:
    """Whether this configuration's last attempt in ``folder`` stopped on a non-finite loss (``failed.json``)."""
    failed = store.read_json(folder / store.FAILED)
    return bool(failed) and failed.get("config_hash") == config_hash and \
        str(failed.get("error", "")).startswith("Diverged")


def _trial_score(cells, root: Path) -> float | None:
    """The mean ``val_score`` of a trial's cells (what the tuner is told); None if any has no record."""
    scores = []
    for cell in cells:
        record, _ = record_schema.read(cell.folder(root) / store.RECORD)
        if record is None or not isinstance(record.get("val_score"), (int, float)):
            return None
        scores.append(float(record["val_score"]))
    return sum(scores) / len(scores) if scores else None
