"""Issue 'results that mean something': regime diagnostics, their verdicts in the report, paired seeds."""
import re

import numpy as np
import pytest
import torch

from gdw_bench import seeds
from gdw_bench.datasets import Corruption
from gdw_bench.methods import Method
from gdw_bench.methods.base import TaskInfo
from gdw_bench.plan.config import get_profile
from gdw_bench.plan.specs import Protocol, get_table
from gdw_bench.reporting import regime
from gdw_bench.reporting.report import Cell, compare, render, significance
from gdw_bench.training.engine import CellConfig, _train_epoch, build_method, prepared_data

PROTO = Protocol(model="mlp128", epochs=2, augment=False, eval_batch_size=2000)


def digits_cell(method, seed=1, rate=0.4, protocol=PROTO):
    return CellConfig(profile="mini", dataset="digits", setting="uniform", level=f"{rate:g}",
                      corruption=Corruption("uniform", rate), method=method, seed=seed, protocol=protocol)


# ----- verdict definitions on hand-made records ----------------------------------------------------
def curve(test_accs, noisy=None, true=None, weights=None):
    out = []
    for i, acc in enumerate(test_accs):
        entry = {"phase": "train", "epoch": i, "test_acc": acc}
        if noisy is not None:
            entry["train_acc_noisy"], entry["train_acc_true"] = noisy[i], true[i]
        if weights is not None:
            entry["weight_correct"], entry["weight_wrong"] = weights[i]
        out.append(entry)
    return out


def test_memorisation_is_a_drop_from_the_best_epoch_or_fitting_wrong_labels():
    dropped = {"score": 80.0, "curve": curve([70, 90, 80], [50, 60, 61], [70, 80, 79])}
    facts = regime.memorisation(dropped)
    assert facts["drop"] == pytest.approx(10.0) and facts["memorised"] and not facts["fits_wrong"]
    fits = {"score": 88.0, "curve": curve([85, 89, 88], [60, 80, 95], [80, 85, 64])}  # noisy 95 > true 64
    facts = regime.memorisation(fits)
    assert facts["drop"] == pytest.approx(1.0) and facts["fits_wrong"] and facts["memorised"]
    steady = {"score": 88.0, "curve": curve([85, 90, 88], [55, 57, 58], [85, 88, 89])}
    assert not regime.memorisation(steady)["memorised"]  # drop 2 < 5 and noisy 58 < true 89


def test_separation_uses_the_last_epoch_ratio_against_one_half():
    record = {"curve": curve([1, 2], weights=[(0.5, 0.45), (0.8, 0.4)])}
    assert regime.separation(record) == {"ratio": pytest.approx(0.5), "separates": True}
    record = {"curve": curve([1, 2], weights=[(0.8, 0.1), (0.8, 0.41)])}
    assert not regime.separation(record)["separates"]


def test_a_column_whose_basemodel_does_not_memorise_is_not_in_the_regime_however_the_weights_separate():
    plain = {"score": 88.0, "curve": curve([85, 90, 88], [55, 57, 58], [85, 88, 89])}
    flat = {"curve": curve([1], weights=[(0.5, 0.49)])}
    verdict = regime.column_regime({"basemodel": [plain, plain], "mwnet": [flat, flat]})
    assert not verdict.in_regime and not verdict.separation_holds
    assert verdict.line("40 % uniform").startswith("NOT IN THE PAPER'S REGIME")
    # GDW separates on every seed: a verdict of its own, which never makes up for BaseModel not memorising
    sharp = {"curve": curve([1], weights=[(1.0, 0.1)])}
    verdict = regime.column_regime({"basemodel": [plain], "mwnet": [flat], "gdw": [sharp]})
    assert verdict.separation_holds and not verdict.in_regime
    line = verdict.line("40 % uniform", {"mwnet": "MWNet", "gdw": "GDW"})
    assert line.startswith("NOT IN THE PAPER'S REGIME") and "weights separate: yes" in line
    assert "GDW 1/1 seeds (wrong/correct mean weight 0.10)" in line and "MWNet 0/1 seeds" in line


