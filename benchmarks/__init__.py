"""gdw-bench: data reweighting under label noise and class imbalance (GDW, NeurIPS 2021).

Packages: ``gdw_bench.methods`` (the registry), ``gdw_bench.datasets`` (the data protocol);
modules: ``engine`` (one cell), ``grid`` (cells of a table), ``store`` (records), ``report``,
``figures``, ``specs``, ``models``, ``cli``.
"""
__version__ = "0.1.0"
