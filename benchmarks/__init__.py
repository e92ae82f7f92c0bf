"""gdw-bench: data reweighting under label noise and class imbalance (GDW, NeurIPS 2021).

Packages: ``gdw_bench.methods`` (the registry), ``gdw_bench.datasets`` (the data protocol);
modules: ``engine`` (one cell), ``grid`` (cells of a table), ``store`` (records), ``report``,
``figures``, ``specs``, ``models``, ``cli``.
"""
__version__ = "0.1.0"

import warnings

# torch's forward-mode AD (the meta methods' JVP) loads its decompositions through torch.jit.script the
# first time, which warns that torch.jit.script is deprecated: torch's own call, nothing a user can act on
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=FutureWarning)
warnings.filterwarnings("ignore", message=r"`torch\.jit\.script` is deprecated", category=DeprecationWarning)
