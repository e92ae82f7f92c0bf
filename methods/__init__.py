"""The method registry (``gdw_bench.methods``): one file per method, ``@register_method("key")``.

Methods are discovered, not listed: the registry's first use (``get_method``, ``list_methods``,
``discover()``) imports every module of this folder whose name does not start with ``_`` (``base``
holds the contract, ``cards`` the torch-free view of it), then every entry point of the group
``gdw_bench.methods`` that installed packages declare, e.g. in a plugin's pyproject::

    [project.entry-points."gdw_bench.methods"]
    symmetric-ce = "my_package.symmetric_ce"      # a module that uses @register_method
    # or: symmetric-ce = "my_package.symmetric_ce:SymmetricCE"  (a Method subclass; registered by name)

``list_methods()`` gives the keys in row order (each class's ``order``), never in import order.
A plugin that fails to load is reported by ``plugin_errors()`` (and `gdw-bench list methods`)
instead of breaking every command.

Importing this package imports neither torch nor a method (the contract's names come from ``base`` on
first access), so ``gdw_bench.methods.cards`` — what planning, validation, `list` and `info` read of
each method — stays torch-free.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from gdw_bench.errors import FOREIGN_FAILURES, failure_text

# The contract's names, from ``base`` (torch) on first use.
_CONTRACT = ("Method", "NoHyperparameters", "Phase", "PhaseContext", "TaskInfo", "create_method", "get_method",
             "hyperparameter_dict", "hyperparameters_of", "hyperparameter_ranges", "list_methods", "register_method")
_FIELDS = ("Range", "hyperparameter")  # torch-free (``_fields``)
NOT_METHOD_FILES = ("base", "cards")  # modules of this folder that hold no method (besides the ``_`` ones)

ENTRY_POINT_GROUP = "gdw_bench.methods"
_PLUGIN_ERRORS: list[str] = []
# The files of the suite's own methods: imported first, so a file dropped into this folder can never
# take one of their keys (it fails, named, instead).
BUILTIN_FILES = ("basemodel", "finetune", "focal", "cb", "coteaching", "glc", "l2rw", "insw", "mwnet", "softlabel",
                 "genlabel", "gdw", "gdw_nozm")


def _import_folder_methods() -> None:
    """The built-in files, then any other file of this folder; a file that fails (a syntax error, an
    exception at import, a key another file has) is named by ``plugin_errors()`` and the rest works."""
    names = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")
             and m.name not in NOT_METHOD_FILES]
    for name in sorted(names, key=lambda n: (n not in BUILTIN_FILES, n)):
        try:
            importlib.import_module(f"{__name__}.{name}")
        except FOREIGN_FAILURES as exc:  # foreign code: report it, never break (or end) every command
            _record_failure(name, f"method file {Path(__path__[0]) / (name + '.py')}: {failure_text(exc)}")


def _load_plugins() -> None:
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        source = f"{entry.dist.name if entry.dist else entry.value} (entry point '{entry.name}')"
        from .base import get_method, list_methods, register_method

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
        except FOREIGN_FAILURES as exc:  # a broken plugin must not break the suite: say which and why
            _record_failure(entry.name, f"plugin {source}: {failure_text(exc)}")


def _record_failure(key: str, line: str) -> None:
    from .base import _FAILED_TO_LOAD

    """Remember why ``key`` (a file's stem or an entry point's name) is missing, for `list methods` and
    for `run --methods key`, which then says why instead of only "unknown method"."""
    _PLUGIN_ERRORS.append(line)
    _FAILED_TO_LOAD.setdefault(key.replace("_", "-"), line)
    _FAILED_TO_LOAD.setdefault(key, line)


def plugin_errors() -> list[str]:
    discover()
    return list(_PLUGIN_ERRORS)


_DISCOVERY = {"state": "not yet"}  # not yet | running | done


def discover() -> None:
    """Fill the registry once per process: the folder's method files, then the installed plugins. A call
    while it runs (a method file that asks the registry at import) returns at once."""
    if _DISCOVERY["state"] != "not yet":
        return
    _DISCOVERY["state"] = "running"
    try:
        _import_folder_methods()
        _load_plugins()
    finally:
        _DISCOVERY["state"] = "done"


def __getattr__(name: str):
    if name in _FIELDS:
        from . import _fields

        return getattr(_fields, name)
    if name == "plugin_errors":
        return plugin_errors
    if name not in _CONTRACT:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import base  # its get_method and list_methods fill the registry on first call

    return getattr(base, name)


__all__ = ["ENTRY_POINT_GROUP", *_CONTRACT, *_FIELDS, "discover", "plugin_errors"]
