"""The method registry (``gdw_bench.methods``): one file per method, ``@register_method("key")``.

Methods are discovered, not listed: importing this package imports every module of this folder
whose name does not start with ``_`` (``base`` holds the contract), then every entry point of the
group ``gdw_bench.methods`` that installed packages declare, e.g. in a plugin's pyproject::

    [project.entry-points."gdw_bench.methods"]
    symmetric-ce = "my_package.symmetric_ce"      # a module that uses @register_method
    # or: symmetric-ce = "my_package.symmetric_ce:SymmetricCE"  (a Method subclass; registered by name)

``list_methods()`` gives the keys in row order (each class's ``order``), never in import order.
A plugin that fails to load is reported by ``plugin_errors()`` (and `gdw-bench list methods`)
instead of breaking every command.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from gdw_bench.errors import first_line

from .base import _FAILED_TO_LOAD
from .base import (Method, NoHyperparameters, Phase, PhaseContext, Range, TaskInfo, create_method, get_method,
                   hyperparameter, hyperparameter_dict, hyperparameter_ranges, hyperparameters_of, list_methods,
                   register_method)

ENTRY_POINT_GROUP = "gdw_bench.methods"
_PLUGIN_ERRORS: list[str] = []
# The files of the suite's own methods: imported first, so a file dropped into this folder can never
# take one of their keys (it fails, named, instead).
BUILTIN_FILES = ("basemodel", "finetune", "focal", "cb", "coteaching", "glc", "l2rw", "insw", "mwnet", "softlabel",
                 "genlabel", "gdw", "gdw_nozm")


def _import_folder_methods() -> None:
    """The built-in files, then any other file of this folder; a file that fails (a syntax error, an
    exception at import, a key another file has) is named by ``plugin_errors()`` and the rest works."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_") and m.name != "base"]
    for name in sorted(names, key=lambda n: (n not in BUILTIN_FILES, n)):
        try:
            importlib.import_module(f"{__name__}.{name}")
        except Exception as exc:  # noqa: BLE001 - foreign code: report it, never break every command
            _record_failure(name, f"method file {Path(__path__[0]) / (name + '.py')}: {type(exc).__name__}: "
                                  f"{first_line(exc)}")


def _load_plugins() -> None:
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        source = f"{entry.dist.name if entry.dist else entry.value} (entry point '{entry.name}')"
        try:
            loaded = entry.load()
            if isinstance(loaded, type):  # a class: register it under the entry point's name
                if getattr(loaded, "key", "") and loaded.key in list_methods() and get_method(loaded.key) is loaded:
                    loaded.origin = source
                else:
                    register_method(entry.name, origin=source)(loaded)
            else:  # a module: its @register_method decorators ran on import
                for key in list_methods():
                    cls = get_method(key)
                    if cls.__module__ == loaded.__name__:
                        cls.origin = source
        except Exception as exc:  # a broken plugin must not break the suite: say which and why
            _record_failure(entry.name, f"plugin {source}: {type(exc).__name__}: {first_line(exc)}")


def _record_failure(key: str, line: str) -> None:
    """Remember why ``key`` (a file's stem or an entry point's name) is missing, for `list methods` and
    for `run --methods key`, which then says why instead of only "unknown method"."""
    _PLUGIN_ERRORS.append(line)
    _FAILED_TO_LOAD.setdefault(key.replace("_", "-"), line)
    _FAILED_TO_LOAD.setdefault(key, line)


def plugin_errors() -> list[str]:
    return list(_PLUGIN_ERRORS)


_import_folder_methods()
_load_plugins()

__all__ = ["ENTRY_POINT_GROUP", "Method", "NoHyperparameters", "Phase", "PhaseContext", "Range", "TaskInfo",
           "create_method", "hyperparameter", "hyperparameter_ranges",
           "get_method", "hyperparameter_dict", "hyperparameters_of", "list_methods", "plugin_errors",
           "register_method"]
