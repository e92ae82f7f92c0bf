"""`gdw-bench speed`: ms per training step of every method, engine overhead, packing (``gdw_bench.speed``)."""
from __future__ import annotations

import click

from gdw_bench.cli.common import PATH, _data_dir, cli
from gdw_bench.errors import UserInputError, unknown_choice
from gdw_bench.plan.config import get_profile
from gdw_bench.plan.specs import get_table


@cli.command()
@click.option("--device", default="auto", show_default=True)
@click.option("--steps", default=10, show_default=True, help="timed steps per method per round")
@click.option("--rounds", default=3, show_default=True, help="interleaved rounds over all methods")
@click.option("--methods", default="all", show_default=True)
@click.option("--model", default="resnet32", show_default=True)
@click.option("--pack", default=None,
              help="instead: cells packed on one device, e.g. 1,2,4,8 worker processes (steady-state throughput) "
                   "of one method (--methods, default basemodel)")
@click.option("--profile", default="fmnist-paper", show_default=True, help="with --pack: the profile whose cells run")
@click.option("--data-dir", type=PATH, default=None, help="with --pack / --engine")
@click.option("--phases", "show_phases", is_flag=True, help="instead: the per-phase cost of one meta step")
@click.option("--engine", "engine", is_flag=True,
              help="instead: an epoch of `run` against a bare PyTorch loop (BaseModel, --profile, default fmnist)")
@click.option("--cuda-graphs/--no-cuda-graphs", "cuda_graphs", default=True, show_default=True,
              help="on a GPU: also time the steps replayed as CUDA graphs (with --pack: the cells use them)")
@click.option("--memory-format", "memory_format", default="auto", show_default=True,
              help="the models' layout: auto (as `run`: channels_last for conv models), contiguous or "
                   "channels_last")
def speed(device, steps, rounds, methods, model, pack, profile, data_dir, show_phases, engine, cuda_graphs,
          memory_format):
    """Time one training step of every method (batch 100 / meta 100) and print ratios to BaseModel."""
    from gdw_bench import speed as speed_module  # torch: loaded by `speed` only
    from gdw_bench.plan import grid
    from gdw_bench.training.engine import resolve_device
    from gdw_bench.training.models import MEMORY_FORMATS, resolve_model

    for name, value in (("--steps", steps), ("--rounds", rounds)):  # everything checked before any timing
        if value < 1:
            raise UserInputError(f"{name} {value} must be at least 1")
    resolve_model(model)
    if memory_format != "auto" and memory_format not in MEMORY_FORMATS:
        raise unknown_choice("--memory-format", memory_format, ("auto", *MEMORY_FORMATS))
    layout = None if memory_format == "auto" else memory_format
    resolve_device(device)
    grid.resolve_methods(methods, get_table("2"))
    get_profile(profile)
    data_dir = _data_dir(data_dir)
    if show_phases:
        shape = {"small_cnn": (1, 8, 8), "mlp128": (1, 8, 8), "small_cnn28": (1, 28, 28),
                 "conv_fc128": (1, 28, 28), "mlp512": (1, 28, 28)}.get(model, (3, 32, 32))
        speed_module.phases(device, model, steps=steps, image_shape=shape, memory_format=layout)
        return
    if engine:
        speed_module.engine_overhead("fmnist" if profile == "fmnist-paper" else profile,
                                     device="cpu" if device == "auto" else device, data_dir=data_dir)
        return
    if pack is not None:
        counts = []
        for item in pack.split(","):
            if not item.strip().isdigit() or int(item) < 1:
                raise UserInputError(f"bad --pack '{pack}'; valid: comma-separated process counts ≥ 1, e.g. 1,2,4,8")
            counts.append(int(item))
        keys = grid.resolve_methods(methods, get_table("2")) if methods != "all" else ("basemodel",)
        if len(keys) != 1:
            raise UserInputError(f"--pack times one method; --methods '{methods}' names {len(keys)}")
        speed_module.pack(device, tuple(counts), profile, keys[0], data_dir=data_dir, cuda_graphs=cuda_graphs)
        return
    speed_module.main(device, steps, rounds, methods, model, graphs=cuda_graphs, memory_format=layout)
