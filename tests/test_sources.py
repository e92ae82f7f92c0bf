"""Loaders on small trees generated in the real on-disk formats; augmentation."""
import gzip
import pickle
import struct

import numpy as np
import pytest
import torch
from conftest import write_clothing1m_tree, write_images

from gdw_bench.datasets import Corruption, prepare
from gdw_bench.datasets.batches import augment_batch
from gdw_bench.datasets.protocol import _SOURCE_CACHE
from gdw_bench.datasets.sources import Augment, load_cifar_source, load_fashion_mnist_source
from gdw_bench.errors import UserInputError


def write_idx(path, array, gz=True):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    (gzip.open if gz else open)(path, "wb").write(data)


def test_fashion_mnist_idx_tree(tmp_path):
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    write_idx(folder / "train-images-idx3-ubyte.gz", rng.integers(0, 255, (300, 28, 28)))
    write_idx(folder / "train-labels-idx1-ubyte.gz", np.arange(300) % 10)
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 255, (50, 28, 28)), gz=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.arange(50) % 10, gz=False)
    source = load_fashion_mnist_source(tmp_path)
    assert source.train_images.shape == (300, 1, 28, 28) and source.test_labels.tolist()[:3] == [0, 1, 2]


def test_missing_cifar_is_a_one_line_error_and_writes_nothing(tmp_path, monkeypatch):
    target = tmp_path / "absent"
    with pytest.raises(UserInputError, match="cifar-10-batches-py"):
        load_cifar_source("cifar10", target)
    assert not target.exists()


def test_cifar_from_the_released_pickle_layout(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        with open(folder / name, "wb") as f:
            pickle.dump({"data": rng.integers(0, 255, (20, 3072), dtype=np.uint8),
                         "labels": (np.arange(20) % 10).tolist()}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [str(i) for i in range(10)]}, f)
    import torchvision.datasets.cifar as tvc
    monkeypatch.setattr(tvc.CIFAR10, "_check_integrity", lambda self: True)  # not the released bytes
    monkeypatch.setattr(tvc, "check_integrity", lambda *a, **k: True)
    source = load_cifar_source("cifar10", tmp_path)
    assert source.train_images.shape == (100, 3, 32, 32) and source.augment == Augment(4, True)


def test_clothing1m_layout(tmp_path):
    write_clothing1m_tree(tmp_path / "clothing1m")
    _SOURCE_CACHE.clear()
    data = prepare("clothing1m", Corruption(), 1, data_dir=tmp_path, workers=0)
    data.train.image_size = 32
    assert (len(data.train), len(data.meta), len(data.test)) == (30, 6, 4)
    assert data.actual_noise_fraction == 1.0  # every clean label differs from the noisy one here
    batch = next(data.train.epoch(8, seed=1, epoch=0))
    assert batch.x.shape == (8, 3, 224, 224) and batch.index.max() < 30
    union = data.trusted_union()
    assert len(union) == 36 and union.trusted.sum() == 6


def test_places_lt_layout(tmp_path):
    root = tmp_path / "places_lt"
    files = [f"data_256/a/airfield/{i:08d}.jpg" for i in range(12)]
    write_images(root, files)
    for name, part in (("train", files[:6]), ("val", files[6:9]), ("test", files[9:])):
        (root / f"Places_LT_{name}.txt").write_text("".join(f"/{p} {i % 365}\n" for i, p in enumerate(part)))
    _SOURCE_CACHE.clear()
    data = prepare("places_lt", Corruption(), 1, data_dir=tmp_path, workers=0)
    assert data.num_classes == 365 and len(data.meta) == 3
    assert next(data.test.ordered(3)).x.shape == (3, 3, 224, 224)
    with pytest.raises(UserInputError):
        prepare("places_lt", Corruption("uniform", 0.4), 1, data_dir=tmp_path)


def test_augmentation_is_a_crop_of_the_reflect_padded_image_and_a_flip():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    assert torch.equal(augment_batch(x, Augment(0, False), torch.Generator().manual_seed(0)), x)
    out = augment_batch(x, Augment(2, True), torch.Generator().manual_seed(0))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
    for i in range(2):
        crops = [padded[i, :, a:a + 6, b:b + 6] for a in range(5) for b in range(5)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(2)) for c in crops)


def test_an_epochs_augmentation_drawn_up_front_equals_drawing_it_batch_by_batch():
    """TensorBatches draws an epoch's crops and flips in one go (one copy to a GPU); the batches must
    be those of drawing per batch from the same generator, as before (same numbers, resumes too)."""
    from gdw_bench.datasets import TensorBatches
    from gdw_bench.datasets.batches import epoch_generator

    images = torch.rand(23, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    split = TensorBatches(images, torch.arange(23) % 4, 1.0, (0.0,) * 3, (1.0,) * 3, Augment(2, True), "cpu")
    order = torch.randperm(23, generator=epoch_generator(7, 4, 0))
    gen = epoch_generator(7, 4, 1)
    batches = list(split.epoch(5, seed=7, epoch=4))
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    for start, batch in zip(range(0, 23, 5), batches):
        idx = order[start:start + 5]
        assert torch.equal(batch.index, idx)
        assert torch.equal(batch.x, augment_batch(images[idx], Augment(2, True), gen))


def test_file_backed_union_keeps_the_trusted_flag_for_glc(tmp_path):
    """GLC's corrected phase needs to know which images are the clean meta set, on file-backed data too."""
    write_clothing1m_tree(tmp_path / "clothing1m")
    _SOURCE_CACHE.clear()
    data = prepare("clothing1m", Corruption(), 1, data_dir=tmp_path, workers=0)
    union = data.trusted_union()
    union.image_size = 32
    seen = torch.zeros(36, dtype=torch.bool)
    for batch in union.epoch(12, seed=1, epoch=0):
        assert batch.trusted is not None
        assert torch.equal(batch.trusted, batch.index >= 30)  # meta images follow the 30 training images
        seen[batch.index] = True
    assert seen.all()
