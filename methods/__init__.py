"""The method registry (``gdw_bench.methods``): one file per method, ``@register_method("key")``.

Importing this package registers every built-in method; ``list_methods()`` lists their keys in
the paper's row order.
"""
from . import (basemodel, finetune, coteaching, glc, l2rw, insw, mwnet, softlabel, genlabel, gdw,  # noqa: F401
               gdw_nozm, focal, cb)
from .base import (Method, NoHyperparameters, Phase, PhaseContext, TaskInfo, create_method, get_method,
                   hyperparameter_dict, hyperparameters_of, list_methods, register_method)

__all__ = ["Method", "NoHyperparameters", "Phase", "PhaseContext", "TaskInfo", "create_method", "get_method",
           "hyperparameter_dict", "hyperparameters_of", "list_methods", "register_method"]
