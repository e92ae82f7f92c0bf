"""CUDA graphs for a method's training step (``run --device cuda``; ``--no-cuda-graphs`` turns them off).

At the paper's batch of 100 a ResNet-32 step on a modern GPU is bound by launching kernels, not by
arithmetic: an eager plain step is ~300 kernel launches, each with Python and dispatcher work on the
CPU, and the GPU waits between them (16.6 ms a step on an H100, where the arithmetic takes a few ms).
A CUDA graph records the step's kernels once and replays them with one launch.

How a step is graphed here (the whole-step capture of PyTorch's CUDA-graph notes):
- the first ``WARMUP_STEPS`` steps run eagerly on a side stream: they are real steps on real batches,
  and they create what is created lazily (optimizer state, cuDNN's choices, autograd's streams);
- the next step is *captured*: its batch is copied into static tensors and ``method.train_step`` is
  recorded on them (recording runs nothing), then replayed, which trains on that batch;
- every later step with the same shapes copies its batch into the static tensors and replays. A
  batch of other shapes (an epoch's last, smaller batch) runs eagerly, as do all steps of a method
  that is not ``graph_safe``;
- the graph is dropped at each epoch start (``new_epoch``) and captured afresh after one eager step:
  the learning rate, the look-ahead step size and any per-epoch setting of a method are Python
  numbers that a graph holds as constants.

A step can be graphed only if it never reads a value back to the CPU (``.item()``, boolean indexing,
data-dependent control flow) and changes no Python state per step beyond rebinding attributes to
tensors it computed: a replay runs the recorded kernels, not the Python code. Methods declare this
with ``graph_safe = True`` and do per-step Python bookkeeping in ``graph_replayed``. The replayed
kernels are those of an eager step, so the numbers equal an eager run's (up to the GPU's own
run-to-run nondeterminism). If capturing fails the cell goes on eagerly, with a note in its record.
"""
from __future__ import annotations

import dataclasses

import torch

WARMUP_STEPS = 3  # eager steps on a side stream before the first capture (PyTorch's notes use 3)


def _fields(batch):
    return [] if batch is None else [(f.name, getattr(batch, f.name)) for f in dataclasses.fields(batch)]


def _shape_key(batch, meta_batch) -> tuple:
    return tuple((name, None if t is None else (tuple(t.shape), t.dtype))
                 for b in (batch, meta_batch) for name, t in _fields(b))


def _static_copy(batch):
    if batch is None:
        return None
    return dataclasses.replace(batch, **{name: None if t is None else t.clone() for name, t in _fields(batch)})


def _copy_into(static, batch) -> None:
    if batch is None:
        return
    for (_, dst), (_, src) in zip(_fields(static), _fields(batch)):
        if dst is not None:
            dst.copy_(src)


class GraphedSteps:
    """Runs ``method.train_step`` through a CUDA graph where it can (see the module's docstring)."""

    def __init__(self, method, on_note=None):
        self.method = method
        self.on_note = on_note
        self.graph = None
        self.key = None
        self.static = None
        self.outputs = None
        self.eager_before_capture = WARMUP_STEPS
        self.failed = None  # the capture error that turned graphs off for this cell
        self.captures = self.replays = self.eager_steps = 0

    @property
    def active(self) -> bool:
        return self.failed is None

    def new_epoch(self) -> None:
        """Drop the graph: this epoch's learning rate and method settings are recorded afresh."""
        self.graph, self.key, self.static, self.outputs = None, None, None, None
        self.eager_before_capture = max(self.eager_before_capture, 1)

    def __call__(self, batch, meta_batch):
        key = _shape_key(batch, meta_batch)
        if self.graph is not None:
            if key != self.key:  # another shape: eager, and the graph stays for the next full batch
                return self._eager(batch, meta_batch, side_stream=False)
            _copy_into(self.static[0], batch)
            _copy_into(self.static[1], meta_batch)
            self.graph.replay()
            self.replays += 1
            self.method.graph_replayed()
            return self._copied_outputs()
        if not self.active or self.eager_before_capture > 0:
            self.eager_before_capture -= 1
            return self._eager(batch, meta_batch, side_stream=self.active)
        return self._capture(batch, meta_batch, key)

    def _eager(self, batch, meta_batch, side_stream: bool):
        self.eager_steps += 1
        if not side_stream:
            return self.method.train_step(batch, meta_batch)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            outputs = self.method.train_step(batch, meta_batch)
        torch.cuda.current_stream().wait_stream(side)
        return outputs

    def _capture(self, batch, meta_batch, key):
        static = (_static_copy(batch), _static_copy(meta_batch))
        graph = torch.cuda.CUDAGraph()
        try:
            # a private memory pool per capture: the last epoch's graph is gone, and sharing its pool
            # by handle failed an allocator assertion on the H100 (torch 2.11) once that graph was freed
            with torch.cuda.graph(graph):
                outputs = self.method.train_step(*static)
        except Exception as exc:  # an op that cannot be captured: this cell goes on eagerly
            self.failed = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            if self.on_note is not None:
                self.on_note(f"CUDA graph capture of {self.method.key}'s step failed ({self.failed}); "
                             f"training on without graphs")
            torch.cuda.synchronize()
            return self._eager(batch, meta_batch, side_stream=False)
        self.graph, self.key, self.static, self.outputs = graph, key, static, outputs
        self.captures += 1
        graph.replay()  # recording ran nothing: this trains on the batch
        self.replays += 1
        self.method.graph_replayed()
        return self._copied_outputs()

    def _copied_outputs(self) -> dict:
        """The step's logged values, copied: the next replay overwrites the graph's own."""
        return {key: value.clone() for key, value in self.outputs.items()}

    def summary(self) -> dict:
        return {"captures": self.captures, "replays": self.replays, "eager_steps": self.eager_steps,
                "failed": self.failed}
