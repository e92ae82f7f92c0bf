"""Bad input on the newer surfaces — config files, --set, the user's own data (npz, ImageFolder), the
released list formats, and the commands' options — held to the README's promise: one line naming the
problem (exit 2, no traceback) and nothing written or changed. Run in-process like test_bad_input.py.

The broken data is made once per module (``bad_data``); each case runs in a fresh working folder whose
tree (and the data's) must be unchanged afterwards."""
import json
import os
import zipfile

import numpy as np
import pytest
from test_bad_input import assert_refused, tree

from gdw_bench.cli import main

RUN = ["run", "--table", "2", "--methods", "basemodel", "--seeds", "1", "--levels", "0.4"]
GOOD_X = np.random.default_rng(0).integers(0, 255, (60, 8, 8), dtype=np.uint8)
GOOD_Y = np.arange(60) % 3


def save_npz(path, **overrides):
    arrays = {"x_train": GOOD_X, "y_train": GOOD_Y, "x_test": GOOD_X[:30], "y_test": GOOD_Y[:30], **overrides}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})


def npz_declaring(path, shape):
    """A valid zip whose x_train.npy header declares ``shape`` (uint8) but holds a few bytes only."""
    save_npz(path, x_train=None)
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1, np.uint8))
    header["shape"] = shape
    buffer = bytearray()
    import io

    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, header)
    buffer += stream.getvalue() + b"\x00" * 16
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("x_train.npy", bytes(buffer))


