"""The model registry: built-ins with their parameter counts, the BatchNorm CNN, models brought from a
file, a module or an entry point, and the engine treating them like built-ins (layout, device, record)."""
import json

import pytest
import torch
from test_bad_input import assert_refused
from test_registry import cli_with_site, install_distribution
from torch import nn

from gdw_bench.cli import main
from gdw_bench.errors import UserInputError
from gdw_bench.training.models import CNNBN, MODELS, build_model, parameter_count, resolve_model

USER_MODELS = '''
"""Models a user brings (a file next to their config)."""
import torch
from torch import nn


class TinyConv(nn.Module):
    """One conv layer and a linear head."""

    def __init__(self, num_classes, image_shape):
        super().__init__()
        c, h, w = image_shape
        self.conv = nn.Conv2d(c, 4, 3, padding=1)
        self.head = nn.Linear(4 * h * w, num_classes)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).flatten(1))


def wrong_shape(num_classes, image_shape):
    return nn.Flatten()


def not_a_module(num_classes, image_shape):
    return 3
'''


def test_cnn_bn_has_batchnorm_after_every_layer_but_the_head():
    net = CNNBN(10, (1, 28, 28))
    layers = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d))]
    kinds = [type(m).__name__ for m in layers]
    assert kinds == ["Conv2d", "BatchNorm2d", "Conv2d", "BatchNorm2d", "Linear", "BatchNorm1d", "Linear"]
    assert [m.out_channels for m in layers if isinstance(m, nn.Conv2d)] == [32, 64]
    assert net.hidden.out_features == 128 and net.hidden.in_features == 64 * 7 * 7
    # conv weights 1·32·9 + 32·64·9, BN 2·(32+64+128), dense 3136·128, head 128·10 + 10
    assert parameter_count(net) == 288 + 18432 + 2 * (32 + 64 + 128) + 3136 * 128 + 1290
    assert net(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert build_model("cnn_bn", 10, image_shape=(3, 32, 32))(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_list_models_prints_every_builtin_with_its_parameter_counts(capsys):
    main(["list", "models"])
    out = capsys.readouterr().out.splitlines()
    rows = {line.split()[0]: line for line in out[1:]}
    assert set(MODELS) <= set(rows)
    for name in ("cnn_bn", "mlp128bn", "resnet32"):
        count = parameter_count(build_model(name, 10, pretrained=False, image_shape=(1, 28, 28)))
        assert f"{count:,d}" in rows[name]


def test_list_models_with_a_config_adds_the_model_it_names(tmp_path, monkeypatch, capsys):
    (tmp_path / "nets.py").write_text(USER_MODELS)
    (tmp_path / "exp.toml").write_text('extends = "mini"\n[datasets.digits]\nmodel = "nets.py:TinyConv"\n')
    monkeypatch.chdir(tmp_path)
    main(["list", "models", "--config", "exp.toml"])
    row = next(line for line in capsys.readouterr().out.splitlines() if "TinyConv" in line)
    count = parameter_count(build_model(f"{tmp_path / 'nets.py'}:TinyConv", 10, image_shape=(1, 28, 28)))
    assert row.startswith(f"{tmp_path / 'nets.py'}:TinyConv") and f"{count:,d}" in row
    assert "One conv layer and a linear head.  (from exp.toml, datasets.digits)" in row
    assert_refused(["list", "tables", "--config", "exp.toml"], "go with `list models`", capsys, tmp_path)


def test_a_model_from_a_file_resolves_builds_and_reports_its_errors(tmp_path):
    (tmp_path / "nets.py").write_text(USER_MODELS)
    net = build_model(f"{tmp_path}/nets.py:TinyConv", 7, image_shape=(2, 5, 5))
    assert type(net).__name__ == "TinyConv" and net(torch.zeros(1, 2, 5, 5)).shape == (1, 7)
    assert resolve_model(f"{tmp_path}/nets.py:TinyConv").description == "One conv layer and a linear head."
    with pytest.raises(UserInputError, match="returned int, not a torch.nn.Module"):
        build_model(f"{tmp_path}/nets.py:not_a_module", 7, image_shape=(2, 5, 5))
    with pytest.raises(UserInputError, match="has no class or function 'Missing'"):
        resolve_model(f"{tmp_path}/nets.py:Missing")
    with pytest.raises(UserInputError, match="no such file"):
        resolve_model(f"{tmp_path}/other.py:TinyConv")
    with pytest.raises(UserInputError, match="did you mean 'cnn_bn'"):
        resolve_model("cnn_b")


@pytest.mark.slow
def test_a_config_model_from_a_file_trains_channels_last_like_a_builtin(tmp_path, monkeypatch):
    """The file is resolved against the config's folder (so --jobs workers find it); the engine places
    the user's conv model channels-last and records the reference as the cell's model."""
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "mine.py").write_text(USER_MODELS)
    (tmp_path / "exp.toml").write_text('extends = "mini"\nseeds = [1]\ntables = ["2"]\n\n[datasets.digits]\n'
                                       'model = "nets/mine.py:TinyConv"\nepochs = 2\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    main(["run", "--config", str(tmp_path / "exp.toml"), "--methods", "basemodel,gdw", "--levels", "0.4",
          "--jobs", "2", "--results-dir", str(tmp_path / "results")])  # returns: exit 0
    records = [json.loads(p.read_text()) for p in (tmp_path / "results").rglob("record.json")]
    assert sorted(r["method"] for r in records) == ["basemodel", "gdw"]
    for record in records:
        assert record["model"] == f"{tmp_path / 'nets' / 'mine.py'}:TinyConv"
        assert record["execution"]["memory_format"] == "channels_last"
        assert len(record["curve"]) == 2 and record["score"] > 10


