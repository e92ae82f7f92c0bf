"""The types every layer shares, torch-free: a cell and its protocol (``cell``), its identity, hash and
folder (``identity``), and how a run trains (``options``: ``RunOptions``, ``CellOutcome``). Planning,
execution, training and reporting all import these; this package imports only the ground floor
(``gdw_bench.errors``, ``statefile``, ``seeds``, ``files``) and, when a cell asks, the method cards and
the dataset catalogue."""
