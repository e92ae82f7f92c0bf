"""The ``gdw-bench`` command line: run, report, list, info, export, migrate, speed — one module per
command over the library (``gdw_bench.execution.execute``, ``publish``, ``report``, ``results`` …), the click
group and shared checks in ``common``.

Bad input is a one-line message on stderr and exit code 2, before anything is written.
"""
from gdw_bench.cli import catalogue, files, report, run, speed, tune  # noqa: F401 (each registers its command)
from gdw_bench.cli.common import DEFAULT_RESULTS, PATH, cli, main  # noqa: F401

__all__ = ["cli", "main"]
