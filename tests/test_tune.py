"""`gdw-bench tune` (its bad input: tests/test_bad_input.py): search spaces declared with the methods, a
validation split held out by (dataset, setting, seed) only, trials as cells (cached: a rerun trains nothing),
a tuned config that `run --config` reads, and a selection that never sees test data (the same trials and
choice when the test labels are permuted)."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from gdw_bench.cli import cli
from gdw_bench.errors import UserInputError
from gdw_bench.execution import tune as tuner
from gdw_bench.methods import cards
from gdw_bench.methods._fields import FieldRule, Range, choice_search, linear_search, log_search, search_problem
from gdw_bench.plan.config import load_profile

FAST = 'extends = "mini"\nname = "{name}"\n[datasets.digits]\nepochs = 3\n'


def _config(tmp_path, name="fast", text=FAST):
    path = tmp_path / f"{name}.toml"
    path.write_text(text.format(name=name))
    return path


def test_every_built_in_search_space_is_valid_and_inside_its_range_and_the_cards_carry_it():
    searched = {}
    for key, card in cards.cards().items():
        for h in card.hyperparameters:
            if h.search is not None:
                assert search_problem(h.search, h.rule) is None, (key, h.name)
                searched.setdefault(key, []).append(h.name)
    assert searched["gdw"] == ["outer_lr"] and searched["mwnet"] == ["vnet_lr"] and "basemodel" not in searched
    assert "tuned over log [1, 1000]" in cards.card("gdw").describe()
    stored = {c["key"]: c for c in json.loads(cards.STORED.read_text())["methods"]}
    assert stored["cb"]["hyperparameters"][0]["search"]["choices"] == [0.9, 0.99, 0.999, 0.9999]


@pytest.mark.parametrize("search, why", [
    (log_search(0, 10), "above 0"), (linear_search(1, 1), "low < high"), (choice_search(0.5), "two or more"),
    (log_search(1e-3, 10), "outside its valid range"), (linear_search(1, 1.5, integer=True), "fewer than two integers"),
    ("log", "valid: log_search")])
def test_a_degenerate_or_invalid_search_space_is_named(search, why):
    rule = FieldRule("step", Range(0.01, None, low_open=True))
    assert why in search_problem(search, rule)


def test_the_validation_split_is_held_out_by_data_only_and_leaves_the_cells_without_it_as_they_were(tmp_path):
    from gdw_bench.core import identity
    from gdw_bench.datasets import Corruption, dataset_spec
    from gdw_bench.datasets.protocol import VALIDATION_SHARE, load_source, split_indices

    spec, source, noise = dataset_spec("digits"), load_source("digits", None), Corruption("uniform", 0.4)
    plain = split_indices(spec, source, noise, 7)
    held = split_indices(spec, source, noise, 7, validation="noisy-val")
    assert set(held.train_idx) | set(held.val_idx) == set(plain.train_idx)  # the same draws, split further
    assert not set(held.train_idx) & set(held.val_idx)
    assert abs(len(held.val_idx) - VALIDATION_SHARE * len(plain.train_idx)) <= spec.num_classes
    assert (held.meta_idx == plain.meta_idx).all() and (held.test_keep == plain.test_keep).all()
    again = split_indices(spec, source, noise, 7, validation="noisy-val")
    assert (again.val_idx == held.val_idx).all() and (again.val_noisy == held.val_noisy).all()
    # a protocol without validation keeps the identities of every cell trained before the field existed
    protocol = {"model": "mlp128bn", "epochs": 3, "validation": None}
    assert identity.portable_protocol(protocol) == {"model": "mlp128bn", "epochs": 3}


def test_tune_runs_end_to_end_caches_its_trials_and_its_config_reproduces_the_choice(tmp_path):
    config = _config(tmp_path)
    args = ["tune", "--config", str(config), "--methods", "basemodel,focal", "--levels", "0.4", "--budget", "3",
            "--results-dir", str(tmp_path / "results"), "--threads", "1", "--jobs", "1"]
    first = CliRunner().invoke(cli, args + ["--no-final"])
    assert first.exit_code == 0, first.output
    assert "trained 4 of 4 trial cells" in first.output
    tuned = tmp_path / "results" / "tuned" / "mini+tuned-noisy-val-0.4.toml"
    text = tuned.read_text()
    assert 'extends = "../../fast.toml"' in text and "[methods.focal]" in text and "best of 3 trials" in text
    again = CliRunner().invoke(cli, args + ["--no-final"])
    assert again.exit_code == 0 and "trained 0 of 4 trial cells" in again.output  # a rerun trains nothing
    assert tuned.read_text() == text  # the same command gives the same trials and choice
    profile = load_profile(tuned)
    gamma = profile.method_overrides["focal"]["gamma"]
    assert f"gamma = {gamma!r}" in text and 0 <= gamma <= 5
    final = CliRunner().invoke(cli, args)  # now train the reported seeds with it
    assert final.exit_code == 0, final.output
    records = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("record.json")]
    reported = [r for r in records if r["method"] == "focal" and r["val_score"] is None]
    assert sorted(r["seed"] for r in reported) == [1, 10, 100, 1000, 10000]
    assert all(r["hyperparameters"]["gamma"] == gamma for r in reported)
    trials = [r for r in records if r["val_score"] is not None]
    assert len(trials) == 4 and {r["seed"] for r in trials} == {7}
    # the defaults on the same seeds, then default vs tuned side by side
    root = ["--results-dir", str(tmp_path / "results")]
    defaults = CliRunner().invoke(cli, ["run", "--config", str(config), "--table", "2", "--methods", "basemodel,focal",
                                        "--levels", "0.4", "--threads", "1", "--jobs", "1", *root])
    assert defaults.exit_code == 0, defaults.output
    shown = CliRunner().invoke(cli, ["report", "--table", "2", "--config", str(config), "--compare-tuned",
                                     "mini+tuned-noisy-val-0.4", *root, "--out", str(tmp_path / "report")])
    assert shown.exit_code == 0, shown.output
    focal = next(line for line in shown.output.splitlines() if line.startswith("| Focal"))
    cells = [c.strip() for c in focal.strip("|").split("|")]
    assert cells[1] == "cifar10→digits 40 % uniform" and "→" in cells[6]
    assert "Kendall's τ default vs tuned ordering" in shown.output
    assert (tmp_path / "report" / "table2_tuned.md").read_text() in shown.output + "\n"


def _npz_config(tmp_path, name, permute_test: bool):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.images * 16).clip(0, 255).astype(np.uint8), digits.target
    y_test = y[1200:].copy()
    if permute_test:
        y_test = np.random.default_rng(0).permutation(y_test)
    np.savez(tmp_path / f"{name}.npz", x_train=x[:1200], y_train=y[:1200], x_test=x[1200:], y_test=y_test)
    return _config(tmp_path, name, f'name = "{name}"\nextends = "mini"\n[datasets.mine]\nsource = "npz"\n'
                                   f'path = "{name}.npz"\nmodel = "mlp128bn"\nepochs = 3\naugment = false\n'
                                   'meta_per_class = 10\n[stand_ins]\ncifar10 = "mine"\n')


def test_the_tuner_never_sees_test_labels_permuting_them_changes_nothing_it_chooses(tmp_path):
    chosen = {}
    for name, permute in (("plain", False), ("permuted", True)):
        request = tuner.TuneRequest(config=_npz_config(tmp_path, name, permute), methods="focal,gdw", levels="0.4",
                                    budget=3)
        result = tuner.tune(request, tmp_path / "results", jobs=1)
        chosen[name] = [[(t.values, t.score) for t in tuning.trials] for tuning in result.tunings]
        tests = [json.loads(p.read_text())["score"] for p in (tmp_path / "results" / "mine").rglob("record.json")]
        chosen[name + " test"] = sorted(tests)
    assert chosen["plain"] == chosen["permuted"]  # every trial's values and validation score, the best alike
    assert chosen["plain test"] != chosen["permuted test"]  # while the test scores did change


def test_a_method_whose_search_space_is_degenerate_is_refused_by_tune(monkeypatch):
    from gdw_bench.methods.cards import HyperparameterCard

    card = cards.card("focal")
    broken = HyperparameterCard(name="gamma", annotation="float", default=2.0, range=Range(0, None),
                                search=linear_search(1, 1))
    monkeypatch.setattr(cards, "card", lambda key: card if key != "focal" else
                        type(card)(**{**card.__dict__, "hyperparameters": (broken,)}))
    with pytest.raises(UserInputError, match="method 'focal': search of 'gamma'"):
        tuner.search_spaces(["focal"], load_profile.__globals__["PROFILES"]["mini"])


@pytest.mark.slow
def test_a_killed_tuning_resumes_to_the_same_trials_and_choice(tmp_path):
    """kill -9 of `tune` once some trial cells are done, then the same command: the tuned config equals an
    uninterrupted tuning's, byte for byte (the sampler re-asks the same trials; finished cells are read back,
    the killed ones resume from their checkpoints)."""
    config = _config(tmp_path)
    args = [sys.executable, "-m", "gdw_bench.cli", "tune", "--config", str(config), "--methods", "focal,gdw",
            "--levels", "0.4", "--budget", "6", "--no-final", "--jobs", "1", "--threads", "1"]
    reference = subprocess.run(args + ["--results-dir", str(tmp_path / "reference")], capture_output=True, text=True)
    assert reference.returncode == 0, reference.stderr
    killed = subprocess.Popen(args + ["--results-dir", str(tmp_path / "killed")], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 300
    while killed.poll() is None and time.time() < deadline and \
            len(list((tmp_path / "killed").rglob("record.json"))) < 3:
        time.sleep(0.05)
    try:
        os.killpg(killed.pid, signal.SIGKILL)
    except ProcessLookupError:  # finished first on a loaded machine: the rerun then trains nothing
        pass
    killed.communicate()
    done_at_kill = len(list((tmp_path / "killed").rglob("record.json")))
    resumed = subprocess.run(args + ["--results-dir", str(tmp_path / "killed")], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    name = "mini+tuned-noisy-val-0.4.toml"
    assert (tmp_path / "killed" / "tuned" / name).read_text() == (tmp_path / "reference" / "tuned" / name).read_text()
    assert done_at_kill < 12 and f"trained {12 - done_at_kill} of 12 trial cells" in resumed.stdout


def test_selection_on_the_meta_set_trains_on_the_whole_training_set_and_says_it_uses_the_meta_set_twice(tmp_path):
    request = tuner.TuneRequest(config=_config(tmp_path), methods="focal", levels="0.4", budget=2, selection="meta")
    result = tuner.tune(request, tmp_path / "results", jobs=1)
    assert result.trained == 2 and all(t.score is not None for t in result.tunings[0].trials)
    record = json.loads(next((tmp_path / "results").rglob("record.json")).read_text())
    assert record["identity"]["protocol"]["validation"] == "meta"
    from gdw_bench.datasets import Corruption, dataset_spec
    from gdw_bench.datasets.protocol import load_source, split_indices

    plain = split_indices(dataset_spec("digits"), load_source("digits", None), Corruption("uniform", 0.4), 7)
    assert record["data_info"]["train_size"] == len(plain.train_idx)  # nothing held out: the meta set is scored
    assert "meta set used twice" in result.config_text("x") and "clean meta set" in tuner.SELECTION_NOTES["meta"]
