"""The model registry: the authors' ResNet-32, small CNNs and MLPs for CPU profiles, torchvision's
ResNet-18 — and models users bring.

All are plain ``nn.Module``s: the meta methods run them functionally with
``torch.func.functional_call``, so no layer needs rewriting (unlike the authors' MetaModule).

A model is named in a profile's protocol (``model = "…"``) in one of three ways:

- a built-in or plugin name (``gdw-bench list models``);
- ``"package.module:Factory"``: an importable class or function;
- ``"path/to/file.py:Factory"``: a file (a config resolves the path against its own folder).

A plugin package declares its models under the entry-point group ``gdw_bench.models``::

    [project.entry-points."gdw_bench.models"]
    wide_mlp = "my_package.nets:WideMLP"

Whatever its origin, a factory is called as ``factory(num_classes=K, image_shape=(C, H, W))`` and must
return an ``nn.Module`` mapping a (B, C, H, W) batch to (B, K) logits. The engine then treats it like a
built-in: Kaiming init is the model's own business, the memory layout (channels-last for models with
convolutions), the device and the checkpoints are the engine's. The model string is part of each
cell's identity; editing a model file does not make its records stale, so name a changed model anew.
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gdw_bench.errors import FOREIGN_FAILURES, UserInputError, failure_text, unknown_choice


def _kaiming_init(module: nn.Module) -> None:
    """The authors' init: Kaiming-normal (fan_in, gain √2) for every conv and linear weight; the
    linear bias and BatchNorm keep PyTorch's defaults."""
    if isinstance(module, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(module.weight)


class _ShortcutA(nn.Module):
    """Option-A shortcut: subsample by 2 and zero-pad channels (planes//4 on each side); no params."""

    def __init__(self, pad: int):
        super().__init__()
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad, self.pad))


