"""Batches on the training device.

``TensorBatches`` keeps a whole split on the device and augments on the device in batches
(reflect-pad, random crop, horizontal flip as tensor ops: no per-sample PIL work).
``FileBatches`` streams image files through DataLoader workers, for data larger than memory.

Randomness is derived per epoch from (seed, epoch), so resuming at an epoch boundary replays the
same shuffles and crops without saving generator states.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import torch

from gdw_bench.seeds import stream_seed

from .sources import IMAGENET_MEAN, IMAGENET_STD, Augment


@dataclass
class Batch:
    """One batch. ``y`` is the label training may use (noisy); ``true_y`` is only for diagnostics
    and for GLC's trusted samples; ``index`` is the sample's position in its split (per-instance
    state is keyed by it); ``trusted`` marks clean meta-set samples mixed into a training batch."""

    x: torch.Tensor
    y: torch.Tensor
    index: torch.Tensor
    true_y: torch.Tensor | None = None
    trusted: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.y)


def epoch_generator(seed: int, epoch: int, stream: int) -> torch.Generator:
    """A CPU generator for one (seed, epoch, stream): 0 = order, 1 = augmentation, 2 = meta order."""

    gen = torch.Generator()
    gen.manual_seed(stream_seed(seed, epoch, stream))
    return gen


def cycle_batches(split, batch_size: int, seed: int, epoch: int, augment: bool = True) -> Iterator[Batch]:
    """Endless batches of ``split`` (the meta loader that restarts when exhausted), reshuffled each
    pass; the passes of epoch e use their own seeds, so a resumed epoch replays them."""
    passes = 0
    while True:
        yield from split.epoch(batch_size, seed, epoch * 100_003 + passes + 7_919, augment)
        passes += 1


def draw_augmentation(sizes, augment: Augment, gen: torch.Generator, device) -> torch.Tensor:
    """The random crop offsets and flips of consecutive batches of ``sizes`` samples, as rows
    (dy, dx, flip) on ``device``. Drawn on the CPU batch by batch in the order ``augment_batch`` draws
    them (so the numbers are those of drawing per batch), then moved in one copy: a copy from the CPU
    to a GPU waits for the GPU's queue, and one per batch kept the GPU from running ahead."""
    pad = augment.pad
    rows = []
    for n in sizes:
        zeros = torch.zeros(n, dtype=torch.long)
        dy = torch.randint(0, 2 * pad + 1, (n,), generator=gen) if pad else zeros
        dx = torch.randint(0, 2 * pad + 1, (n,), generator=gen) if pad else zeros
        flip = (torch.rand(n, generator=gen) < 0.5).long() if augment.flip else zeros
        rows.append(torch.stack([dy, dx, flip], 1))
    return torch.cat(rows).to(device)


def augment_batch(images: torch.Tensor, augment: Augment, gen: torch.Generator | None = None,
                  draws: torch.Tensor | None = None) -> torch.Tensor:
    """Reflect-pad by ``augment.pad``, take a random crop of the original size per sample, and flip
    each sample horizontally with probability 1/2 when ``augment.flip``. The randomness: ``draws``
    (this batch's rows of ``draw_augmentation``), or drawn from ``gen`` now."""
    n, _, height, width = images.shape
    if draws is None:
        draws = draw_augmentation([n], augment, gen, images.device)
    if augment.pad:
        pad = augment.pad
        padded = torch.nn.functional.pad(images, (pad, pad, pad, pad), mode="reflect")
        dy, dx = draws[:, 0], draws[:, 1]
        rows = (torch.arange(height, device=images.device)[None, :] + dy[:, None])[:, None, :, None]
        cols = (torch.arange(width, device=images.device)[None, :] + dx[:, None])[:, None, None, :]
        samples = torch.arange(n, device=images.device)[:, None, None, None]
        channels = torch.arange(images.shape[1], device=images.device)[None, :, None, None]
        images = padded[samples, channels, rows, cols]
    if augment.flip:
        flip = draws[:, 2].bool()[:, None, None, None]
        images = torch.where(flip, images.flip(3), images)
    return images


