"""gdw-bench: data reweighting under label noise and class imbalance (GDW, NeurIPS 2021).

Layers, top to bottom (docs/architecture.md): ``cli``; ``speed``, ``results``; ``reporting``;
``execution``; ``plan``; ``training``; ``storage``; ``core``; ``methods`` (the registry); ``datasets``
(the data protocol); and the ground floor: ``errors``, ``statefile``, ``seeds``, ``files``.
"""
__version__ = "0.1.0"

import warnings

# torch's forward-mode AD (the meta methods' JVP) loads its decompositions through torch.jit.script the
# first time, which warns that torch.jit.script is deprecated: torch's own call, nothing a user can act on
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning)
