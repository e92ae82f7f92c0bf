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

from ._folder import BUILTIN_FILES, ENTRY_POINT_GROUP, NOT_METHOD_FILES  # noqa: F401 (re-exported)

# The contract's names, and the registry's, from ``base`` (torch) on first use.
_CONTRACT = ("Method", "NoHyperparameters", "Phase", "PhaseContext", "TaskInfo", "create_method", "discover",
             "get_method", "hyperparameter_dict", "hyperparameters_of", "hyperparameter_ranges", "list_methods",
             "plugin_errors", "register_method")
_FIELDS = ("Range", "hyperparameter")  # torch-free (``_fields``)


def __getattr__(name: str):
    if name in _FIELDS:
        from . import _fields  # the package's names resolve on first access: importing it loads no module

        return getattr(_fields, name)
    if name not in _CONTRACT:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from . import base  # torch: importing the package must not load it (the cards are torch-free)

    return getattr(base, name)


__all__ = ["BUILTIN_FILES", "ENTRY_POINT_GROUP", *_CONTRACT, *_FIELDS]
