"""The cell's training: the cell and its protocol (``cell``, torch-free), the runner with its lock and
failures (``engine``), the epoch loop with its checkpointed state (``loop``), the model registry
(``models``), CUDA graphs, CPU settings and provenance."""