def test_memorisation_alone_puts_a_column_in_the_regime_and_separation_is_reported_beside_it():
    dropped = {"score": 80.0, "curve": curve([70, 90, 80], [50, 60, 61], [70, 80, 79])}
    flat = {"curve": curve([1], weights=[(0.5, 0.49)])}
    verdict = regime.column_regime({"basemodel": [dropped, dropped], "gdw": [flat, flat]})
    assert verdict.in_regime and not verdict.separation_holds
    line = verdict.line("40 % uniform", {"gdw": "GDW"})
    assert line.startswith("Regime, 40 % uniform: in the paper's regime — BaseModel memorised on 2/2 seeds")
    assert "Separately, weights separate: no — GDW 0/2 seeds" in line


def test_a_column_without_basemodel_records_is_not_judged_and_the_line_says_what_to_train():
    sharp = {"curve": curve([1], weights=[(1.0, 0.1)])}
    verdict = regime.column_regime({"gdw": [sharp]})
    assert not verdict.judged and not verdict.in_regime
    line = verdict.line("μ = 0.1, 40 % uniform", how_to_judge="gdw-bench run --table 8 --methods basemodel")
    assert line.startswith("Regime, μ = 0.1, 40 % uniform: regime not judged — no BaseModel record")
    assert "(train it: gdw-bench run --table 8 --methods basemodel)" in line and "NOT IN" not in line
    assert "weights separate: yes" in line


def fake_record(method, seed, score, curve_, column_rate=0.4):
    import dataclasses

    from gdw_bench.core.identity import config_hash, identity_for

    c = Corruption("uniform", column_rate).canonical()
    record = {"profile": "mini", "dataset": "digits", "corruption": {**dataclasses.asdict(c), "slug": c.slug},
              "method": method, "method_title": method, "seed": seed, "score": score, "curve": curve_,
              "diagnostics": False}
    record["identity"] = identity_for(record, get_profile("mini"))  # as `run` would have written it
    record["config_hash"] = config_hash(record["identity"])
    return record


def test_report_prints_the_regime_line_under_the_table_and_the_loud_mark():
    table, profile = get_table("2"), get_profile("mini")
    plain = curve([85, 90, 88], [55, 57, 58], [85, 88, 89])
    records = [fake_record("basemodel", s, 88.0, plain) for s in (1, 2)]
    records += [fake_record("mwnet", s, 89.0, curve([1, 2, 3], weights=[(0.5, 0.5)] * 3)) for s in (1, 2)]
    text = render(records, table, profile, (1, 2), "markdown")
    lines = [line for line in text.splitlines() if "Regime" in line]
    assert len(lines) == 2  # the two noisy columns (0.4 with records, 0.6 without)
    assert any(line.startswith("- **NOT IN THE PAPER'S REGIME") and "40 % uniform" in line for line in lines)
    unjudged = next(line for line in lines if "60 % uniform" in line)
    assert "regime not judged" in unjudged and "--profile mini --methods basemodel --levels 0.6" in unjudged
    latex = render(records, table, profile, (1, 2), "latex")
    assert r"\footnotesize" in latex and r"\textbf{NOT IN THE PAPER'S REGIME" in latex


# ----- the engine records what the verdicts read ------------------------------------------------
class _TruthWeights(Method):
    """Test double: weight 1 on correctly labelled samples, 0.25 on wrong ones, no training."""

    key = "truth-weights"

    def train_step(self, batch, meta_batch=None):
        self.last_sample_weights = torch.where(batch.y == batch.true_y, 1.0, 0.25)
        return {"loss": torch.tensor(0.0)}


def test_engine_averages_sample_weights_over_correct_and_wrong_labels():
    cell = digits_cell("basemodel")
    data = prepared_data(cell, torch.device("cpu"), None)
    task = TaskInfo(num_classes=10, num_train=data.num_train, class_counts=data.noisy_class_counts,
                    wrong_label_fraction=0.36)
    method = _TruthWeights(torch.nn.Linear(2, 2), task)
    logs = _train_epoch(method, method.train_step, data.train, data, cell, 0)
    assert logs["weight_correct"] == pytest.approx(1.0) and logs["weight_wrong"] == pytest.approx(0.25)


