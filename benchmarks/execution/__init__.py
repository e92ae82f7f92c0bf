"""Execute: one ``execute()`` for every executor — in-process, the ``--jobs`` worker pool (``workers``),
SLURM job arrays (``slurm``) — handing each cell the frozen ``RunOptions`` and getting back a typed
``CellOutcome`` (``options``)."""
