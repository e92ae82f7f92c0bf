"""The method registry: discovery, row order, origins, plugins by entry point, method versions."""
import ast
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from gdw_bench.methods import Method, get_method, list_methods, register_method

PINS = Path(__file__).with_name("method_versions.json")
METHODS_DIR = Path(get_method("gdw").origin).parent


def builtin_methods() -> list[str]:
    """The suite's own methods, in row order: what these tests pin. A user's file dropped into ``methods/``
    (the extending guide's ``sce.py``) or an installed plugin registers too, and is none of their business."""
    from gdw_bench.methods import cards

    return [key for key in list_methods() if cards.from_class(get_method(key)).builtin]


def code_hash(path: Path) -> str:
    """A file's code without docstrings and comments (ast drops comments; docstrings removed here)."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and \
                isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:16]


def code_of(key: str) -> dict:
    """The code a method's numbers depend on: its own file, its parents' files, the shared modules."""
    cls = get_method(key)
    files = {Path(c.__module__.replace("gdw_bench.methods.", "") + ".py").name
             for c in cls.__mro__ if c.__module__.startswith("gdw_bench.methods.")}
    files |= {p.name for p in METHODS_DIR.glob("_*.py") if p.name != "__init__.py"}
    return {name: code_hash(METHODS_DIR / name) for name in sorted(files)}


def test_each_method_version_changes_with_its_code():
    """Change a method (or the shared code) and its version must change: old records turn stale.
    After bumping ``version``, run ``python tests/test_registry.py`` to re-pin."""
    pins = json.loads(PINS.read_text())
    for key in builtin_methods():
        cls = get_method(key)
        pinned = pins[key]
        if code_of(key) != pinned["code"]:
            assert cls.version != pinned["version"], (
                f"the code of '{key}' changed but its version is still {cls.version}: bump {cls.__name__}.version "
                f"(old records become stale) and re-pin with `python tests/test_registry.py`")


def test_rows_follow_each_methods_order_not_import_order():
    assert builtin_methods() == ["basemodel", "finetune", "coteaching", "glc", "l2rw", "insw", "mwnet", "softlabel",
                                 "genlabel", "gdw", "gdw-nozm", "focal", "cb"]
    assert all(Path(get_method(k).origin).parent == METHODS_DIR for k in builtin_methods())


def test_the_registry_refuses_a_class_that_is_not_a_method():
    with pytest.raises(TypeError, match="subclass of gdw_bench.methods.Method"):
        register_method("not-a-method")(dict)
    with pytest.raises(ValueError, match="already registered"):
        register_method("gdw")(type("Other", (Method,), {}))


PLUGIN = '''
"""Symmetric CE (Wang et al., ICCV 2019): L = α·CE(p, y) + β·RCE(p, y). Deviations: none."""
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from gdw_bench.methods import Method, register_method


@dataclass(frozen=True)
class SCEHyperparameters:
    alpha: float = 0.1
    beta: float = 1.0


@register_method("sce")
class SymmetricCE(Method):
    title = "SCE"
    paper = "Wang et al., ICCV 2019"
    order = 15  # between BaseModel and Fine-tuning in tables
    Hyperparameters = SCEHyperparameters

    def train_step(self, batch, meta_batch=None):
        logits = self.model(batch.x)
        p = torch.softmax(logits, 1).clamp(min=1e-7)
        onehot = F.one_hot(batch.y, p.shape[1]).float().clamp(min=1e-4)
        loss = self.hp.alpha * F.cross_entropy(logits, batch.y) - self.hp.beta * (p * onehot.log()).sum(1).mean()
        self.minimise(loss)
        return {"loss": loss.detach()}
'''


def install_distribution(site: Path, package: str, files: dict[str, str], entry_points: str) -> None:
    """An installed distribution as importlib.metadata sees it: the package's files and its dist-info
    with the entry points (what `pip install` of a plugin writes), under ``site`` (put on PYTHONPATH)."""
    (site / package).mkdir(parents=True)
    for name, text in files.items():
        (site / package / name).write_text(text)
    info = site / f"{package}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entry_points)


def cli_with_site(site: Path, cwd: Path):
    """`gdw-bench ARGS` in a real subprocess in ``cwd`` that sees the distributions installed under ``site``."""
    import os

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}

    def gdw_bench(*args):
        return subprocess.run([sys.executable, "-m", "gdw_bench.cli", *args], cwd=cwd, env=env, capture_output=True,
                              text=True)
    return gdw_bench


def install_plugin(site: Path) -> None:
    """The extending guide's plugin, installed with this pyproject table:
        [project.entry-points."gdw_bench.methods"]
        sce = "sce_plugin.sce"
    """
    install_distribution(site, "sce_plugin", {"__init__.py": "", "sce.py": PLUGIN},
                         "[gdw_bench.methods]\nsce = sce_plugin.sce\n")


@pytest.mark.slow
def test_a_method_from_another_installed_package_runs_in_a_grid_and_its_table(tmp_path):
    site = tmp_path / "site"
    install_plugin(site)
    gdw_bench = cli_with_site(site, tmp_path)

    listed = gdw_bench("list", "methods")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split()[0] for line in listed.stdout.splitlines()]
    assert rows[:3] == ["basemodel", "sce", "finetune"]  # its `order`, not when it was loaded
    assert "(from sce-plugin (entry point 'sce'))" in listed.stdout
    run = gdw_bench("run", "--table", "2", "--methods", "basemodel,sce", "--seeds", "1", "--levels", "0.4",
                    "--jobs", "2", "--set", "epochs=3", "--set", "sce.beta=0.5")
    assert run.returncode == 0 and "trained 2 cells" in run.stdout, run.stderr
    record = json.loads(next((tmp_path / "results").rglob("sce/cfg-*/seed-1/record.json")).read_text())
    assert record["hyperparameters"] == {"alpha": 0.1, "beta": 0.5} and len(record["curve"]) == 3
    table = gdw_bench("report", "--table", "2", "--methods", "basemodel,sce", "--set", "epochs=3",
                      "--set", "sce.beta=0.5")
    assert table.returncode == 0 and "| SCE " in table.stdout, table.stderr


# ----- method cards: the torch-free view of the registry --------------------------------------------
CARD_PROBES = [{}, {"outer_lr": 50}, {"outer_lr": 50.0, "zero_mean": False}, {"meta_mode": "double_backward"},
               {"meta_mode": "newton"}, {"prob_clamp": 1.0}, {"prob_clamp": 0.5}, {"clip": -1.0},
               {"clip": float("nan")}, {"hidden": 0}, {"gamma": 0.5}, {"beta": 1.0}, {"beta": 0.99},
               {"finetune_iterations": 0}, {"forget_rate": 0.2}, {"forget_rate": 1.0}, {"num_gradual": -1},
               {"warmup_share": 0.3}, {"step_size": 0.0}, {"no_such_name": 1}, {"initial_weight": 2.0}]


def resolved_or_error(resolve, overrides):
    from gdw_bench.errors import UserInputError

    try:
        return ("ok", resolve(overrides))
    except UserInputError as exc:
        return ("error", str(exc))


def test_stored_cards_are_the_registrys_and_current():
    """cards.json (what `list`, `info`, `--dry-run` and config validation read without torch) equals the
    cards made from the imported classes, and its hash is this folder's: else `python tests/test_registry.py`."""
    from gdw_bench.methods import cards

    stored = json.loads(cards.STORED.read_text())
    made = json.loads(json.dumps(cards.catalogue_from_registry()))
    assert stored == made, "cards.json lags the methods: run `python tests/test_registry.py`"