class TensorBatches:
    """A split resident on ``device``: normalised images (float), labels, the augmentation."""

    def __init__(self, images, labels, scale: float, mean, std, augment: Augment, device,
                 true_labels=None, trusted=None, dtype=torch.float32):
        self.device = torch.device(device)
        self.labels = torch.as_tensor(labels, dtype=torch.long).to(self.device)
        self.true_labels = None if true_labels is None else torch.as_tensor(true_labels, dtype=torch.long).to(self.device)
        self.trusted = None if trusted is None else torch.as_tensor(trusted, dtype=torch.bool).to(self.device)
        self.scale = float(scale)
        shape = (1, -1, 1, 1)
        self.mean = torch.tensor(mean, dtype=dtype, device=self.device).view(shape)
        self.std = torch.tensor(std, dtype=dtype, device=self.device).view(shape)
        self.augment = augment
        self.dtype = dtype
        # normalised once, up front: per batch it cost 40 % of a digits or Fashion-MNIST MLP cell
        # (elementwise, so the numbers are the same bit for bit)
        raw = torch.as_tensor(images).to(self.device)
        self.images = (raw.to(dtype) / self.scale - self.mean) / self.std

    def __len__(self) -> int:
        return len(self.labels)

    def _normalised(self, idx: torch.Tensor) -> torch.Tensor:
        return self.images[idx]

    def _batch(self, idx: torch.Tensor, draws: torch.Tensor | None) -> Batch:
        x = self._normalised(idx)
        if draws is not None:
            x = augment_batch(x, self.augment, draws=draws)
        return Batch(x, self.labels[idx], idx,
                     None if self.true_labels is None else self.true_labels[idx],
                     None if self.trusted is None else self.trusted[idx])

    def epoch(self, batch_size: int, seed: int, epoch: int, augment: bool = True) -> Iterator[Batch]:
        """Shuffled batches covering the split once; the last batch may be smaller (the authors'
        DataLoader keeps it)."""
        order = torch.randperm(len(self), generator=epoch_generator(seed, epoch, 0)).to(self.device)
        starts = range(0, len(self), batch_size)
        draws = (draw_augmentation([min(batch_size, len(self) - s) for s in starts], self.augment,
                                   epoch_generator(seed, epoch, 1), self.device) if augment else None)
        for start in starts:
            yield self._batch(order[start:start + batch_size], None if draws is None else draws[start:start + batch_size])

    def cycle(self, batch_size: int, seed: int, epoch: int, augment: bool = True) -> Iterator[Batch]:
        return cycle_batches(self, batch_size, seed, epoch, augment)

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        """Un-augmented batches in order (evaluation)."""
        for start in range(0, len(self), batch_size):
            yield self._batch(torch.arange(start, min(start + batch_size, len(self)), device=self.device), None)

    def subset(self, positions) -> "TensorBatches":
        pos = torch.as_tensor(positions, dtype=torch.long, device=self.device)
        out = TensorBatches.__new__(TensorBatches)
        out.__dict__.update(self.__dict__)
        out.images, out.labels = self.images[pos], self.labels[pos]
        out.true_labels = None if self.true_labels is None else self.true_labels[pos]
        out.trusted = None if self.trusted is None else self.trusted[pos]
        return out


class _ImageFiles(torch.utils.data.Dataset):
    def __init__(self, root, files, labels, true_labels, transform):
        self.root, self.files, self.labels, self.true, self.transform = root, files, labels, true_labels, transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        from PIL import Image

        with Image.open(self.root / self.files[i]) as img:
            x = self.transform(img.convert("RGB"))
        return x, int(self.labels[i]), int(self.true[i]), i


class FileBatches:
    """Image files streamed by DataLoader workers; same interface as ``TensorBatches``."""

    def __init__(self, root, files, labels, true_labels, device, image_size: int = 224,
                 workers: int = 4, mean=None, std=None):
        from torchvision import transforms as T


        mean, std = mean or IMAGENET_MEAN, std or IMAGENET_STD
        resize = int(round(image_size * 256 / 224))
        norm = [T.ToTensor(), T.Normalize(mean, std)]
        self.train_tf = T.Compose([T.Resize(resize), T.RandomCrop(image_size), T.RandomHorizontalFlip(), *norm])
        self.test_tf = T.Compose([T.Resize(resize), T.CenterCrop(image_size), *norm])
        self.root, self.files, self.device, self.workers = root, files, torch.device(device), workers
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.true_labels = torch.as_tensor(true_labels if true_labels is not None else labels, dtype=torch.long)
        self.trusted = None  # set on the train+meta union (GLC's phase 2): marks the clean meta images

    def __len__(self) -> int:
        return len(self.files)

    def _loader(self, batch_size, transform, order):
        dataset = _ImageFiles(self.root, self.files, self.labels, self.true_labels, transform)
        sampler = order.tolist()
        return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler,
                                           num_workers=self.workers, pin_memory=self.device.type == "cuda")

    def _to_batch(self, item) -> Batch:
        trusted = None if self.trusted is None else self.trusted[item[3]].to(self.device, non_blocking=True)
        x, y, true_y, idx = (t.to(self.device, non_blocking=True) for t in item)
        return Batch(x, y, idx, true_y, trusted)

    def epoch(self, batch_size: int, seed: int, epoch: int, augment: bool = True) -> Iterator[Batch]:
        torch.manual_seed(stream_seed(seed, epoch, 1))  # worker transforms draw from it
        order = torch.randperm(len(self), generator=epoch_generator(seed, epoch, 0))
        for item in self._loader(batch_size, self.train_tf if augment else self.test_tf, order):
            yield self._to_batch(item)

    def cycle(self, batch_size: int, seed: int, epoch: int, augment: bool = True) -> Iterator[Batch]:
        return cycle_batches(self, batch_size, seed, epoch, augment)

    def ordered(self, batch_size: int) -> Iterator[Batch]:
        for item in self._loader(batch_size, self.test_tf, torch.arange(len(self))):
            yield self._to_batch(item)
