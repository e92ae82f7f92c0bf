"""Bad input, everywhere: one line naming the option, the bad value and the valid choices; exit code
2; no traceback; nothing created or changed under the working folder. Run in-process (the same
`main` the console script calls) so that the whole list stays fast; test_cli.py runs a few of the
same through a real subprocess."""
import gzip
import struct

import numpy as np
import pytest

from gdw_bench.cli import main

RUN = ["run", "--table", "2", "--methods", "basemodel", "--seeds", "1", "--levels", "0.4"]


def tree(path):
    """Every entry under ``path`` with its kind and size, symlinks not followed: a FIFO replaced by a regular
    file, or a symlink by its target's copy, shows as a change."""
    import os
    import stat

    found = []
    for folder, folders, files in os.walk(path):
        for name in (*folders, *files):
            entry = os.path.join(folder, name)
            if "__pycache__" not in entry:
                info = os.lstat(entry)
                found.append((os.path.relpath(entry, path), stat.S_IFMT(info.st_mode),
                              info.st_size if stat.S_ISREG(info.st_mode) else 0))
    return sorted(found)


def idx_bytes(array: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def write_fmnist(folder, damage):
    """The four Fashion-MNIST IDX files (tiny), one of them damaged as ``damage`` says."""
    folder.mkdir(parents=True)
    files = {"train-images-idx3-ubyte": np.zeros((20, 28, 28), np.uint8), "train-labels-idx1-ubyte": np.zeros(20, np.uint8),
             "t10k-images-idx3-ubyte": np.zeros((10, 28, 28), np.uint8), "t10k-labels-idx1-ubyte": np.zeros(10, np.uint8)}
    for name, array in files.items():
        data = idx_bytes(array)
        if name == "train-images-idx3-ubyte":
            if damage == "truncated":
                data = data[: len(data) // 2]
            elif damage == "header":
                data = b"\x01\x02" + data[2:]
            elif damage == "gzip":
                (folder / (name + ".gz")).write_bytes(gzip.compress(data)[:40])
                continue
        if damage == "labels" and name == "train-labels-idx1-ubyte":
            data = idx_bytes(np.zeros(7, np.uint8))
        (folder / name).write_bytes(data)


def write_cifar(folder):
    """CIFAR-10's extracted folder with every batch truncated (fails torchvision's checksum)."""
    folder.mkdir(parents=True)
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta"]:
        (folder / name).write_bytes(b"\x80\x04truncated")


CASES = [
    # run: table, seeds, methods, levels, profile
    (RUN[:1] + ["--table", "10"], "unknown table '10'"),
    (RUN[:1] + ["--table", "fig9"], "unknown table 'fig9'"),
    (RUN + ["--seeds", "-3"], "bad seed '-3'"),
    (RUN + ["--seeds", "1,1"], "repeats a seed"),
    (RUN + ["--seeds", ""], "bad seed ''"),
    (RUN + ["--methods", ","], "names no method"),
    (RUN + ["--methods", "basemodel,mwnett"], "did you mean 'mwnet'"),
    (RUN + ["--levels", "1.0"], "noise level 1.0 is outside [0, 1)"),  # 0.5 is a valid extra level now
    (RUN[:1] + ["--table", "4", "--levels", "0"], "imbalance level μ = 0 is outside (0, 1]"),
    (RUN[:1] + ["--table", "8", "--levels", "0.3"], "level 0.3 is not in table 8"),
    (RUN + ["--levels", "high"], "bad level 'high'"),
    (RUN + ["--levels", "-0.1"], "outside [0, 1)"),
    (RUN[:1] + ["--table", "5", "--levels", "0.4"], "table 5 has a single column and no levels"),
    (RUN[:1] + ["--table", "8", "--levels", "noise=0.5"], "bad level 'noise=0.5'"),
    (RUN + ["--profile", "tiny"], "unknown profile 'tiny'"),
    (RUN + ["--profile", "fmnit"], "did you mean 'fmnist'"),
    # run: execution options
    (RUN + ["--jobs", "0"], "--jobs 0 must be at least 1"),
    (RUN + ["--jobs", "-2"], "--jobs -2 must be at least 1"),
    (RUN + ["--threads", "-1"], "--threads -1 must be at least 1"),
    (RUN + ["--device", "gpu"], "unknown device 'gpu'"),
    (RUN + ["--checkpoint-every", "-5"], "--checkpoint-every -5.0 must be"),
    (RUN + ["--checkpoint-every", "nan"], "--checkpoint-every nan must be"),
    (RUN + ["--jobs", "two"], "'two' is not a valid integer"),
    (RUN + ["--executor", "Slurm"], "unknown executor 'Slurm'"),
    (RUN + ["--executor", "slurm", "--slurm-cpus", "0"], "--slurm-cpus 0 must be positive"),
    (RUN + ["--executor", "slurm", "--slurm-mem-gb", "-1"], "--slurm-mem-gb -1.0 must be positive"),
    (RUN + ["--executor", "slurm", "--slurm-gpus", "-1"], "--slurm-gpus -1 must be 0 or more"),
    (RUN + ["--executor", "slurm", "--slurm-option", "account"], "bad --slurm-option 'account'"),
    (RUN + ["--bogus"], "--bogus"),
    # run: folders and data
    (RUN + ["--results-dir", "results/keep.txt/sub"], "lies inside the file"),
    (RUN + ["--data-dir", "results/keep.txt", "--dry-run"], "--data-dir"),
    (RUN + ["--profile", "fmnist", "--data-dir", "data-truncated"], "truncated or damaged"),
    (RUN + ["--profile", "fmnist", "--data-dir", "data-header"], "is not an unsigned-byte IDX file"),
    (RUN + ["--profile", "fmnist", "--data-dir", "data-gzip"], "cannot be read"),
    (RUN + ["--profile", "fmnist", "--data-dir", "data-labels"], "do not match"),
    (RUN + ["--profile", "paper", "--device", "cpu", "--data-dir", "data-cifar"], "cifar10 under"),
    # config files and --set
    (RUN + ["--config", "missing.toml"], "no such file"),
    (RUN + ["--config", "broken.toml"], "is not valid TOML"),
    (RUN + ["--config", "typo.toml"], "did you mean 'epochs'"),
    (RUN + ["--set", "gdw.prob_clamp=1.0"], "prob_clamp = 1.0 is outside its valid range (0, 1): at 1 the zero-mean"),
    (RUN + ["--set", "mwnet.vnet_lr=fast"], "expected float"),
    (RUN + ["--set", "seeds"], "bad --set 'seeds'"),
    (RUN + ["--set", "epochz=20"], "unknown --set key 'epochz' (did you mean 'epochs'?)"),
    (RUN + ["--set", "gwd.outer_lr=20"], "unknown --set key 'gwd' (did you mean 'gdw'?)"),
    (["report", "--set", "datasets.digits.batch_size=0"], "must be positive"),
    (["info", "--config", "typo.toml"], "did you mean 'epochs'"),
    (["info", "nope", "--as-config"], "unknown profile 'nope'"),
    # report
    (["report", "--table", "11"], "unknown table '11'"),
    (["report", "--profile", "papr"], "did you mean 'paper'"),
    (["report", "--seeds", "a"], "bad seed 'a'"),
    (["report", "--methods", "gdw,foo"], "unknown method 'foo'"),
    (["report", "--format", "latex2"], "unknown format 'latex2'"),
    (["report", "--out", "results/keep.txt"], "is a file"),
    (["report", "--results-dir", "results/keep.txt"], "is a file"),
    # export
    (["tune", "--budget", "0"], "--budget 0: valid: trials per method, 1…1000"),
    (["tune", "--budget", "1001"], "--budget 1001"),
    (["tune", "--selection", "test"], "unknown selection 'test'"),
    (["tune", "--tuning-seeds", "7,10"], "holds reported seed(s) 10"),
    (["tune", "--tuning-seeds", "x"], "bad seed 'x'"),
    (["tune", "--methods", "nope"], "unknown method 'nope'"),
    (["tune", "--table", "9"], "unknown table '9'"),
    (["tune", "--out", "results/keep.txt/tuned.toml"], "is a file"),
    (["tune", "--executor", "ray"], "unknown executor 'ray'"),
    (["export", "--format", "xlsx"], "unknown format 'xlsx'"),
    (["export", "--out", "results"], "is a folder"),
    (["export", "--out", "results/keep.txt/x.csv"], "is a file"),
    (["export", "--results-dir", "results/keep.txt"], "is a file"),
    # list, info
    (["list", "tabels"], "did you mean 'tables'"),
    (["info", "gwd"], "unknown key 'gwd'"),
    # speed
    (["speed", "--steps", "0"], "--steps 0 must be at least 1"),
    (["speed", "--rounds", "-1"], "--rounds -1 must be at least 1"),
    (["speed", "--model", "resnet50"], "unknown model 'resnet50'"),
    (["speed", "--device", "tpu"], "unknown device 'tpu'"),
    (["speed", "--methods", "gdw,nope"], "unknown method 'nope'"),
    (["speed", "--engine", "--profile", "nope"], "unknown profile 'nope'"),
    (["speed", "--pack", "0"], "bad --pack '0'"),
    (["speed", "--pack", "1,2", "--methods", "gdw,mwnet"], "--pack times one method; --methods 'gdw,mwnet' names 2"),
    (["speed", "--memory-format", "nhwc"], "unknown --memory-format 'nhwc'"),
    # sets of values: each value once, after normalisation
    (RUN + ["--seeds", "9" * 5000], "bad seed '99999999999999999999… (5000 characters)'"),
    (RUN + ["--seeds", "9223372036854775808"], "valid: comma-separated integers 0…9223372036854775807"),
    (RUN + ["--methods", "basemodel,gdw,basemodel"], "repeats a value ('basemodel' is one value)"),
    (RUN + ["--methods", "gdw, gdw"], "repeats a value"),
    (RUN + ["--levels", "0.4,0.40"], "'0.4' and '0.40' are one value"),
    (RUN[:1] + ["--table", "8", "--levels", "noise=0.4;imb=0.1,noise=0.4;imb=0.1"], "repeats a value"),
    (RUN + ["--sweep", "gdw.outer_lr=10,10"], "--sweep gdw.outer_lr '10,10' repeats a value"),
    (RUN + ["--sweep", "gdw.outer_lr=50,50.0"], "'50' and '50.0' are one value"),
    (RUN + ["--sweep", "epochs=20,2e1"], "'20' and '2e1' are one value"),
    (RUN + ["--sweep", "name=a,b"], "--sweep name: 'name' cannot be swept"),
    (RUN + ["--sweep", "extends=mini,fmnist"], "'extends' cannot be swept"),
    (RUN + ["--sweep", "seeds=1,2"], "'seeds' cannot be swept"),
    (RUN + ["--sweep", "tables=2,3"], "'tables' cannot be swept"),
    (RUN + ["--sweep", "description=a,b"], "'description' cannot be swept"),
    (["report", "--methods", "gdw,gdw"], "repeats a value"),
    (["report", "--seeds", "10,010"], "repeats a seed"),
    (RUN + ["--levels", "0.4,4e-1"], "'0.4' and '4e-1' are one value"),
    (RUN + ["--sweep", "needs_gpu=true,false"], "'needs_gpu' cannot be swept"),
    (RUN + ["--sweep", "levels=1,2"], "'levels' cannot be swept"),
    (RUN + ["--sweep", "stand_ins.cifar10=a,b"], "'stand_ins' cannot be swept"),
    (["report", "--profile", "../escaped"], "unknown profile '../escaped'"),
    (["export", "--out", "fifo.npz"], "--out {cwd}/fifo.npz is a FIFO"),
    # untrusted files: special files, endless files, odd text
    (RUN + ["--config", "fifo.toml"], "fifo.toml: it is a FIFO, not a regular file"),
    (RUN + ["--config", "zero.toml"], "zero.toml: it is a device, not a regular file"),
    (RUN + ["--config", "huge.toml"], "huge.toml: 5.0 MiB, more than this kind of file may hold (4 MiB)"),
    (RUN + ["--config", "loop.toml"], "loop.toml: cannot be read (a symlink loop)"),
    (RUN + ["--config", "extends-zero.toml"], "extends {cwd}/zero.toml: it is a device"),
    (RUN + ["--config", "extends-nul.toml"], "holds a NUL byte"),
    (RUN + ["--config", "name-empty.toml"], "name = '': valid: 1–100 letters"),
    (RUN + ["--config", "latin1.toml"], "--config latin1.toml is not UTF-8 text (byte 18)"),
    (RUN + ["--config", "exits.toml"], "importing {cwd}/exits.py failed (SystemExit: 3)"),
    (RUN + ["--config", "interrupts.toml"], "importing {cwd}/interrupts.py failed (KeyboardInterrupt)"),
    (["info", "--config", "fifo.toml"], "it is a FIFO"),
    (RUN + ["--config", "npz-fifo.toml"], "fifo.npz: it is a FIFO, not a regular file; valid: an .npz"),
    (RUN + ["--config", "npz-folder.toml"], "a-folder: it is a folder, not a regular file; valid: an .npz"),
    (["export", "--out", "fifo.csv"], "--out {cwd}/fifo.csv is a FIFO"),
    (["export", "--out", "link.csv"], "--out {cwd}/link.csv is a symlink"),
    (["export", "--out", "socket.csv"], "is a socket"),
    (["report", "--out", "fifo.csv"], "--out {cwd}/fifo.csv is a FIFO; valid: a folder"),
    (["report", "--out", "link-to-folder"], "is a symlink"),
    (["report", "--profile", "listed"], "runs/listed.json: holds a JSON list, not an object"),
    (["report", "--profile", "piped"], "runs/piped.json: it is a FIFO"),
    (["report", "--profile", "future"], "schema 99 (a newer gdw-bench wrote it)"),
    (["report", "--profile", "stamped"], "field 'written_at' is int, not text"),
    (["report", "--profile", "seedy"], "field 'seeds' is text, not list/null"),
    (["report", "--profile", "negative"], "'profile.protocols.digits.epochs' = -3 must be positive"),
    (["report", "--profile", "escaping"], "'name' = '../escaped' is not a plain name"),
]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "keep.txt").write_text("x")
    for damage in ("truncated", "header", "gzip", "labels"):
        write_fmnist(tmp_path / f"data-{damage}" / "fashion-mnist", damage)
    write_cifar(tmp_path / "data-cifar" / "cifar-10-batches-py")
    (tmp_path / "broken.toml").write_text("[datasets.digits\nepochs = 3\n")
    (tmp_path / "typo.toml").write_text("[datasets.digits]\nepoch = 3\n")
    hostile_files(tmp_path)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def hostile_files(folder):
    """Special files, endless files and odd text where the suite reads configs, stored runs and outputs."""
    import json
    import os
    import socket

    os.mkfifo(folder / "fifo.toml")
    os.mkfifo(folder / "fifo.csv")
    os.symlink("/dev/zero", folder / "zero.toml")
    os.symlink("loop.toml", folder / "loop.toml")
    with open(folder / "huge.toml", "wb") as handle:  # sparse: 5 MiB on the filesystem's word
        handle.truncate(5 << 20)
    (folder / "extends-zero.toml").write_text('extends = "zero.toml"\n')
    (folder / "extends-nul.toml").write_text('extends = "a\\u0000b.toml"\n')
    (folder / "name-empty.toml").write_text('name = ""\n')
    (folder / "latin1.toml").write_bytes('description = "café"\n'.encode("latin-1"))
    for name, body in (("exits", "import sys\nsys.exit(3)\n"), ("interrupts", "raise KeyboardInterrupt\n")):
        (folder / f"{name}.py").write_text(body)
        (folder / f"{name}.toml").write_text(f'[datasets.digits]\nmodel = "{name}.py:Net"\n')
    os.mkfifo(folder / "fifo.npz")
    for name, data in (("npz-fifo", "fifo.npz"), ("npz-folder", "a-folder")):
        (folder / f"{name}.toml").write_text(f'[datasets.mine]\nsource = "npz"\npath = "{data}"\nmodel = "mlp128bn"\n'
                                             f'epochs = 3\n[stand_ins]\ncifar10 = "mine"\n')
    (folder / "target.csv").write_text("a,b\n")
    os.symlink("target.csv", folder / "link.csv")
    (folder / "a-folder").mkdir()
    os.symlink("a-folder", folder / "link-to-folder")
    server = socket.socket(socket.AF_UNIX)  # bound, then closed: the socket file stays
    server.bind(str(folder / "socket.csv"))
    server.close()
    from gdw_bench.plan import runs
    from gdw_bench.plan.config import PROFILES

    good = runs.StoredRun(name="good", profile=PROFILES["mini"], tables=["2"],
                          seeds=[1], written_at="2026-01-01T00:00:00+00:00").to_json()
    stored = folder / "results" / "runs"
    stored.mkdir(parents=True)
    (stored / "listed.json").write_text("[1, 2]")
    os.mkfifo(stored / "piped.json")
    protocols = {**good["profile"]["protocols"], "digits": {**good["profile"]["protocols"]["digits"], "epochs": -3}}
    for name, changed in (("future", {"schema": 99}), ("stamped", {"written_at": 5}), ("seedy", {"seeds": "abc"}),
                          ("negative", {"profile": {**good["profile"], "protocols": protocols}}),
                          ("escaping", {"name": "../escaped"})):
        (stored / f"{name}.json").write_text(json.dumps({**good, **changed}))


def test_at_least_a_hundred_distinct_bad_inputs():
    assert len({tuple(args) for args, _ in CASES}) == len(CASES) >= 100


def assert_refused(args, needle, capsys, *folders):
    """The promise for bad input: exit code 2, one line starting 'Error: ' that holds ``needle``, no
    traceback, and every folder given exactly as it was."""
    before = [tree(folder) for folder in folders]
    with pytest.raises(SystemExit) as exited:
        main(args)
    assert exited.value.code == 2
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), captured.err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert [tree(folder) for folder in folders] == before


@pytest.mark.parametrize("args,needle", CASES, ids=[" ".join(a[:1] + a[-2:]) for a, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(workdir, capsys, args, needle):
    assert_refused(args, needle.format(cwd=workdir), capsys, workdir)