def test_a_stored_card_resolves_and_refuses_exactly_as_the_class_does():
    """For every built-in and a spread of overrides (valid, out of range, not finite, a bad choice, an
    unknown name), the stored card gives the class's resolved values or the class's very error line."""
    from gdw_bench.methods import cards
    from gdw_bench.methods.base import hyperparameter_dict, hyperparameters_of

    stored = {c.key: c for c in map(cards._from_json, json.loads(cards.STORED.read_text())["methods"])}
    assert list(stored) == [k for k in list_methods() if k in stored]
    for key, card in stored.items():
        cls = get_method(key)
        assert card.version == cls.version and card.relative_cost == cls.relative_cost
        assert card.describe() == cards.from_class(cls).describe()
        names = {h.name for h in card.hyperparameters}
        for probe in CARD_PROBES:  # each name the method has, alone or together; a foreign one is refused alike
            overrides = {k: v for k, v in probe.items() if k in names} or probe
            by_card = resolved_or_error(lambda o: cards.MethodCard.resolve(card, o), overrides)
            by_class = resolved_or_error(lambda o: hyperparameter_dict(hyperparameters_of(cls, o)), overrides)
            assert by_card == by_class, (key, overrides)


def test_cards_in_a_fresh_process_come_without_torch_and_lag_nothing(tmp_path):
    """With the stored file current, reading every card imports no torch; with a method file changed, the
    cards come from the imported classes instead (never stale), here shown on a copy of the folder."""
    script = ("import sys, json; from gdw_bench.methods import cards; c = cards.cards(); "
              "print(json.dumps([list(c), 'torch' in sys.modules]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    keys, torch_loaded = json.loads(done.stdout.strip().splitlines()[-1])
    from gdw_bench.methods import cards

    # torch-free while only the built-ins can register; with a user's method file, from the registry (all of them)
    assert keys == list_methods() and (cards.plugins_present() or not torch_loaded)

    assert cards.source_hash() == json.loads(cards.STORED.read_text())["source_hash"]


def test_the_registered_models_are_the_ones_planning_knows_without_torch():
    from gdw_bench.core.cell import BUILTIN_MODELS
    from gdw_bench.training.models import MODELS

    assert BUILTIN_MODELS == tuple(name for name, entry in MODELS.items() if entry.origin == "built-in")


if __name__ == "__main__":  # re-pin after bumping a method's version (and write the stored method cards)
    PINS.write_text(json.dumps({k: {"version": get_method(k).version, "code": code_of(k)} for k in builtin_methods()},
                               indent=1) + "\n")
    print(f"pinned {PINS}")
    from gdw_bench.methods import cards

    print(f"wrote {cards.write()}")


@pytest.mark.slow  # runs the whole fast tier (about 1.5 min) with the file in place
def test_the_guides_method_file_dropped_into_methods_leaves_make_test_green():
    """The extending guide's own example (docs/extending.md), saved as `methods/sce.py` as it says, then `make
    test`'s command: every built-in expectation applies to the built-ins only, so a user's method never fails
    the suite."""
    import re

    guide = (Path(__file__).parents[1] / "docs" / "extending.md").read_text(encoding="utf-8")
    example = next(block for block in re.findall(r"```python\n(.*?)```", guide, re.S)
                   if block.startswith("# my_package/sce.py (or methods/sce.py in this repository)"))
    target = METHODS_DIR / "sce.py"
    assert not target.exists()
    target.write_text(example, encoding="utf-8")
    try:
        listed = subprocess.run([sys.executable, "-m", "gdw_bench.cli", "list", "methods"], capture_output=True,
                                text=True, timeout=300)
        assert listed.returncode == 0 and any(line.startswith("sce ") for line in listed.stdout.splitlines()), listed
        tier = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "not slow", "-p", "no:cacheprovider",
                               str(Path(__file__).parent)], capture_output=True, text=True, timeout=1200,
                              cwd=Path(__file__).parents[1])
        assert tier.returncode == 0, tier.stdout[-3000:]
        assert re.search(r"\d+ passed", tier.stdout) and "failed" not in tier.stdout.splitlines()[-1]
    finally:
        target.unlink(missing_ok=True)