def png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def image_folder(root, test_colour=False, unknown_test_class=False, corrupt=None, no_test_images=False):
    rng = np.random.default_rng(1)
    for split in ("train", "test"):
        for c in ("a", "b"):
            for i in range(12 if split == "train" else 4):
                if split == "test" and no_test_images:
                    (root / split / c).mkdir(parents=True, exist_ok=True)
                    continue
                colour = test_colour and split == "test" and i == 0
                shape = (8, 8, 3) if colour else (8, 8)
                png(root / split / c / f"{i}.png", rng.integers(0, 255, shape, dtype=np.uint8))
    if unknown_test_class:
        png(root / "test" / "zebra" / "0.png", np.zeros((8, 8), np.uint8))
    if corrupt == "garbage":
        (root / "train" / "a" / "bad.png").write_bytes(b"not a png at all")
    elif corrupt == "truncated":
        data = (root / "train" / "a" / "0.png").read_bytes()
        (root / "train" / "a" / "0.png").write_bytes(data[: len(data) // 2])


NPZ_CASES = {  # name → (how to make it, the error's needle)
    "truncated": (lambda p: (save_npz(p), p.write_bytes(p.read_bytes()[:200])), "cannot be read as .npz"),
    "npy_as_npz": (lambda p: np.save(open(p, "wb"), GOOD_X), "cannot be read as .npz"),
    "huge_shape": (lambda p: npz_declaring(p, (10**7, 10**4, 10**4)), "GiB), over the 16 GiB"),
    "text_labels": (lambda p: save_npz(p, y_train=np.array(["a", "b", "c"] * 20)), "y_train holds <U1 values"),
    "text_pixels": (lambda p: save_npz(p, x_train=np.full((60, 8, 8), "x")), "x_train holds <U1 values"),
    "giant_label": (lambda p: save_npz(p, y_train=np.where(np.arange(60) == 5, 10**9, GOOD_Y)),
                    "label 1000000000 implies 1000000001 classes"),
    "fractional_labels": (lambda p: save_npz(p, y_train=GOOD_Y + 0.5), "training label 0.5 is not an integer"),
    "nan_pixels": (lambda p: save_npz(p, x_train=np.where(GOOD_X > 250, np.nan, GOOD_X / 255.0)),
                   "training images hold NaN or infinite pixels"),
    "inf_pixels": (lambda p: save_npz(p, x_test=np.full((30, 8, 8), np.inf)), "test images hold NaN or infinite"),
    "one_class": (lambda p: save_npz(p, y_train=np.zeros(60, int), y_test=np.zeros(30, int)), "a single class"),
    "empty_test": (lambda p: save_npz(p, x_test=np.zeros((0, 8, 8), np.uint8), y_test=np.zeros(0, int)),
                   "0 test images; valid: both splits non-empty"),
    "missing_key": (lambda p: save_npz(p, x_test=None), "lacks x_test"),
    "negative_label": (lambda p: save_npz(p, y_test=np.full(30, -1)), "label -1 is negative"),
    "missing_class": (lambda p: save_npz(p, y_train=np.where(GOOD_Y == 1, 2, GOOD_Y)), "classes [1] have no training"),
    "length_mismatch": (lambda p: save_npz(p, y_train=GOOD_Y[:50]), "60 training images but 50 labels"),
    "shape_mismatch": (lambda p: save_npz(p, x_test=np.zeros((30, 9, 9), np.uint8)), "differ"),
    "five_dims": (lambda p: save_npz(p, x_train=np.zeros((60, 2, 2, 8, 8), np.uint8)), "images of shape"),
    "bool_pixels": (lambda p: save_npz(p, x_train=GOOD_X > 100), "training images are of type bool"),
    "complex_labels": (lambda p: save_npz(p, y_train=GOOD_Y.astype(complex)), "y_train holds complex128 values"),
    "not_a_zip": (lambda p: p.write_text("hello"), "cannot be read as .npz"),
    "folder": (lambda p: p.mkdir(), "it is a folder, not a regular file"),
}
FOLDER_CASES = {
    "garbage_png": (dict(corrupt="garbage"), "bad.png cannot be read as an image"),
    "truncated_png": (dict(corrupt="truncated"), "0.png cannot be read as an image"),
    "colour_only_in_test": (dict(test_colour=True), "the test split holds colour images"),
    "unknown_test_class": (dict(unknown_test_class=True), "class folders zebra are not among the training classes"),
    "no_test_images": (dict(no_test_images=True), "holds no images in class folders"),
}
CONFIG_FILES = {  # name → (TOML text, needle)
    "cycle_a": ('extends = "cycle_b.toml"\n', "extends cycle: cycle_a.toml → cycle_b.toml → cycle_a.toml"),
    "cycle_b": ('extends = "cycle_a.toml"\n', "extends cycle: cycle_b.toml → cycle_a.toml → cycle_b.toml"),
    "self": ('extends = "self.toml"\n', "extends cycle: self.toml → self.toml"),
    "extends_list": ('extends = ["mini"]\n', "extends = ['mini']: valid: a profile name"),
    "extends_number": ("extends = 5\n", "extends = 5: valid"),
    "extends_unknown": ('extends = "minni"\n', "did you mean 'mini'"),
    "extends_missing_file": ('extends = "nowhere.toml"\n', "no such file"),
    "datasets_number": ("datasets = 5\n", "datasets = 5: valid: a table"),
    "methods_string": ('methods = "gdw"\n', "methods = 'gdw': valid: a table"),
    "stand_ins_number": ("stand_ins = 5\n", "stand_ins = 5: valid: a table"),
    "name_nul": ('name = "a\\u0000b"\n', "name = 'a\\x00b': valid"),
    "name_long": (f'name = "{"x" * 300}"\n', "valid: 1–100 letters"),
    "name_slash": ('name = "a/b"\n', "name = 'a/b': valid"),
    "name_hidden": ('name = ".x"\n', "name = '.x': valid"),
    "name_space": ('name = "my run"\n', "name = 'my run': valid"),
    "seeds_repeat": ("seeds = [1, 1]\n", "repeats a seed"),
    "seeds_string": ('seeds = "1,2"\n', "seeds = '1,2': valid"),
    "seeds_negative": ("seeds = [-1]\n", "seeds = [-1]: valid"),
    "seeds_empty": ("seeds = []\n", "seeds = []: valid"),
    "tables_string": ('tables = "2"\n', "tables = '2': valid"),
    "tables_float": ("tables = [2.5]\n", "tables = [2.5]: valid"),
    "tables_unknown": ('tables = ["9"]\n', "unknown table '9'"),
    "description_number": ("description = 5\n", "description = 5: valid"),
    "model_number": ("[datasets.digits]\nmodel = 5\n", "datasets.digits.model = 5: expected"),
    "epochs_fraction": ("[datasets.digits]\nepochs = 1.5\n", "datasets.digits.epochs = 1.5: expected"),
    "lr_nan": ("[datasets.digits]\nlr = nan\n", "datasets.digits.lr = nan must be a finite number"),
    "lr_inf": ("[datasets.digits]\nlr = inf\n", "datasets.digits.lr = inf must be a finite number"),
    "wd_inf": ("[datasets.digits]\nweight_decay = inf\n", "weight_decay = inf must be a finite number"),
    "momentum_one": ("[datasets.digits]\nmomentum = 1.0\n", "momentum = 1.0 must lie in [0, 1)"),
    "meta_too_big": ("[datasets.digits]\nmeta_per_class = 200\n", "too few for a meta set of 200 per class"),
    "train_subset_too_big": ("[datasets.digits]\ntrain_subset = 99999\n", "train_subset 99999 is larger than"),
    "test_subset_empty": ("[datasets.digits]\ntest_subset = 5\n", "0 test images are left"),
    "pad_too_small": ("[datasets.digits]\npad_to = 4\n", "pad_to 4 is smaller than digits's images"),
    "unknown_protocol_key": ("[datasets.digits]\nepochz = 3\n", "did you mean 'epochs'"),
    "dataset_not_table": ("[datasets]\ndigits = 5\n", "datasets.digits = 5: valid"),
    "unknown_dataset": ("[datasets.dgits]\nepochs = 3\n", "datasets.dgits: not a dataset"),
    "user_key_slash": ('[datasets."a/b"]\nsource = "npz"\npath = "x.npz"\n', "datasets.'a/b': valid dataset keys"),
    "user_no_path": ('[datasets.mine]\nsource = "npz"\n', "needs a path"),
    "user_bad_source": ('[datasets.mine]\nsource = "csv"\npath = "x.csv"\n', "unknown source of datasets.mine"),
    "user_no_stand_in": (None, "stand in for no paper dataset"),
    "gdw_outer_nan": ("[methods.gdw]\nouter_lr = nan\n", "gdw.outer_lr = nan must be a finite number in [0, ∞)"),
    "gdw_outer_text": ('[methods.gdw]\nouter_lr = "fast"\n', "methods.gdw.outer_lr = 'fast': expected"),
    "gdw_hidden_zero": ("[methods.gdw]\nhidden = 0\n", "gdw.hidden = 0 is outside its valid range [1, ∞)"),
    "gdw_clamp_one": ("[methods.gdw]\nprob_clamp = 1.0\n", "prob_clamp"),
    "mwnet_lr_negative": ("[methods.mwnet]\nvnet_lr = -1\n", "mwnet.vnet_lr = -1 is outside its valid range (0, ∞)"),
    "cb_beta_one": ("[methods.cb]\nbeta = 1.0\n", "cb.beta = 1.0 is outside its valid range [0, 1)"),
    "focal_gamma_negative": ("[methods.focal]\ngamma = -1.0\n", "focal.gamma = -1.0 is outside"),
    "coteaching_forget_one": ("[methods.coteaching]\nforget_rate = 1.0\n", "coteaching.forget_rate = 1.0 is outside"),
    "genlabel_warmup": ("[methods.genlabel]\nwarmup_share = 1.5\n", "genlabel.warmup_share = 1.5 is outside"),
    "softlabel_clip_zero": ("[methods.softlabel]\nclip = 0.0\n", "softlabel.clip = 0.0 is outside"),
    "insw_min_zero": ("[methods.insw]\nmin_weight = 0.0\n", "insw.min_weight = 0.0 is outside"),
    "finetune_zero_iterations": ("[methods.finetune]\nfinetune_iterations = 0\n",
                                 "finetune.finetune_iterations = 0 is outside"),
    "unknown_method_table": ("[methods.gdww]\nouter_lr = 1.0\n", "did you mean 'gdw'"),
    "unknown_hyperparameter": ("[methods.gdw]\nouterlr = 1.0\n", "did you mean 'outer_lr'"),
    "method_not_table": ("[methods]\ngdw = 5\n", "methods.gdw = 5: valid: a table"),
    "stand_in_unknown_paper": ('[stand_ins]\ncifar11 = "digits"\n', "did you mean 'cifar10'"),
    "stand_in_unknown_dataset": ('[stand_ins]\ncifar10 = "digitz"\n', "unknown dataset in stand_ins.cifar10"),
    "stand_in_bad_rate": ('[stand_ins]\ncifar10 = {dataset = "digits", noise = "uniform", rate = 2.0}\n',
                          "outside [0, 1]"),
    "unknown_top_key": ("epochs = 3\n", "unknown key in the config 'epochs'"),
}
SETS = [  # --set values: (KEY=VALUE, needle)
    ("lr=nan", "datasets.digits.lr = nan must be a finite number"),
    ("lr=inf", "datasets.digits.lr = inf must be a finite number"),
    ("lr=-0.1", "must be positive"),
    ("epochs=0", "datasets.digits.epochs = 0 must be positive"),
    ("batch_size=-1", "must be positive"),
    ("momentum=-0.5", "must be 0 or more"),
    ("gdw.outer_lr=nan", "gdw.outer_lr = nan must be a finite number"),
    ("gdw.clip=-0.2", "gdw.clip = -0.2 is outside"),
    ("mwnet.vnet_lr=-1", "mwnet.vnet_lr = -1 is outside"),
    ("insw.step_size=inf", "insw.step_size = inf must be a finite number"),
    ("methods=1", "methods = 1: valid"),
    ("datasets=5", "datasets = 5: valid"),
    ("stand_ins=5", "stand_ins = 5: valid"),
    ("seeds=1,1", "repeats a seed"),
    ("extends=5", "extends = 5: valid"),
    ('name="a b"', "name = 'a b': valid"),
    ("=3", "bad --set '=3'"),
    ("gdw.outer_lr", "bad --set 'gdw.outer_lr'"),
    ("datasets.digits.lr.x=1", "datasets.digits.lr = {'x': 1}: expected"),
]
OPTION_CASES = [
    (RUN + ["--seeds", "²"], "bad seed '²'"),
    (RUN + ["--seeds", "①"], "bad seed '①'"),
    (["report", "--seeds", "1,²"], "bad seed '²'"),
    (RUN + ["--jobs", "1000000000"], "--jobs 1000000000 is more than 256 processes"),
    (RUN + ["--threads", "99999999999"], "--threads 99999999999 is more than 1024"),
    (RUN + ["--results-dir", ""], "--results-dir '' is empty"),
    (RUN + ["--data-dir", ""], "--data-dir '' is empty"),
    (["report", "--methods", ""], "--methods '' names no method"),
    (["report", "--methods", " , "], "--methods ' , ' names no method"),
    (["report", "--results-dir", "nowhere"], "does not exist"),
    (["export", "--results-dir", "nowhere"], "does not exist"),
    (["report", "--out", ""], "--out '' is empty"),
    (["export", "--out", ""], "--out '' is empty"),
    (["list", "model"], "did you mean 'models'"),
    (["run", "--table", "2", "--profile", "fmnist-smal"], "did you mean 'fmnist-small'"),
]


@pytest.fixture(scope="module")
def bad_data(tmp_path_factory):
    """Every broken data set and config of this module, made once; configs name the data by absolute path."""
    root = tmp_path_factory.mktemp("bad-data")
    for name, (make, _) in NPZ_CASES.items():
        make(root / f"{name}.npz")
        (root / f"npz_{name}.toml").write_text(f'name = "own-{name.replace("_", "-")}"\n[datasets.own_{name}]\n'
                                               f'source = "npz"\npath = "{root / (name + ".npz")}"\n'
                                               f'model = "mlp128"\nepochs = 1\n[stand_ins]\ncifar10 = "own_{name}"\n')
    for name, (options, _) in FOLDER_CASES.items():
        image_folder(root / name, **options)
        (root / f"folder_{name}.toml").write_text(
            f'name = "own-{name.replace("_", "-")}"\n[datasets.own_{name}]\nsource = "imagefolder"\n'
            f'path = "{root / name}"\nmodel = "mlp128"\nepochs = 1\n[stand_ins]\ncifar10 = "own_{name}"\n')
    for name, (text, _) in CONFIG_FILES.items():
        if text is None:  # a user dataset that stands in for nothing
            save_npz(root / "fine.npz")
            text = f'[datasets.lonely]\nsource = "npz"\npath = "{root / "fine.npz"}"\nmodel = "mlp128"\nepochs = 1\n'
        (root / f"{name}.toml").write_text(text)
    clothing = root / "clothing" / "clothing1m"
    clothing.mkdir(parents=True)
    for file in ("noisy_label_kv.txt", "clean_label_kv.txt", "noisy_train_key_list.txt", "clean_val_key_list.txt",
                 "clean_test_key_list.txt"):
        (clothing / file).write_text("images/a.jpg 1\n")
    (clothing / "noisy_label_kv.txt").write_text("images/a.jpg 1\nimages/b.jpg\n")
    places = root / "places" / "places_lt"
    places.mkdir(parents=True)
    for file in ("Places_LT_train.txt", "Places_LT_val.txt", "Places_LT_test.txt"):
        (places / file).write_text("/a/b.jpg 3\n")
    (places / "Places_LT_val.txt").write_text("/a/b.jpg 3\n/a/c.jpg 400\n")
    return root


def cases(bad):
    out = [(["run", "--config", str(bad / f"npz_{n}.toml")], needle) for n, (_, needle) in NPZ_CASES.items()]
    out += [(["run", "--config", str(bad / f"folder_{n}.toml")], needle) for n, (_, needle) in FOLDER_CASES.items()]
    out += [(RUN + ["--config", str(bad / f"{n}.toml")], needle) for n, (_, needle) in CONFIG_FILES.items()]
    out += [(RUN + ["--set", value], needle) for value, needle in SETS]
    out += [(["report", "--set", value], needle) for value, needle in SETS[:4]]
    out += [(["info", "--set", value], needle) for value, needle in SETS[4:8]]
    out += OPTION_CASES
    out += [(["run", "--table", "5", "--profile", "paper", "--device", "cpu", "--data-dir", str(bad / "clothing")],
             "noisy_label_kv.txt, line 2: 'images/b.jpg'"),
            (["run", "--table", "7", "--profile", "paper", "--device", "cpu", "--data-dir", str(bad / "places"),
              "--from-scratch"], "Places_LT_val.txt, line 2: '/a/c.jpg 400'")]
    return out


CASE_IDS = ([f"npz-{n}" for n in NPZ_CASES] + [f"folder-{n}" for n in FOLDER_CASES] + [f"config-{n}" for n in CONFIG_FILES]
            + [f"set-{v}" for v, _ in SETS] + [f"report-set-{v}" for v, _ in SETS[:4]]
            + [f"info-set-{v}" for v, _ in SETS[4:8]] + [" ".join(a[:1] + a[-2:]) for a, _ in OPTION_CASES]
            + ["clothing1m-malformed-line", "places-lt-label-out-of-range"])


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "keep.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_these_surfaces_hold_at_least_125_distinct_bad_inputs(bad_data):
    """With test_bad_input.py's 114 and test_models.py's 8: 251 distinct cases, each held to the same four checks."""
    listed = cases(bad_data)
    assert len(listed) == len(CASE_IDS) and len({tuple(a) for a, _ in listed}) == len(listed) >= 125


@pytest.mark.parametrize("index", range(len(CASE_IDS)), ids=CASE_IDS)
def test_bad_input_on_every_surface_is_one_line_exit_2_and_changes_nothing(bad_data, workdir, capsys, index):
    args, needle = cases(bad_data)[index]
    assert_refused(args, needle, capsys, workdir, bad_data)


def test_a_config_whose_second_dataset_is_broken_writes_nothing_at_all(tmp_path, monkeypatch, capsys):
    """Two datasets for two tables, the first fine and the second's meta split impossible: `run` finds it
    while planning, before the first cell of the first dataset starts, and writes nothing."""
    save_npz(tmp_path / "good.npz")
    save_npz(tmp_path / "small.npz", y_train=np.where(np.arange(60) < 3, 1, 0), y_test=np.arange(30) % 2)  # class 1: 3
    (tmp_path / "two.toml").write_text(
        'seeds = [1]\ntables = ["2", "5"]\n[datasets.first]\nsource = "npz"\npath = "good.npz"\nmodel = "mlp128"\n'
        'epochs = 1\nmeta_per_class = 5\n[datasets.second]\nsource = "npz"\npath = "small.npz"\nmodel = "mlp128"\n'
        'epochs = 1\nmeta_per_class = 5\n[stand_ins]\ncifar10 = "first"\nclothing1m = "second"\n')
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(["run", "--config", "two.toml"])
    assert exited.value.code == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and "second (clean): class 1 has 3 images, too few for a meta set of 5" in err[0], err
    assert tree(tmp_path) == before and not (tmp_path / "results").exists()


# ----- degenerate data, each on its own --------------------------------------------------------------
def test_degenerate_arrays_are_refused_with_what_is_wrong():
    from gdw_bench.datasets.sources import _array_source
    from gdw_bench.errors import UserInputError

    x = np.zeros((10, 4, 4), np.float32)
    with pytest.raises(UserInputError, match="a single class"):
        _array_source("d", x, np.zeros(10, int), x[:2], np.zeros(2, int), "d")
    with pytest.raises(UserInputError, match="0 test images"):
        _array_source("d", x, np.arange(10) % 2, x[:0], np.zeros(0, int), "d")
    with pytest.raises(UserInputError, match="NaN or infinite"):
        _array_source("d", np.where(np.arange(160).reshape(10, 4, 4) == 7, np.nan, x), np.arange(10) % 2, x[:2],
                      np.arange(2), "d")
    fine = _array_source("d", x, (np.arange(10) % 2).astype(float), x[:2], np.array([0.0, 1.0]), "d")
    assert fine.num_classes == 2 and fine.train_labels.dtype == np.int64  # integral floats are integers


def test_an_image_folder_mixing_grey_and_colour_and_sizes_is_read_in_one_mode_at_the_training_size(tmp_path):
    from gdw_bench.datasets.sources import load_image_folder_source

    image_folder(tmp_path / "data")
    png(tmp_path / "data" / "train" / "a" / "colour.png", np.full((8, 8, 3), 200, np.uint8))
    png(tmp_path / "data" / "test" / "b" / "big.png", np.full((20, 30), 9, np.uint8))
    (tmp_path / "data" / "train" / "b" / "folder.png").mkdir()  # a folder named like an image: not an image
    source = load_image_folder_source("mixed", tmp_path / "data")
    assert source.train_images.shape == (25, 3, 8, 8) and source.test_images.shape == (9, 3, 8, 8)
    assert source.num_classes == 2


# ----- outputs, records and plugins --------------------------------------------------------------------
def _mount_tmpfs(folder, options):
    import subprocess

    folder.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
    if done.returncode != 0:
        pytest.skip("needs root to mount a small tmpfs (read-only or full)")


@pytest.mark.parametrize("options,needle", [("size=1m,ro", "Read-only file system"), ("size=64k", "No space left")])
def test_report_and_export_into_an_unwritable_or_full_folder_are_one_line(tmp_path, monkeypatch, capsys, options,
                                                                           needle):
    import subprocess

    from test_regime import fake_record

    (tmp_path / "results" / "mini").mkdir(parents=True)
    record = fake_record("basemodel", 1, 90.0, [{"phase": "train", "epoch": 0, "test_acc": 90.0}])
    record["schema"] = 1
    (tmp_path / "results" / "mini" / "record.json").write_text(json.dumps(record))
    target = tmp_path / "out"
    _mount_tmpfs(target, options)
    try:
        if "ro" not in options:  # fill it: the next write finds no space
            fd = os.open(target / "filler", os.O_WRONLY | os.O_CREAT)
            try:
                while os.write(fd, b"\0" * 4096):
                    pass
            except OSError:
                pass
            finally:
                os.close(fd)
        monkeypatch.chdir(tmp_path)
        for args in (["report", "--out", str(target / "rep")], ["export", "--out", str(target / "rows.csv")]):
            with pytest.raises(SystemExit) as exited:
                main(args)
            assert exited.value.code == 2
            err = [line for line in capsys.readouterr().err.splitlines() if line.strip() and "warning" not in line]
            assert len(err) == 1 and err[0].startswith("Error: cannot write") and needle in err[0], err
        leftovers = [p.name for p in target.rglob("*") if p.name.endswith(".tmp")]
        assert not leftovers
    finally:
        subprocess.run(["umount", str(target)], capture_output=True)


def test_damaged_records_are_one_warning_each_and_the_report_goes_on(tmp_path, monkeypatch, capsys):
    from test_regime import fake_record

    good = fake_record("basemodel", 1, 91.5, [{"phase": "train", "epoch": 0, "test_acc": 91.5}])
    good["schema"] = 1
    damaged = {
        "curve-entry": {**good, "curve": [{"test_acc": 1.0}, 7]},
        "empty-corruption": {**good, "corruption": {}},
        "nan-score": {**good, "score": float("nan")},
        "text-test-acc": {**good, "curve": [{"test_acc": "high"}]},
        "identity-list": {**good, "identity": []},
    }
    root = tmp_path / "results" / "mini" / "digits" / "uniform-0.4"
    (root / "basemodel" / "seed-1").mkdir(parents=True)
    (root / "basemodel" / "seed-1" / "record.json").write_text(json.dumps(good))
    for name, record in damaged.items():
        (root / name / "seed-1").mkdir(parents=True)
        (root / name / "seed-1" / "record.json").write_text(json.dumps(record))
    (root / "fifo" / "seed-1").mkdir(parents=True)
    os.mkfifo(root / "fifo" / "seed-1" / "record.json")  # would block a plain open()
    (root / "folder" / "seed-1" / "record.json").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    main(["report", "--table", "2", "--methods", "basemodel", "--seeds", "1"])
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == len(damaged) + 2, captured.err
    for fragment in ("curve entry 1 is int", "no 'slug'", "score nan", "'test_acc' = 'high'", "'identity' is list",
                     "is a FIFO", "is a folder"):
        assert any(fragment in w for w in warnings), (fragment, warnings)
    assert "91.50" in captured.out  # the good record still makes its table
    main(["export", "--out", "rows.csv"])
    assert len((tmp_path / "rows.csv").read_text().splitlines()) == 2  # header + the good record


def test_a_report_killed_while_writing_leaves_temp_files_that_the_next_report_removes(tmp_path, monkeypatch):
    from gdw_bench.reporting import figures

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "reports" / "mini"
    out.mkdir(parents=True)
    (out / ".table2_curves.png.abc123.tmp").write_bytes(b"half a figure")
    (tmp_path / "results").mkdir()
    main(["report", "--out", str(out)])
    assert not list(out.glob("*.tmp")) and (out / "index.md").exists()
    assert "atomic_write_bytes(path, buffer.getvalue())" in open(figures.__file__).read()  # figures too


PLUGIN_FILES = {
    "zz_test_syntax": ("def broken(:\n", "SyntaxError"),
    "zz_test_raises": ("raise RuntimeError('half-written plugin')\n", "RuntimeError: half-written plugin"),
    "zz_test_exits": ("import sys\nsys.exit(4)\n", "SystemExit: 4"),  # would end every command, silently
    "zz_test_interrupts": ("raise KeyboardInterrupt\n", "KeyboardInterrupt"),
    "aa_test_takes_gdw": ("from gdw_bench.methods import register_method\nfrom gdw_bench.methods.basemodel import "
                          "BaseModel\n\n\n@register_method('gdw')\nclass Mine(BaseModel):\n    pass\n",
                          "method key 'gdw' of Mine from"),
}


@pytest.mark.slow
def test_failing_files_in_the_methods_folder_are_named_and_the_rest_works(tmp_path):
    """A syntax error, an exception at import, a file taking a built-in's key: `list methods` names each
    (with both sources for the key), every other command works, and `run --methods <that file>` says why."""
    import subprocess
    import sys

    import gdw_bench.methods as methods_package

    folder = methods_package.__path__[0]
    written = []
    try:
        for name, (text, _) in PLUGIN_FILES.items():
            path = os.path.join(folder, f"{name}.py")
            with open(path, "w") as handle:
                handle.write(text)
            written.append(path)

        def gdw_bench(*args):
            return subprocess.run([sys.executable, "-m", "gdw_bench.cli", *args], cwd=tmp_path, capture_output=True,
                                  text=True)

        listed = gdw_bench("list", "methods")
        assert listed.returncode == 0 and listed.stdout.split()[0] == "basemodel", listed.stderr
        for name, (_, needle) in PLUGIN_FILES.items():
            assert any(name in line and needle in line for line in listed.stderr.splitlines()), listed.stderr
        assert "already registered by GDW from" in listed.stderr and "methods/gdw.py" in listed.stderr
        info = gdw_bench("info", "gdw")
        assert info.returncode == 0 and "from: " in info.stdout and "methods/gdw.py" in info.stdout
        run = gdw_bench("run", "--table", "2", "--methods", "zz_test_raises", "--dry-run")
        assert run.returncode == 2 and "method 'zz_test_raises' failed to load" in run.stderr
        assert "RuntimeError: half-written plugin" in run.stderr and "Traceback" not in run.stderr
    finally:
        for path in written:
            os.remove(path)


def test_a_step_that_breaks_the_contract_fails_its_cell_with_the_reason(tmp_path):
    import torch

    from gdw_bench.methods import Method
    from gdw_bench.training.engine import CellFailed, _checked_logs

    class NoLoss(Method):
        pass

    with pytest.raises(CellFailed, match=r"NoLoss.train_step returned a dict without 'loss' \(keys: none\)"):
        _checked_logs(NoLoss.__new__(NoLoss), {})
    with pytest.raises(CellFailed, match="returned NoneType"):
        _checked_logs(NoLoss.__new__(NoLoss), None)
    with pytest.raises(CellFailed, match="logged 'loss' with 3 values"):
        _checked_logs(NoLoss.__new__(NoLoss), {"loss": torch.ones(3)})
    logs = _checked_logs(NoLoss.__new__(NoLoss), {"loss": 0.5, "other": torch.tensor([2.0])})
    assert float(logs["loss"]) == 0.5 and logs["other"].shape == ()


def test_a_failed_cifar_download_leaves_no_folder_behind(tmp_path, monkeypatch):
    """Offline, `run --download` fails in torchvision after it made the data folder and began the
    archive: the error is one line, and the folders and partial archive it made are gone."""
    import urllib.error

    from torchvision.datasets import CIFAR10

    from gdw_bench.datasets.sources import load_cifar_source
    from gdw_bench.errors import UserInputError

    def offline_download(self):
        os.makedirs(self.root, exist_ok=True)
        with open(os.path.join(self.root, self.filename), "wb") as handle:
            handle.write(b"partial")
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(CIFAR10, "download", offline_download)
    target = tmp_path / "new" / "deeper"
    with pytest.raises(UserInputError, match="cifar10 under .* is missing or damaged \\(URLError"):
        load_cifar_source("cifar10", target, download=True)
    assert list(tmp_path.iterdir()) == []
