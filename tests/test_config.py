"""Config files and --set: the extending guide's examples (docs/extending.md) run as written; keys are
validated; own data."""
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gdw_bench.errors import UserInputError
from gdw_bench.plan.config import PROFILES, load_profile, to_toml

GUIDE = Path(__file__).parents[1] / "docs" / "extending.md"  # the guide whose config examples these run


def readme_block(first_line: str) -> str:
    """The fenced code block of the extending guide that starts with ``first_line``."""
    for block in re.findall(r"```\w*\n(.*?)```", GUIDE.read_text(encoding="utf-8"), flags=re.S):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"no block of {GUIDE.name} starts with {first_line!r}")


def gdw_bench(args, cwd):
    return subprocess.run([sys.executable, "-m", "gdw_bench.cli", *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.slow
def test_readme_table2_config_runs_20_epochs_with_outer_lr_50(tmp_path):
    (tmp_path / "table2-20ep.toml").write_text(readme_block("# table2-20ep.toml"))
    run = gdw_bench(["run", "--config", "table2-20ep.toml", "--methods", "basemodel,gdw", "--levels", "0.4",
                     "--seeds", "1"], tmp_path)
    assert run.returncode == 0 and "trained 2 cells" in run.stdout, run.stderr
    record = json.loads(next((tmp_path / "results/digits/uniform-0.4/gdw").glob("cfg-*/seed-1/record.json")).read_text())
    assert record["protocol"]["epochs"] == 20 and len(record["curve"]) == 20
    assert record["hyperparameters"]["outer_lr"] == 50.0 and record["hyperparameters"]["meta_mode"] == "jvp"
    dry = gdw_bench(["run", "--config", "table2-20ep.toml", "--dry-run"], tmp_path)
    assert "90 cells: 88 missing, 2 done" in dry.stdout, dry.stdout  # 10 methods × 3 levels × 3 seeds
    same = gdw_bench(["run", "--table", "2", "--set", "epochs=20", "--set", "gdw.outer_lr=50", "--methods", "gdw",
                      "--levels", "0.4", "--seeds", "1", "--dry-run"], tmp_path)
    # the same cell asked with --set alone (another profile name, 50 for 50.0): found where the config's run left it
    assert same.returncode == 0 and "1 cells: 1 done" in same.stdout, same.stdout
    report = gdw_bench(["report", "--config", "table2-20ep.toml", "--table", "2", "--seeds", "1"], tmp_path)
    assert report.returncode == 0 and "**" in report.stdout, report.stderr


@pytest.mark.slow
def test_readme_own_data_config_runs_on_an_npz(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    x, y = (digits.images * 16).clip(0, 255).astype(np.uint8), digits.target
    np.savez(tmp_path / "mine.npz", x_train=x[:1200], y_train=y[:1200], x_test=x[1200:], y_test=y[1200:])
    (tmp_path / "own-data.toml").write_text(readme_block("# own-data.toml").replace("epochs = 30", "epochs = 3"))
    run = gdw_bench(["run", "--config", "own-data.toml", "--methods", "basemodel,mwnet", "--levels", "0.4",
                     "--seeds", "1", "--jobs", "2"], tmp_path)  # pool workers register the dataset themselves
    assert run.returncode == 0 and "trained 2 cells" in run.stdout, run.stderr
    record = json.loads(next((tmp_path / "results/mine/uniform-0.4/mwnet").glob("cfg-*/seed-1/record.json")).read_text())
    info = record["data_info"]
    assert (info["train_size"], info["meta_size"], info["test_size"]) == (1100, 100, 597)
    assert 0.3 < record["data_info"]["actual_noise_fraction"] < 0.5
    info = gdw_bench(["info", "--config", "own-data.toml"], tmp_path)
    assert 'source = "npz"' in info.stdout and "[datasets.mine]" in info.stdout


def test_an_image_folder_tree_is_a_dataset(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    for split, count in (("train", 30), ("test", 6)):
        for c in ("cat", "dog", "owl"):
            (tmp_path / "imgs" / split / c).mkdir(parents=True)
            for i in range(count):
                pixels = (rng.random((10, 12, 3)) * 80 + 60 * ("cat", "dog", "owl").index(c)).astype(np.uint8)
                Image.fromarray(pixels).save(tmp_path / "imgs" / split / c / f"{i}.png")
    profile = load_profile(None, ("datasets.pets.source=imagefolder", f"datasets.pets.path={tmp_path / 'imgs'}",
                                  "datasets.pets.model=mlp128", "datasets.pets.epochs=2", "datasets.pets.meta_per_class=3",
                                  "stand_ins.cifar10=pets"))
    from gdw_bench.datasets import DATASETS, prepare
    from gdw_bench.datasets.corruption import Corruption

    assert DATASETS["pets"].image_shape == (3, 10, 12) and DATASETS["pets"].num_classes == 3
    data = prepare("pets", Corruption("uniform", 0.4), 1, meta_per_class=3)
    assert (len(data.train), len(data.meta), len(data.test)) == (81, 9, 18)
    from gdw_bench.plan import grid
    from gdw_bench.plan.specs import get_table
    from gdw_bench.training.engine import run_cell

    cell = grid.table_cells(get_table("2"), profile, (1,), ("basemodel",), {"0.4"})[0]
    record = run_cell(cell, tmp_path / "results")
    assert record["dataset"] == "pets" and cell.identity()["data_source"].startswith("imagefolder:imgs@sha256:")


@pytest.mark.parametrize("sets,needle", [
    (("epochz=3",), "unknown --set key 'epochz' (did you mean 'epochs'?)"),
    (("datasets.digits.epochs=-1",), "must be positive"),
    (("datasets.digits.model=resnet99",), "datasets.digits: unknown model 'resnet99'"),
    (("gdw.prob_clamp=1.0",), "prob_clamp = 1.0 is outside its valid range (0, 1): at 1 the zero-mean"),
    (("gdw.meta_mode=finite_differences",), "unknown meta_mode 'finite_differences'"),
    (("gdw.outer_lrr=50",), "did you mean 'outer_lr'"),
    (("methods.gdww.outer_lr=50",), "did you mean 'gdw'"),
    (("stand_ins.cifar11=digits",), "did you mean 'cifar10'"),
    (("seeds=1,x",), "bad seed 'x'"),
    (("tables=[9]",), "unknown table '9'"),
    (("datasets.mine.source=npz",), "needs a path"),
    (("datasets.mine.source=csv", "datasets.mine.path=x"), "unknown source of datasets.mine 'csv'"),
    (("extends=tiny",), "unknown profile in extends 'tiny'"),
    (("nokey",), "bad --set 'nokey'"),
    (("needs_gpu=maybe",), "needs_gpu = 'maybe': valid: true or false"),
    (("datasets.digits.seconds_per_epoch={gpu=1.0}",), "unknown key in datasets.digits.seconds_per_epoch 'gpu'"),
    (("datasets.digits.seconds_per_epoch={cpu=-1.0}",), "datasets.digits.seconds_per_epoch.cpu = -1.0: valid: a pos"),
])
def test_bad_config_keys_and_values_are_one_line_errors(sets, needle):
    with pytest.raises(UserInputError) as error:
        load_profile(None, sets)
    assert needle in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("name", sorted(PROFILES))
def test_a_builtin_profile_printed_as_config_reads_back_as_the_same_cells(tmp_path, name):
    from gdw_bench.plan import grid
    from gdw_bench.plan.specs import get_table

    (tmp_path / "copy.toml").write_text(to_toml(PROFILES[name]).replace(f'name = "{name}-copy"', f'name = "{name}"'))
    copy = load_profile(tmp_path / "copy.toml")
    assert copy.protocols == PROFILES[name].protocols and copy.method_overrides == PROFILES[name].method_overrides
    assert copy.datasets == PROFILES[name].datasets  # stand-ins with their corruption and note
    for key in ("2", "5", "7"):
        a = grid.table_cells(get_table(key), PROFILES[name], (1,))
        b = grid.table_cells(get_table(key), copy, (1,))
        assert [c.config_hash for c in a] == [c.config_hash for c in b]  # same identity: records stay current


def test_a_new_method_version_or_default_makes_old_records_stale(tmp_path, monkeypatch):
    from gdw_bench.methods import get_method
    from gdw_bench.plan import grid
    from gdw_bench.plan.specs import get_table
    from gdw_bench.storage import store
    from gdw_bench.training.engine import run_cell

    profile = load_profile(None, ("epochs=2",))
    cell = grid.table_cells(get_table("2"), profile, (1,), ("basemodel",), {"0.4"})[0]
    run_cell(cell, tmp_path)
    assert store.cell_status(cell.folder(tmp_path), cell.config_hash) == "done"
    monkeypatch.setattr(get_method("basemodel"), "version", 2)
    fresh = grid.table_cells(get_table("2"), profile, (1,), ("basemodel",), {"0.4"})[0]
    assert store.cell_status(fresh.folder(tmp_path), fresh.config_hash) == "stale"


def test_levels_select_the_columns_of_every_table():
    from gdw_bench.plan.grid import parse_levels
    from gdw_bench.plan.specs import get_table

    assert parse_levels("0,0.4", get_table("2")) == {"0", "0.4"}
    assert parse_levels("noise=0.4", get_table("8")) == {"noise=0.4;imb=0.1", "noise=0.4;imb=0.01"}
    assert parse_levels("noise=0.6;imb=0.01", get_table("8")) == {"noise=0.6;imb=0.01"}
    assert parse_levels("imb=0.1", get_table("8")) == {"noise=0.4;imb=0.1", "noise=0.6;imb=0.1"}
    assert parse_levels("0.01", get_table("4")) == {"0.01"}


def test_the_builtin_profiles_are_toml_files_read_by_the_config_loader():
    """One source of truth: each built-in profile is plan/profiles/<name>.toml, loaded by load_profile (the
    loader of your configs, with every key checked); a copy of one with a change is a config like any other."""
    from gdw_bench.plan.config import PROFILE_FOLDER

    assert list(PROFILES) == ["paper", "mini", "fmnist", "fmnist-small", "fmnist-paper"]
    for name in PROFILES:
        again = load_profile(PROFILE_FOLDER / f"{name}.toml", base=None, builtin=True)
        assert again == PROFILES[name] and again.source == ""
        # a built-in's method table is taken as written (reports then read no method card): checked here
        # as any config's would be — names, types, ranges, and already in the form validation gives
        checked = load_profile(PROFILE_FOLDER / f"{name}.toml", base=None)
        assert checked.method_overrides == again.method_overrides
    mini = PROFILES["mini"]
    assert mini.protocols["digits"].epochs == 80 and mini.method_overrides == {"finetune": {"finetune_iterations": 100}}
    assert mini.stand_in("cifar100") is None and mini.stand_in("places_lt").corruption.imbalance == 0.1
    assert mini.base_epoch_seconds[("digits", "cpu")] == 0.019 and PROFILES["paper"].needs_gpu


def test_the_builtin_profiles_and_method_cards_read_under_an_ascii_locale():
    """Their files hold μ, ×, η: read as UTF-8 whatever the locale's encoding (here ASCII, UTF-8 mode off)."""
    import json
    import os
    import subprocess
    import sys

    script = ("import json, locale, sys; from gdw_bench.plan.config import PROFILES; from gdw_bench.methods import cards; "
              "print(json.dumps([locale.getpreferredencoding(), len(PROFILES), len(cards.cards()), "
              "'torch' in sys.modules, cards.plugins_present()]))")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}
    done = subprocess.run([sys.executable, "-X", "utf8=0", "-c", script], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    encoding, profiles, methods, torch_loaded, plugins = json.loads(done.stdout.strip().splitlines()[-1])
    # the stored cards (no torch) describe the built-ins; a user's method file makes them come from the registry
    assert encoding != "UTF-8" and profiles == len(PROFILES) and methods >= 13 and (plugins or not torch_loaded)


def test_info_config_prints_the_resolved_config_whole_on_its_built_in_root_and_it_reads_back_the_same(tmp_path):
    """`info --config` of a config that extends fmnist: ``extends = "fmnist"`` (its chain's built-in root, never
    'mini'), its own name, each inherited stand-in note that states the old protocol says what changed, and
    the printed text, read back as a config, is the same profile."""
    from click.testing import CliRunner

    from gdw_bench.cli import cli

    (tmp_path / "base.toml").write_text('extends = "fmnist"\n[datasets.fashion-mnist]\nepochs = 20\n')
    (tmp_path / "my.toml").write_text('extends = "base.toml"\n[methods.gdw]\nouter_lr = 50\n')
    profile = load_profile(tmp_path / "my.toml")
    assert profile.built_on == "fmnist" and profile.protocols["fashion-mnist"].epochs == 20
    text = to_toml(profile)
    assert 'extends = "fmnist"' in text and 'name = "my"' in text and "epochs = 20" in text
    assert "35 epochs; changed here: epochs 35 → 20" in profile.datasets["cifar10"].note
    (tmp_path / "printed.toml").write_text(text)
    again = load_profile(tmp_path / "printed.toml")
    for field in ("name", "datasets", "protocols", "method_overrides", "seeds", "tables", "extra_levels",
                  "user_datasets", "needs_gpu", "built_on"):
        assert getattr(again, field) == getattr(profile, field), field
    result = CliRunner().invoke(cli, ["info", "--config", str(tmp_path / "my.toml")])
    assert result.exit_code == 0 and 'extends = "fmnist"' in result.output and "outer_lr = 50.0" in result.output


def test_an_own_data_file_enters_the_identity_by_what_it_holds_never_by_where_it_is(tmp_path):
    """The same npz in two clones maps to the same cells; another file under the same dataset key (here: its
    test labels permuted) maps to new ones, never to the first file's records."""
    from gdw_bench.core import identity

    x = np.arange(4 * 64, dtype=np.uint8).reshape(4, 1, 8, 8)
    for folder, y_test in (("a", [0, 1]), ("b", [0, 1]), ("c", [1, 0])):
        (tmp_path / folder).mkdir()
        np.savez(tmp_path / folder / "mine.npz", x_train=x[:2], y_train=np.array([0, 1]), x_test=x[2:],
                 y_test=np.array(y_test))
    a, b, c = (identity.data_source(("npz", str(tmp_path / f / "mine.npz"))) for f in "abc")
    assert a == b and a != c and a.startswith("npz:mine.npz@sha256:")
    assert identity.data_source(None) is None