def test_noisy_records_carry_the_regime_curve(tmp_path):
    from gdw_bench.training.engine import run_cell

    record = run_cell(digits_cell("mwnet"), tmp_path)
    for entry in record["curve"]:
        assert 0 <= entry["train_acc_true"] <= 100 and 0 <= entry["train_acc_noisy"] <= 100
        assert 0 < entry["weight_correct"] and 0 < entry["weight_wrong"]
    clean = run_cell(digits_cell("basemodel", rate=0.0), tmp_path)
    assert "train_acc_noisy" not in clean["curve"][-1]  # nothing to judge without noise


# ----- paired seeds ------------------------------------------------------------------------------
def test_two_methods_with_one_seed_start_from_the_same_weights_and_batches():
    first = {}
    for method in ("basemodel", "gdw", "coteaching"):
        cell = digits_cell(method)
        data = prepared_data(cell, torch.device("cpu"), None)
        built = build_method(cell, data, torch.device("cpu"))
        seen = []
        built.train_step = lambda batch, meta_batch=None, seen=seen: (  # noqa: E731
            seen.append(batch.index.clone()) or {"loss": torch.tensor(0.0)})
        _train_epoch(built, built.train_step, data.train, data, cell, 0)
        first[method] = ([p.detach().clone() for p in built.model.parameters()], seen[0], built)
    weights, batch, _ = first["basemodel"]
    for method in ("gdw", "coteaching"):
        assert all(torch.equal(a, b) for a, b in zip(weights, first[method][0])), method
        assert torch.equal(batch, first[method][1]), method
    second = first["coteaching"][2].networks[1]  # network 1 derives from the same seed, another index
    assert not torch.equal(next(second.parameters()), weights[0])
    other_seed = build_method(digits_cell("basemodel", seed=2), data, torch.device("cpu"))
    assert not torch.equal(next(other_seed.model.parameters()), weights[0])


def test_seed_derivation_is_named_and_never_uses_python_hash():
    assert seeds.derive_seed("train", a=1, b=2) == seeds.derive_seed("train", b=2, a=1)
    assert len({seeds.train_seed("digits", "uniform-0.4", 1, n) for n in range(3)}) == 3
    assert seeds.data_seed("digits", "uniform-0.4", 1) != seeds.train_seed("digits", "uniform-0.4", 1)
    from pathlib import Path

    import gdw_bench

    roots = [Path(gdw_bench.__file__).parent, Path(gdw_bench.__file__).parent.parent / "datasets",
             Path(gdw_bench.__file__).parent.parent / "methods"]
    offenders = [str(p) for root in roots for p in root.glob("*.py") if re.search(r"(?<![\w.])hash\(", p.read_text())]
    assert not offenders


def test_records_say_which_seeds_they_used(tmp_path):
    from gdw_bench.training.engine import run_cell

    cell = digits_cell("gdw", protocol=Protocol(model="mlp128", epochs=1, augment=False))
    used = run_cell(cell, tmp_path)["seeds"]
    assert used["train"] == cell.train_seed == used["networks"][0]
    assert used["auxiliary"] == seeds.train_seed("digits", "uniform-0.4", 1, seeds.AUXILIARY_NETWORK)


# ----- the report's paired test ------------------------------------------------------------------
def test_shared_seeds_use_the_paired_test():
    base = [80.0, 85.0, 90.0, 95.0, 100.0]
    best = Cell(dict(zip(range(5), base)), 5)
    other = Cell(dict(zip(range(5), [b - 0.5 + 0.01 * i for i, b in enumerate(base)])), 5)
    pvalue, test = compare(best, other)
    assert test == "paired" and pvalue < 0.05  # a consistent 0.5-point gap on every seed
    shifted = Cell(dict(zip(range(10, 15), other.scores)), 5)  # same scores, other seeds: unpaired
    pvalue, test = compare(best, shifted)
    assert test == "welch" and pvalue > 0.05
    cells = {("a", 0): best, ("b", 0): other}
    assert significance(cells, ["a", "b"], 0) == ("a", set(), {"paired"})
    assert np.isclose(compare(best, best)[0], 1.0)
    fewer = Cell({11: 80.0, 12: 85.0, 13: 90.0, 14: 95.0}, 5)  # a partial cell: 4 seeds of 5, none shared
    assert compare(best, fewer)[1] == "welch"