BAD_MODELS = [
    ("resnet99", "unknown model 'resnet99'"),
    ('"nope_pkg.mod:Net"', "importing nope_pkg.mod failed (ModuleNotFoundError"),
    ('"nets/mine.py:Missing"', "has no class or function 'Missing'"),
    ('"nets/absent.py:Net"', "no such file"),
    ('"nets/broken.py:Net"', "importing"),
    ('"nets/mine.py:wrong_shape"', "returns (2, 64) for a batch of 2; expected (2, 10) logits"),
    ('"nets/mine.py:not_a_module"', "not a torch.nn.Module"),
    ('"nets/mine.py:"', "valid: a name from `gdw-bench list models`"),
]


@pytest.mark.parametrize("model,needle", BAD_MODELS, ids=[m for m, _ in BAD_MODELS])
def test_a_bad_model_is_one_line_before_anything_is_written(tmp_path, monkeypatch, capsys, model, needle):
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "mine.py").write_text(USER_MODELS)
    (tmp_path / "nets" / "broken.py").write_text("raise RuntimeError('half-written file')\n")
    monkeypatch.chdir(tmp_path)
    assert_refused(["run", "--table", "2", "--methods", "basemodel", "--seeds", "1", "--levels", "0.4",
                    "--set", f"datasets.digits.model={model}"], needle, capsys, tmp_path)


@pytest.mark.slow
def test_a_model_from_an_installed_package_entry_point_is_listed_and_runs(tmp_path):
    """A distribution declaring [project.entry-points."gdw_bench.models"] (its dist-info as pip writes it);
    a second plugin that fails to import is named, and the rest works."""
    site = tmp_path / "site"
    install_distribution(site, "netplugin", {"__init__.py": USER_MODELS},
                         "[gdw_bench.models]\ntiny_conv = netplugin:TinyConv\nbroken = netplugin:DoesNotExist\n")
    gdw_bench = cli_with_site(site, tmp_path)
    listed = gdw_bench("list", "models")
    assert listed.returncode == 0, listed.stderr
    row = next(line for line in listed.stdout.splitlines() if line.startswith("tiny_conv"))
    assert "One conv layer and a linear head." in row and "(from netplugin (entry point 'tiny_conv'))" in row
    assert "model plugin netplugin (entry point 'broken')" in listed.stderr
    run = gdw_bench("run", "--table", "2", "--methods", "basemodel", "--seeds", "1", "--levels", "0.4",
                    "--set", "epochs=1", "--set", "datasets.digits.model=tiny_conv")
    assert run.returncode == 0 and "trained 1 cells" in run.stdout, run.stderr
    record = json.loads(next((tmp_path / "results").rglob("record.json")).read_text())
    assert record["model"] == "tiny_conv" and record["execution"]["memory_format"] == "channels_last"


