"""Plan: what a request means — tables and profiles (``specs``), user configs and ``--set`` (``config``),
the cells of a request and their status (``grid``), a cell's identity and folder (``identity``), paired
seeds (``seeds``), the resolved run stored beside the results (``runs``), measured costs (``costs``).
Torch-free."""