# ----- the ordering against the paper's (report --compare-paper) ---------------------------------
def _paper_column_records(transform):
    """Records of every Table 2 method on mini's 40 % column, two seeds, scores = transform(paper mean)."""
    from gdw_bench.plan.specs import PAPER_METHOD_NAMES
    from gdw_bench.reporting.report import paper_results

    paper = paper_results()
    column = paper[(paper["table"] == "2") & (paper["dataset"] == "cifar10") & (paper["level"] == "0.4")]
    means = {key: float(column.loc[column["method"] == name, "mean"].iloc[0])
             for key, name in PAPER_METHOD_NAMES.items() if name in set(column["method"])}
    flat = curve([1.0] * 3)
    return means, [fake_record(m, s, round(transform(v) + 0.01 * s, 4), flat) for m, v in means.items() for s in (1, 2)]


def test_compare_paper_prints_kendall_tau_the_largest_moves_and_the_gains_beside_the_papers():
    from gdw_bench.reporting.report import ordering_lines

    table, profile = get_table("2"), get_profile("mini")
    means, records = _paper_column_records(lambda v: v - 3.0)  # the paper's ordering, 3 points lower
    line = next(x for x in ordering_lines(records, table, profile, (1, 2)) if "40 % uniform" in x)
    assert "stand-in for the paper's cifar10 uniform 0.4: compared as a stand-in" in line
    assert "Kendall's τ = +1.00" in line and f"over {len(means)} methods" in line
    assert "moved most: none (same ranks)" in line
    gain = means["gdw"] - means["basemodel"]
    assert f"GDW {gain:+.2f} ({gain:+.2f})" in line  # ours beside the paper's: equal here

    means, records = _paper_column_records(lambda v: 200.0 - v)  # the paper's ordering turned over
    line = next(x for x in ordering_lines(records, table, profile, (1, 2)) if "40 % uniform" in x)
    assert "Kendall's τ = -1.00" in line
    best = max(means, key=means.get)
    from gdw_bench.plan.specs import PAPER_METHOD_NAMES

    assert f"{PAPER_METHOD_NAMES[best]} 1st in the paper → {len(means)}th here" in line
    text = render(records, table, profile, (1, 2), "markdown", compare_paper=True)
    assert "- Ordering vs the paper, cifar10→digits 40 % uniform" in text
    assert "Ordering vs the paper" not in render(records, table, profile, (1, 2), "markdown")


def test_a_partial_row_never_takes_the_bold_and_one_seed_shows_no_spread():
    table, profile = get_table("2"), get_profile("mini")
    flat = curve([1.0] * 3)
    records = [fake_record("basemodel", s, 90.0 + s, flat) for s in (1, 2)]
    records += [fake_record("gdw", 1, 99.0, flat)]  # higher, but on 1 of the 2 seeds
    text = render(records, table, profile, (1, 2), "markdown")
    row = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| ")}
    assert "**91.50 ± 0.71**" in row["BaseModel"] and "99.00 ± n/a (1/2)" in row["GDW"]
    assert "**99.00" not in text
    only_partial = render([fake_record("gdw", 1, 99.0, flat)], table, profile, (1, 2), "markdown")
    assert "**99.00 ± n/a (1/2)**" in only_partial  # with no complete row, the partial one is still the best


def test_ordering_lines_of_a_table_without_records_are_one_line():
    from gdw_bench.reporting.report import ordering_lines

    lines = ordering_lines([], get_table("8"), get_profile("mini"), (1, 2))
    assert len(lines) <= 1 and all("no records yet" in line for line in lines)
