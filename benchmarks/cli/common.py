"""What every command shares: the click group, option helpers, results-root and output checks, and the
entry point's one-line errors."""
from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

import click

from gdw_bench.errors import UserInputError
from gdw_bench.plan.config import PROFILE_ORDER
from gdw_bench.statefile import kind_of

DEFAULT_RESULTS = Path("results")


class _NonEmptyPath(click.Path):
    """click's Path, refusing '' (which pathlib would read as the current folder)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            raise UserInputError(f"{param.opts[0] if param else 'a path'} '' is empty; valid: a path")
        return super().convert(value, param, ctx)


PATH = _NonEmptyPath(path_type=Path)


def _profile_option(default="mini"):
    return click.option("--profile", default=default, show_default=True,
                        help=f"{' | '.join(PROFILE_ORDER)} (the base of --config / --set)")


def _config_options(command):
    command = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                           help="change one key of the profile, e.g. epochs=20, gdw.outer_lr=50, "
                                "datasets.digits.lr=0.05, seeds=1,2 (repeatable)")(command)
    return click.option("--config", "config", type=PATH, default=None,
                        help="a TOML profile (see `gdw-bench info mini --as-config`)")(command)


_from_scratch_option = click.option(
    "--from-scratch", is_flag=True,
    help="ResNet-18 from random weights instead of ImageNet-pretrained (Tables 5, 7 without a network); "
         "kept apart from pretrained results")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gdw-bench")
def cli():
    """gdw-bench: data reweighting under label noise and class imbalance (GDW, NeurIPS 2021)."""


def _nearest_existing(path: Path) -> Path | None:
    """``path`` itself or its nearest ancestor that exists (None: none does): where writing under
    ``path`` would start, and a file there blocks it."""
    return next((p for p in (path, *path.parents) if p.exists()), None)


def output_target(path: Path, option: str = "--out", folder: bool = False) -> Path:
    """An output of `report` (a folder) or `export` (a file) as an absolute path, checked before anything
    is read or computed: one line when it is something the suite must not replace (a device, a FIFO, a
    symlink; a folder where a file is meant, or the reverse), lies inside a file, or cannot be written."""

    out = Path(path).expanduser().absolute()
    wanted = "a folder (or one to be created)" if folder else "a file path (a new file, or one gdw-bench wrote)"
    try:
        mode = os.lstat(out).st_mode
    except (FileNotFoundError, NotADirectoryError):  # not there, or under a file (said below)
        mode = None
    if mode is not None and not (stat.S_ISDIR(mode) if folder else stat.S_ISREG(mode)):
        kind = "a symlink" if stat.S_ISLNK(mode) else "a file" if stat.S_ISREG(mode) else kind_of(mode)
        raise UserInputError(f"{option} {out} is {kind}; valid: {wanted}")
    existing = _nearest_existing(out if folder else out.parent)
    if existing is not None and not existing.is_dir():
        raise UserInputError(f"{option} {out}: {existing} is a file; valid: {wanted} in a folder")
    if existing is None or not os.access(existing, os.W_OK | os.X_OK):
        read_only = existing is not None and os.statvfs(existing).f_flag & os.ST_RDONLY
        why = os.strerror(errno.EROFS) if read_only else f"no write permission on {existing}"
        raise UserInputError(f"cannot write {out} ({why}); valid: {wanted} in a folder you can write, on a "
                             f"filesystem with room")
    return out.resolve()


def _data_dir(path: Path | None) -> Path | None:
    """--data-dir: one line when it is a file (a folder, or one to be created, is fine)."""
    if path is not None and Path(path).exists() and not Path(path).is_dir():
        raise UserInputError(f"--data-dir {Path(path).resolve()} is a file; valid: a folder (or one to be created)")
    return path




def _results_root(path: Path, must_write: bool) -> Path:
    """The results root as an absolute path (every message names it so); one-line errors when it is
    a file, or when training must write there and cannot."""
    root = Path(path).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise UserInputError(f"--results-dir {root} is a file; valid: a folder (or one to be created)")
    if must_write:
        existing = _nearest_existing(root)
        if existing is not None and not existing.is_dir():
            raise UserInputError(f"--results-dir {root} lies inside the file {existing}; valid: a folder (or one to "
                                 f"be created)")
        if existing is None or not os.access(existing, os.W_OK | os.X_OK):
            raise UserInputError(f"--results-dir {root} cannot be written (no write permission on {existing}); "
                                 f"valid: a folder you can write")
    return root


def _existing_results(root: Path) -> Path:
    """`report` and `export` read a results root: one that does not exist is a typo, not an empty grid."""
    if not root.exists():
        raise UserInputError(f"--results-dir {root} does not exist; valid: the folder `gdw-bench run` wrote "
                             f"(default ./results)")
    return root


def main(argv=None):
    """Entry point: one-line errors with exit code 2 for bad input (ours and click's)."""
    try:
        cli.main(args=argv, standalone_mode=False)
    except UserInputError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    except click.UsageError as exc:
        click.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)


def _executor_options(command):
    """--executor and the --slurm-* options of the commands that train (`run`, `tune`)."""
    for option in reversed([
            click.option("--executor", default="local", show_default=True,
                         help="local | slurm (one job array via submitit)"),
            click.option("--slurm-partition", default=None, help="slurm: partition (default: the cluster's)"),
            click.option("--slurm-time-min", type=int, default=None,
                         help="slurm: time limit per cell (default 3× its estimate, ≥ 10)"),
            click.option("--slurm-cpus", type=int, default=2, show_default=True, help="slurm: CPUs per cell"),
            click.option("--slurm-mem-gb", type=float, default=8.0, show_default=True, help="slurm: memory per cell"),
            click.option("--slurm-gpus", type=int, default=None,
                         help="slurm: GPUs per cell (default 1 with --device cuda, else 0)"),
            click.option("--slurm-parallelism", type=int, default=64, show_default=True,
                         help="slurm: cells running at once"),
            click.option("--slurm-option", "slurm_extra", multiple=True,
                         help="slurm: another sbatch option KEY=VALUE (repeatable)")]):
        command = option(command)
    return command


def _slurm_options(device, no_wait, slurm_partition, slurm_time_min, slurm_cpus, slurm_mem_gb, slurm_gpus,
                   slurm_parallelism, slurm_extra):
    from gdw_bench.execution import slurm  # the run layer, loaded by the commands that train only

    for name, value in (("--slurm-time-min", slurm_time_min), ("--slurm-cpus", slurm_cpus),
                        ("--slurm-mem-gb", slurm_mem_gb), ("--slurm-parallelism", slurm_parallelism)):
        if value is not None and not value > 0:
            raise UserInputError(f"{name} {value} must be positive")
    if slurm_gpus is not None and slurm_gpus < 0:
        raise UserInputError(f"--slurm-gpus {slurm_gpus} must be 0 or more")
    extra = slurm.parse_extra(slurm_extra)
    slurm.check_available()
    gpus = slurm_gpus if slurm_gpus is not None else int(device.startswith("cuda"))
    return slurm.SlurmOptions(partition=slurm_partition, timeout_min=slurm_time_min, cpus_per_task=slurm_cpus,
                              mem_gb=slurm_mem_gb, gpus_per_task=gpus, parallelism=slurm_parallelism, extra=extra,
                              wait=not no_wait)