@pytest.mark.slow
def test_a_model_from_a_file_resumes_from_its_checkpoint_to_the_uninterrupted_record(tmp_path):
    """The engine's checkpoints hold a user's network like a built-in: killed after every epoch and
    resumed, the cell ends with the very record of an uninterrupted run."""
    from test_engine import strip_times

    from gdw_bench.datasets import Corruption
    from gdw_bench.plan.specs import Protocol
    from gdw_bench.storage import store
    from gdw_bench.training.engine import CellConfig, run_cell

    (tmp_path / "nets.py").write_text(USER_MODELS)
    protocol = Protocol(model=f"{tmp_path / 'nets.py'}:TinyConv", epochs=3, augment=False, eval_batch_size=1000)
    cell = CellConfig(profile="test", dataset="digits", setting="uniform", level="0.4",
                      corruption=Corruption("uniform", 0.4), method="mwnet", seed=1, protocol=protocol)
    full = run_cell(cell, tmp_path / "a")
    resumed = run_cell(cell, tmp_path / "b", stop_after_epochs=1)
    assert resumed is None and (cell.folder(tmp_path / "b") / store.CHECKPOINT).exists()
    while resumed is None:
        resumed = run_cell(cell, tmp_path / "b", stop_after_epochs=1)
    assert strip_times(resumed) == strip_times(full) and full["execution"]["memory_format"] == "channels_last"


def test_a_file_model_enters_the_identity_by_what_it_is_not_where_the_clone_lives(tmp_path):
    """The same config and model file in two clones (another mount point on a cluster) plan the same cells in
    the same folders; an edited model file plans new ones."""
    from gdw_bench.core.identity import portable_protocol, record_is_current
    from gdw_bench.plan import planner

    clones = [tmp_path / "home" / "me" / "clone", tmp_path / "cluster" / "scratch" / "copy"]
    for clone in clones:
        (clone / "nets").mkdir(parents=True)
        (clone / "nets" / "mine.py").write_text(USER_MODELS)
        (clone / "exp.toml").write_text('extends = "mini"\n[datasets.digits]\nmodel = "nets/mine.py:TinyConv"\n')

    def cells(clone):
        plan = planner.plan(planner.RunRequest(table="2", seeds="1,2", methods="basemodel,gdw", levels="0.4",
                                               config=clone / "exp.toml"))
        return [(str(c.folder(tmp_path / "results")), c.config_hash) for c in plan.cells], plan.cells

    first, planned = cells(clones[0])
    second, _ = cells(clones[1])
    assert first == second and len(first) == 4
    assert planned[0].protocol.model == f"{clones[0] / 'nets' / 'mine.py'}:TinyConv"  # workers import this file
    portable = portable_protocol({"model": planned[0].protocol.model})["model"]
    assert portable.startswith("mine.py:TinyConv@sha256:") and str(tmp_path) not in portable
    # a record trained in the first clone is current for the second clone's profile
    record = {"dataset": "digits", "method": "basemodel", "seed": 1, "identity": planned[0].identity(),
              "config_hash": planned[0].config_hash}
    from gdw_bench.plan.config import load_profile

    assert record_is_current(dict(record), load_profile(clones[1] / "exp.toml"))
    (clones[1] / "nets" / "mine.py").write_text(USER_MODELS + "\n# a changed model\nWIDTH = 3\n")
    changed, _ = cells(clones[1])
    assert not set(changed) & set(first)
    assert not record_is_current(dict(record), load_profile(clones[1] / "exp.toml"))