class BasicBlock(nn.Module):
    def __init__(self, in_planes: int, planes: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        changes = stride != 1 or in_planes != planes
        self.shortcut = _ShortcutA(planes // 4) if changes else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetCifar(nn.Module):
    """ResNet-(6n+2) for 32×32 inputs: 16/32/64 channels, n blocks per stage (n = 5 → ResNet-32)."""

    def __init__(self, num_classes: int = 10, blocks_per_stage: int = 5, in_channels: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        layers, in_planes = [], 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(blocks_per_stage):
                layers.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
        self.layers = nn.Sequential(*layers)
        self.linear = nn.Linear(64, num_classes)
        self.apply(_kaiming_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.layers(F.relu(self.bn1(self.conv1(x))))
        out = F.adaptive_avg_pool2d(out, 1).flatten(1)
        return self.linear(out)


class SmallCNN(nn.Module):
    """Stages of [conv3×3-BN-ReLU] + 2×2 max-pool, global average pool, linear head.

    ``widths=(16, 32)`` suits 8×8 digits (8→4→2); ``(16, 32, 64)`` suits 28×28 (28→14→7→3).
    Sized for CPU minutes: on 2 cores a digits step takes ~5 ms at batch 100, where per-op
    overhead, not arithmetic, is the cost.
    """

    def __init__(self, num_classes: int = 10, in_channels: int = 1, widths: tuple[int, ...] = (16, 32)):
        super().__init__()
        layers, c = [], in_channels
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, 1, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(), nn.MaxPool2d(2)]
            c = w
        self.features = nn.Sequential(*layers)
        self.linear = nn.Linear(c, num_classes)
        self.apply(_kaiming_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class MLP(nn.Module):
    """Flatten → Linear(C·H·W, hidden) [→ BatchNorm] → ReLU → Linear(hidden, K), Kaiming-initialised.

    The CPU profiles use the batch-normalised one (``mlp128bn``): without BN, the methods whose real
    step can concentrate the whole batch's weight on a few samples (L2RW's normalised weights, INSW,
    Gen-label) diverged at lr 0.1 on 784-pixel inputs (measured: L2RW's loss 14 → 8·10⁶ in the
    second epoch on Fashion-MNIST; L2RW fell to 30 % on clean digits), as they do not with the
    paper's batch-normalised ResNet.

    A model that can memorise: a fully connected layer of ``hidden`` units fits wrong labels once
    trained long enough (the regime of the paper and of MW-Net), which the global-pooled small CNNs
    above cannot within CPU minutes. Its step costs well under a millisecond on one core.
    """

    def __init__(self, num_classes: int, image_shape: tuple[int, int, int], hidden: int = 128,
                 batch_norm: bool = False):
        super().__init__()
        inputs = int(image_shape[0] * image_shape[1] * image_shape[2])
        self.hidden = nn.Linear(inputs, hidden, bias=not batch_norm)
        self.norm = nn.BatchNorm1d(hidden) if batch_norm else nn.Identity()
        self.linear = nn.Linear(hidden, num_classes)
        self.apply(_kaiming_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(F.relu(self.norm(self.hidden(x.flatten(1)))))


class ConvFC(nn.Module):
    """Two [conv3×3-BN-ReLU-maxpool2] stages (16, 32 channels), then a fully connected layer of
    ``hidden`` units on the flattened map (no global pooling) and the linear head: a CNN that keeps
    the capacity to memorise wrong labels."""

    def __init__(self, num_classes: int, image_shape: tuple[int, int, int], hidden: int = 128):
        super().__init__()
        c, h, w = image_shape
        self.features = nn.Sequential(
            nn.Conv2d(c, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2))
        self.hidden = nn.Linear(32 * (h // 4) * (w // 4), hidden)
        self.linear = nn.Linear(hidden, num_classes)
        self.apply(_kaiming_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(F.relu(self.hidden(self.features(x).flatten(1))))


class CNNBN(nn.Module):
    """A standard small CNN with BatchNorm on every layer: two [conv3×3 → BN → ReLU → max-pool 2×2]
    stages (32, 64 channels), then a 128-unit dense layer → BN → ReLU, and the linear head.

    Unlike ``conv_fc128`` (16/32 channels, no BN on the dense layer), it memorises wrong labels on
    a few thousand Fashion-MNIST images within CPU minutes, like the MLP-128-BN of the CPU profiles.
    """

    def __init__(self, num_classes: int, image_shape: tuple[int, int, int], widths: tuple[int, int] = (32, 64),
                 hidden: int = 128):
        super().__init__()
        c, h, w = image_shape
        layers, channels = [], c
        for width in widths:
            layers += [nn.Conv2d(channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.MaxPool2d(2)]
            channels = width
        self.features = nn.Sequential(*layers)
        shrink = 2 ** len(widths)
        self.hidden = nn.Linear(channels * (h // shrink) * (w // shrink), hidden, bias=False)
        self.norm = nn.BatchNorm1d(hidden)
        self.linear = nn.Linear(hidden, num_classes)
        self.apply(_kaiming_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(F.relu(self.norm(self.hidden(self.features(x).flatten(1)))))


def imagenet_resnet18_state() -> dict:
    """torchvision's ImageNet-1k ResNet-18 weights (IMAGENET1K_V1), from torch hub's cache
    ($TORCH_HOME/hub/checkpoints), downloaded there when missing unless GDW_BENCH_OFFLINE=1."""
    from torchvision.models import ResNet18_Weights

    weights = ResNet18_Weights.IMAGENET1K_V1
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    advice = f"put {cached.name} in {cached.parent} or run with --from-scratch"
    if not cached.exists() and os.environ.get("GDW_BENCH_OFFLINE") == "1":
        raise UserInputError(f"ImageNet-pretrained ResNet-18 weights are not cached and GDW_BENCH_OFFLINE=1; {advice}")
    try:
        return weights.get_state_dict(progress=False)
    except Exception as exc:  # offline: URLError / RuntimeError from the hub download
        raise UserInputError(f"ImageNet-pretrained ResNet-18 weights could not be downloaded "
                             f"({type(exc).__name__}); {advice}") from None


def resnet18(num_classes: int, pretrained: bool = True) -> nn.Module:
    """torchvision's ResNet-18, ImageNet-initialised when ``pretrained``, with a new ``num_classes`` head."""
    from torchvision.models import resnet18 as tv_resnet18

    model = tv_resnet18(weights=None)
    if pretrained:
        model.load_state_dict(imagenet_resnet18_state())
    model.fc = nn.Linear(model.fc.in_features, num_classes)
    return model


def check_pretrained(model_names) -> None:
    """Fetch the pretrained weights a grid needs before anything is written (one-line error if not)."""
    if "resnet18" in set(model_names):
        imagenet_resnet18_state()


Builder = Callable[[int, tuple, bool], nn.Module]  # (num_classes, image_shape (C, H, W), pretrained)


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: how to build it, a line for `list models`, where it came from."""

    name: str
    build: Builder
    description: str
    origin: str = "built-in"


MODELS: dict[str, ModelEntry] = {}
ENTRY_POINT_GROUP = "gdw_bench.models"
_PLUGIN_ERRORS: list[str] = []
_PLUGINS_LOADED = False


def register_model(name: str, build: Builder, description: str, origin: str = "built-in") -> ModelEntry:
    """Add a model under ``name``; a second model under a taken name is refused, naming both origins."""
    if name in MODELS:
        raise UserInputError(f"model '{name}' from {origin} is already registered by {MODELS[name].origin}")
    MODELS[name] = ModelEntry(name, build, description, origin)
    return MODELS[name]


for _name, _build, _description in [
    ("resnet32", lambda k, shape, pretrained: ResNetCifar(k, 5, shape[0]),
     "the authors' ResNet-32 (16/32/64 channels, option-A shortcuts), for 32×32 inputs"),
    ("small_cnn", lambda k, shape, pretrained: SmallCNN(k, shape[0], (16, 32)),
     "2 × [conv-BN-ReLU-pool] (16, 32), global average pool, linear head; for 8×8 digits"),
    ("small_cnn28", lambda k, shape, pretrained: SmallCNN(k, shape[0], (16, 32, 64)),
     "3 × [conv-BN-ReLU-pool] (16, 32, 64), global average pool, linear head; for 28×28"),
    ("cnn_bn", lambda k, shape, pretrained: CNNBN(k, shape),
     "2 × [conv-BN-ReLU-pool] (32, 64), dense 128 → BN → ReLU, linear head: BN on every layer"),
    ("conv_fc128", lambda k, shape, pretrained: ConvFC(k, shape, 128),
     "2 × [conv-BN-ReLU-pool] (16, 32), dense 128 (no BN), linear head"),
    ("mlp128", lambda k, shape, pretrained: MLP(k, shape, 128), "one hidden layer of 128 ReLU units"),
    ("mlp512", lambda k, shape, pretrained: MLP(k, shape, 512), "one hidden layer of 512 ReLU units"),
    ("mlp128bn", lambda k, shape, pretrained: MLP(k, shape, 128, batch_norm=True),
     "one hidden layer of 128 batch-normalised ReLU units (the CPU profiles' model)"),
    ("resnet18", lambda k, shape, pretrained: resnet18(k, pretrained),
     "torchvision's ResNet-18, ImageNet-pretrained unless --from-scratch (Clothing1M, Places-LT)"),
]:
    register_model(_name, _build, _description)


def _factory_builder(factory) -> Builder:
    def build(num_classes: int, image_shape: tuple, pretrained: bool) -> nn.Module:
        net = factory(num_classes=num_classes, image_shape=tuple(image_shape))
        if not isinstance(net, nn.Module):
            raise UserInputError(f"model factory {getattr(factory, '__qualname__', factory)!r} returned "
                                 f"{type(net).__name__}, not a torch.nn.Module")
        return net
    return build


def _summary(factory, default: str = "") -> str:
    """A user factory's line for `list models`: the first line of its docstring."""
    lines = (getattr(factory, "__doc__", None) or "").strip().splitlines()
    return lines[0] if lines else default


def load_model_plugins() -> None:
    """Register the models of every installed ``gdw_bench.models`` entry point (once). A plugin that
    fails is named by ``model_plugin_errors()`` (and `list models`) instead of breaking the suite."""
    global _PLUGINS_LOADED
    if _PLUGINS_LOADED:
        return
    _PLUGINS_LOADED = True

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        source = f"{entry.dist.name if entry.dist else entry.value} (entry point '{entry.name}')"
        try:
            factory = entry.load()
            if not callable(factory):
                raise TypeError(f"{entry.value} is a {type(factory).__name__}, not a class or function")
            register_model(entry.name, _factory_builder(factory), _summary(factory, entry.value), source)
        except FOREIGN_FAILURES as exc:  # any failure of foreign code is reported, not raised
            _PLUGIN_ERRORS.append(f"model plugin {source}: {type(exc).__name__}: {exc}")


def model_plugin_errors() -> list[str]:
    load_model_plugins()
    return list(_PLUGIN_ERRORS)


def _import_reference(reference: str):
    """'pkg.mod:Name' or 'path/file.py:Name' → the object (one-line error naming what failed)."""
    module_part, _, attribute = reference.rpartition(":")
    if not module_part or not attribute.isidentifier():
        raise UserInputError(f"model '{reference}': valid: a name from `gdw-bench list models`, "
                             f"'package.module:Factory' or 'path/to/file.py:Factory'")
    try:
        if module_part.endswith(".py"):
            path = Path(module_part).expanduser().resolve()
            if not path.is_file():
                raise UserInputError(f"model '{reference}': no such file {path}")
            name = f"gdw_bench_user_model_{hashlib.sha256(str(path).encode()).hexdigest()[:12]}"
            module = sys.modules.get(name)
            if module is None:
                spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(spec)
                sys.modules[name] = module
                try:
                    spec.loader.exec_module(module)
                except BaseException:
                    sys.modules.pop(name, None)
                    raise
        else:
            module = importlib.import_module(module_part)
    except UserInputError:
        raise
    except FOREIGN_FAILURES as exc:  # the user's module (a sys.exit in it too): say what failed in one line
        raise UserInputError(f"model '{reference}': importing {module_part} failed "
                             f"({failure_text(exc)})") from None
    factory = getattr(module, attribute, None)
    if factory is None or not callable(factory):
        raise UserInputError(f"model '{reference}': {module_part} has no class or function '{attribute}'")
    return factory


def resolve_model(name: str) -> ModelEntry:
    """The registry entry for a built-in or plugin name, or one made for a 'module:Factory' reference."""
    load_model_plugins()
    if name in MODELS:
        return MODELS[name]
    if not isinstance(name, str) or ":" not in name:
        raise unknown_choice("model", name, [*MODELS, "package.module:Factory", "file.py:Factory"])
    factory = _import_reference(name)
    return ModelEntry(name, _factory_builder(factory), _summary(factory), name)


def build_model(name: str, num_classes: int, in_channels: int = 3, pretrained: bool = True,
                image_shape: tuple[int, int, int] | None = None) -> nn.Module:
    """``image_shape`` (C, H, W) sizes the fully connected models; default: 32×32 with ``in_channels``."""
    shape = tuple(image_shape) if image_shape is not None else (in_channels, 32, 32)
    return resolve_model(name).build(num_classes, shape, pretrained)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# Memory layout of convolutional models. channels-last (NHWC) is the layout oneDNN (CPU) and cuDNN's
# fastest convolution kernels work in; a contiguous (NCHW) model pays reorders around every
# convolution. Measured (batch 100, one step, paired rounds): on this 2-core CPU, ResNet-32 on 3×32×32
# 15 % faster for BaseModel and 13.5 % for GDW, the small CNN on 1×28×28 35 % and 28 %, ConvFC-128 34 %
# and 19 %, the small CNN on 8×8 18 % and 26 %; on an H100 with CUDA graphs, ResNet-32 BaseModel 6.43 →
# 4.59 ms, MWNet 24.9 → 16.9 ms, GDW 25.1 → 17.0 ms. Only float rounding changes; a record's
# ``execution`` names the layout, and ``speed --memory-format`` compares them.
MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}
CHANNELS_LAST_DEVICES = ("cpu", "cuda")


def has_convolutions(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def preferred_memory_format(model: nn.Module, device: torch.device) -> str:
    """'channels_last' for a convolutional model on a device where it is measured faster, else 'contiguous'."""
    return "channels_last" if has_convolutions(model) and device.type in CHANNELS_LAST_DEVICES else "contiguous"


def place_model(model: nn.Module, device: torch.device, memory_format: str | None = None) -> nn.Module:
    """Move ``model`` to ``device`` in ``memory_format`` (None: ``preferred_memory_format``). The
    input batches need no conversion: a convolution with channels-last weights returns channels-last
    activations whatever its input's layout."""
    memory_format = memory_format or preferred_memory_format(model, device)
    if memory_format not in MEMORY_FORMATS:
        raise unknown_choice("memory format", memory_format, MEMORY_FORMATS)
    return model.to(device=device, memory_format=MEMORY_FORMATS[memory_format])

