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

from .base import (Method, NoHyperparameters, Phase, PhaseContext, TaskInfo, create_method, get_method,
                   hyperparameter_dict, hyperparameters_of, list_methods, register_method)

ENTRY_POINT_GROUP = "gdw_bench.methods"
_PLUGIN_ERRORS: list[str] = []


def _import_builtin_methods() -> None:
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if not module.name.startswith("_") and module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")


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
            _PLUGIN_ERRORS.append(f"plugin {source}: {type(exc).__name__}: {exc}")


def plugin_errors() -> list[str]:
    return list(_PLUGIN_ERRORS)


_import_builtin_methods()
_load_plugins()

__all__ = ["ENTRY_POINT_GROUP", "Method", "NoHyperparameters", "Phase", "PhaseContext", "TaskInfo", "create_method",
           "get_method", "hyperparameter_dict", "hyperparameters_of", "list_methods", "plugin_errors",
           "register_method"]
