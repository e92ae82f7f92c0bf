"""Results as data: the Python API over the results store, for pandas users.

    >>> from gdw_bench import results
    >>> cells = results.load("results")            # one row per finished cell (record)
    >>> epochs = results.curves("results")         # one row per cell × epoch (the learning curves)
    >>> paper = results.paper()                    # the paper's Tables 2–8, keyed like ``cells``
    >>> both = results.compare("results")          # our mean/std per column and method beside the paper's

Rows are keyed by ``KEYS``; ``paper_dataset`` names the paper's dataset a stand-in ran for, so
``compare`` joins a stand-in profile's numbers to the paper's (and says which rows are stand-ins).
Reads record files only, like ``report``.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from gdw_bench.plan import runs
from gdw_bench.plan.config import PROFILES
from gdw_bench.plan.specs import PAPER_METHOD_NAMES
from gdw_bench.reporting.report import paper_results
from gdw_bench.storage import store

KEYS = ["profile", "paper_dataset", "dataset", "setting", "level", "corruption", "method", "seed"]
CELL_FIELDS = ["method_title", "score", "score_net2", "wall_time_s", "device", "torch_threads", "data_hash",
               "config_hash", "git_commit", "finished_at"]


def stored_profiles(results_dir) -> dict:
    """Every profile the runs stored under ``results_dir`` resolved (``gdw_bench.plan.runs``), a sweep's
    points included, by name; then the built-ins for names no run stored."""
    found = {}
    for name in reversed(runs.names(Path(results_dir))):  # the run written last wins a shared name
        try:
            run = runs.load(Path(results_dir), name)
        except Exception:  # an unreadable run file: its records still load, keyed by their own dataset
            continue
        found[run.profile.name] = run.profile
        found.update({p.name: p for p, _ in run.points})
    return {**PROFILES, **found}


def _paper_dataset(record: dict, profiles: dict) -> str:
    """The paper dataset this record's column stands in for (its own name on the paper profile), from
    the profile that trained it: a built-in or one a stored run resolved (configs, --set, sweeps)."""
    profile = profiles.get(record["profile"])
    if profile is not None:
        for paper_name, stand in profile.datasets.items():
            if stand is not None and stand.dataset == record["dataset"] and stand.corruption is None:
                return paper_name
    return record["dataset"]


def _keys(record: dict, profiles: dict) -> dict:
    return {"profile": record["profile"], "paper_dataset": _paper_dataset(record, profiles),
            "dataset": record["dataset"], "setting": record.get("setting"), "level": record.get("level"),
            "corruption": record.get("corruption", {}).get("slug"), "method": record["method"], "seed": record["seed"]}


def _hyperparameters(record: dict) -> dict:
    """One column per hyperparameter the method ran with (``hp.<name>``; the resolved values)."""
    return {f"hp.{k}": v for k, v in sorted((record.get("hyperparameters") or {}).items())}


def load(results_dir="results", records: list[dict] | None = None) -> pd.DataFrame:
    """One row per finished cell: its keys, score, provenance and hyperparameters (``hp.*`` columns)."""
    records = records if records is not None else list(store.iter_records(Path(results_dir)))
    profiles = stored_profiles(results_dir)
    rows = [{**_keys(r, profiles), **{f: r.get(f) for f in CELL_FIELDS}, **_hyperparameters(r)} for r in records]
    frame = pd.DataFrame(rows)
    hp = sorted(c for c in frame.columns if c.startswith("hp."))
    return frame.reindex(columns=KEYS + CELL_FIELDS + hp)


def curves(results_dir="results", records: list[dict] | None = None) -> pd.DataFrame:
    """One row per cell × epoch: lr, training losses, test accuracy and, on noisy cells, the regime
    columns (training accuracy against noisy and true labels, mean weight on correct/wrong labels)."""
    records = records if records is not None else list(store.iter_records(Path(results_dir)))
    profiles = stored_profiles(results_dir)
    rows = [{**_keys(r, profiles), **entry} for r in records for entry in r.get("curve", [])]
    frame = pd.DataFrame(rows)
    return frame if not frame.empty else pd.DataFrame(columns=KEYS + ["phase", "epoch", "global_epoch", "lr"])


def paper() -> pd.DataFrame:
    """The paper's Tables 2–8 (shipped paper_results.csv) with our method keys beside its names."""

    frame = paper_results().rename(columns={"dataset": "paper_dataset", "method": "method_title"})
    keys = {title: key for key, title in PAPER_METHOD_NAMES.items()}
    frame["method"] = frame["method_title"].map(keys)
    return frame


def compare(results_dir="results", records: list[dict] | None = None) -> pd.DataFrame:
    """Our mean/std/n per (profile, column, method) beside the paper's mean/std for the same paper
    dataset, setting, level and method; ``stand_in`` is True where another dataset ran."""
    cells = load(results_dir, records)
    ours = (cells.groupby(["profile", "paper_dataset", "dataset", "setting", "level", "method"], dropna=False)["score"]
            .agg(["mean", "std", "count"]).reset_index())
    ref = paper()[["paper_dataset", "setting", "level", "method", "table", "mean", "std"]]
    joined = ours.merge(ref, on=["paper_dataset", "setting", "level", "method"], how="left",
                        suffixes=("", "_paper"))
    joined["stand_in"] = joined["paper_dataset"] != joined["dataset"]
    joined["delta"] = joined["mean"] - joined["mean_paper"]
    return joined
