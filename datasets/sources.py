"""Raw datasets, before any protocol step: images and clean labels of a train and a test split.

Two kinds of source:
- ``ArraySource``: the whole dataset fits in memory as one tensor (digits, Fashion-MNIST, CIFAR);
  it is moved to the training device once and augmented there in batches.
- ``FileSource``: image files listed in the dataset's released key lists (Clothing1M, Places-LT);
  streamed from disk by DataLoader workers, for data larger than memory.

Every loader raises ``UserInputError`` with one line naming the files to put where when the data
is absent, so the CLI never shows a traceback for a missing download.
"""
from __future__ import annotations

import gzip
import os
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gdw_bench import statefile
from gdw_bench.errors import UserInputError, first_line


@dataclass(frozen=True)
class Augment:
    """Batched training augmentation: reflect-pad by ``pad`` px, random crop back, optional h-flip."""

    pad: int = 0
    flip: bool = False


@dataclass(kw_only=True)
class ArraySource:
    name: str
    num_classes: int
    train_images: np.ndarray  # (N, C, H, W), uint8 or float32 in raw units
    train_labels: np.ndarray  # (N,) clean labels, int64
    test_images: np.ndarray
    test_labels: np.ndarray
    scale: float  # raw value of "white": images / scale lie in [0, 1]
    mean: tuple[float, ...]  # per-channel mean of images / scale
    std: tuple[float, ...]
    augment: Augment = field(default_factory=Augment)


@dataclass(kw_only=True)
class FileSource:
    """Image files with labels. ``train_true`` is −1 where the clean label is unknown (Clothing1M)."""

    name: str
    num_classes: int
    root: Path
    train_files: list[str]
    train_labels: np.ndarray  # the labels training uses (noisy for Clothing1M)
    train_true: np.ndarray
    meta_files: list[str]
    meta_labels: np.ndarray
    test_files: list[str]
    test_labels: np.ndarray
    image_size: int = 224


# ImageNet statistics, for the ImageNet-pretrained ResNet-18 of the real-world tables.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The authors' CIFAR statistics (both CIFAR-10 and CIFAR-100), docs/protocol.md §1.1.
CIFAR_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
CIFAR_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)


def default_data_dir() -> Path:
    """``$GDW_BENCH_DATA``, else ``~/.cache/gdw-bench``."""
    env = os.environ.get("GDW_BENCH_DATA")
    return Path(env) if env else Path.home() / ".cache" / "gdw-bench"


def _channel_stats(images: np.ndarray, scale: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    x = images.astype(np.float64) / scale
    return tuple(x.mean(axis=(0, 2, 3)).tolist()), tuple(x.std(axis=(0, 2, 3)).tolist())


def load_digits_source(data_dir: Path | None = None, test_fraction: float = 0.3) -> ArraySource:
    """scikit-learn's bundled 8×8 digits (1,797 images, values 0..16), no download.

    The test split is fixed (stratified, its own constant seed), independent of the run's seed,
    like CIFAR's official test set.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = bunch.images.astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    labels = bunch.target.astype(np.int64)
    tr_x, te_x, tr_y, te_y = train_test_split(images, labels, test_size=test_fraction,
                                              stratify=labels, random_state=0)
    mean, std = _channel_stats(tr_x, 16.0)
    return ArraySource(name="digits", num_classes=10, train_images=tr_x, train_labels=tr_y, test_images=te_x,
                       test_labels=te_y, scale=16.0, mean=mean, std=std, augment=Augment(pad=1, flip=False))


FMNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
DEBIAN_FMNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format, optionally gzipped) into a numpy array; a damaged or
    truncated file is a one-line ``UserInputError`` naming it."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (OSError, EOFError) as exc:  # unreadable, or a truncated / invalid gzip stream
        raise UserInputError(f"{path} cannot be read ({type(exc).__name__}: {exc}); replace it with the "
                             f"released file") from None
    if len(data) < 4:
        raise UserInputError(f"{path} is truncated ({len(data)} bytes); replace it with the released file")
    zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype_code != 0x08 or len(data) < 4 + 4 * ndim:
        raise UserInputError(f"{path} is not an unsigned-byte IDX file; replace it with the released file")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    expected = 4 + 4 * ndim + int(np.prod(shape, dtype=np.int64))
    if len(data) != expected:
        raise UserInputError(f"{path} has {len(data)} bytes but its header describes {expected} (shape "
                             f"{'×'.join(map(str, shape))}): truncated or damaged; replace it with the released file")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.exists():
            return candidate
    return None


def fashion_mnist_dir(data_dir: Path | None) -> Path:
    """``<data-dir>/fashion-mnist`` if it holds the files, else Debian's install folder."""
    candidates = [Path(data_dir) / "fashion-mnist"] if data_dir else []
    candidates += [default_data_dir() / "fashion-mnist", DEBIAN_FMNIST_DIR]
    for folder in candidates:
        if all(_find_idx(folder, stem) for stem in FMNIST_FILES.values()):
            return folder
    raise UserInputError(
        f"Fashion-MNIST not found: put {', '.join(FMNIST_FILES.values())} (optionally .gz) in "
        f"{candidates[0]} or run 'apt-get install dataset-fashion-mnist'")


def load_fashion_mnist_source(data_dir: Path | None = None) -> ArraySource:
    folder = fashion_mnist_dir(data_dir)
    arrays = {key: read_idx(_find_idx(folder, stem)) for key, stem in FMNIST_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise UserInputError(f"Fashion-MNIST in {folder}: {split} images {images.shape} and labels {labels.shape} "
                                 f"do not match; replace them with the released files")
    train_x = arrays["train_images"][:, None]
    mean, std = _channel_stats(train_x[:10000], 255.0)
    return ArraySource(name="fashion-mnist", num_classes=10, train_images=train_x,
                       train_labels=arrays["train_labels"].astype(np.int64), test_images=arrays["test_images"][:, None],
                       test_labels=arrays["test_labels"].astype(np.int64), scale=255.0, mean=mean, std=std,
                       augment=Augment(pad=2, flip=True))


CIFAR_FOLDERS = {"cifar10": ("cifar-10-batches-py", "cifar-10-python.tar.gz", 10),
                 "cifar100": ("cifar-100-python", "cifar-100-python.tar.gz", 100)}


def load_cifar_source(name: str, data_dir: Path | None = None, download: bool = False) -> ArraySource:
    """CIFAR-10/100 through torchvision from ``<data-dir>/<extracted folder>``; ``download`` fetches it
    there when it is missing (`run --download`); otherwise a missing folder is a one-line error and
    nothing is written."""
    from torchvision.datasets import CIFAR10, CIFAR100

    folder_name, archive, num_classes = CIFAR_FOLDERS[name]
    root = Path(data_dir) if data_dir else default_data_dir()
    cls = CIFAR10 if name == "cifar10" else CIFAR100
    hint = (f"{name} not found under {root}: put the extracted '{folder_name}' folder there "
            f"(from https://www.cs.toronto.edu/~kriz/{archive}), pass --data-dir, or add --download")
    if not (root / folder_name).is_dir() and not download:
        raise UserInputError(hint)
    created = [d for d in (root, *root.parents) if not d.exists()]  # what a failed download must not leave
    try:
        train = cls(str(root), train=True, download=download)
        test = cls(str(root), train=False, download=False)
    except Exception as exc:  # torchvision: RuntimeError (missing or failing its checksum), URLError, OSError
        if download:
            (root / archive).unlink(missing_ok=True)  # a partial archive
            for folder in created:  # innermost first; only folders this attempt created and left empty
                try:
                    folder.rmdir()
                except OSError:
                    break
        raise UserInputError(f"{name} under {root} is missing or damaged ({type(exc).__name__}: "
                             f"{str(exc).strip() or 'no detail'}): put the extracted '{folder_name}' folder there (from "
                             f"https://www.cs.toronto.edu/~kriz/{archive}), pass --data-dir, or add --download") from None
    to_nchw = lambda a: np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2))  # noqa: E731
    return ArraySource(name=name, num_classes=num_classes, train_images=to_nchw(train.data),
                       train_labels=np.asarray(train.targets, dtype=np.int64), test_images=to_nchw(test.data),
                       test_labels=np.asarray(test.targets, dtype=np.int64), scale=255.0, mean=CIFAR_MEAN,
                       std=CIFAR_STD, augment=Augment(pad=4, flip=True))


def _list_lines(path: Path) -> list[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line; one line naming the file if it cannot be read."""
    try:
        text = statefile.read_text(path, statefile.LIMITS["data list"])  # regular files only, size capped
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such file; put the released file there") from None
    except statefile.Unreadable as exc:
        raise UserInputError(f"{path} cannot be read ({exc}); replace it with the released file") from None
    return [(n, line.split()) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _read_key_list(path: Path) -> list[str]:
    return [fields[0] for _, fields in _list_lines(path)]


def _read_path_labels(path: Path, num_classes: int) -> list[tuple[str, int]]:
    """``<image path> <label>`` lines (Clothing1M's key-label files, Places-LT's lists); a malformed line
    is one error naming the file, the line number and what it holds."""
    pairs = []
    for number, fields in _list_lines(path):
        label = fields[1] if len(fields) == 2 else None
        if label is None or not (label.isascii() and label.isdigit()) or int(label) >= num_classes:
            raise UserInputError(f"{path}, line {number}: {' '.join(fields)[:80]!r}; valid: '<image path> <label>' "
                                 f"with a label in 0…{num_classes - 1} (the released file)")
        pairs.append((fields[0], int(label)))
    return pairs


def _read_key_labels(path: Path, num_classes: int = 14) -> dict[str, int]:
    return dict(_read_path_labels(path, num_classes))


CLOTHING1M_FILES = ("noisy_label_kv.txt", "clean_label_kv.txt", "noisy_train_key_list.txt",
                    "clean_val_key_list.txt", "clean_test_key_list.txt")


def _require_files(name: str, root: Path, files: tuple[str, ...]) -> None:
    missing = [f for f in files if not (root / f).exists()]
    if missing:
        raise UserInputError(f"{name} not found: put {', '.join(missing)} (and the images they list) in {root}")


def load_clothing1m_source(data_dir: Path | None = None, meta_size: int = 7000) -> FileSource:
    """Clothing1M in its released layout (``<data-dir>/clothing1m``).

    Training: the noisy training key list with its noisy labels (clean labels where the clean
    annotation exists, else −1). Meta set: the first ``meta_size`` keys of the clean validation
    list (the paper's "7k validation set"; half of the 14k list, in the list's own order). Test:
    the clean test list.
    """
    root = (Path(data_dir) if data_dir else default_data_dir()) / "clothing1m"
    _require_files("Clothing1M", root, CLOTHING1M_FILES)
    noisy = _read_key_labels(root / "noisy_label_kv.txt")
    clean = _read_key_labels(root / "clean_label_kv.txt")
    train_keys = _read_key_list(root / "noisy_train_key_list.txt")
    meta_keys = _read_key_list(root / "clean_val_key_list.txt")[:meta_size]
    test_keys = _read_key_list(root / "clean_test_key_list.txt")
    for listed, name in ((meta_keys, "clean_val_key_list.txt"), (test_keys, "clean_test_key_list.txt")):
        unlabelled = [k for k in listed if k not in clean]
        if unlabelled:
            raise UserInputError(f"{root / name}: {len(unlabelled)} keys (e.g. {unlabelled[0]}) have no label in "
                                 f"clean_label_kv.txt; valid: the released lists")
    unlabelled = [k for k in train_keys if k not in noisy]
    if unlabelled:
        raise UserInputError(f"{root / 'noisy_train_key_list.txt'}: {len(unlabelled)} keys (e.g. {unlabelled[0]}) "
                             f"have no label in noisy_label_kv.txt; valid: the released lists")
    return FileSource(
        name="clothing1m", num_classes=14, root=root, train_files=train_keys,
        train_labels=np.array([noisy[k] for k in train_keys], dtype=np.int64),
        train_true=np.array([clean.get(k, -1) for k in train_keys], dtype=np.int64),
        meta_files=meta_keys, meta_labels=np.array([clean[k] for k in meta_keys], dtype=np.int64),
        test_files=test_keys, test_labels=np.array([clean[k] for k in test_keys], dtype=np.int64))


PLACES_LT_FILES = ("Places_LT_train.txt", "Places_LT_val.txt", "Places_LT_test.txt")


def load_places_lt_source(data_dir: Path | None = None) -> FileSource:
    """Places-LT: the Places_LT_{train,val,test}.txt lists (``path label``) over the Places365
    images, all under ``<data-dir>/places_lt``. The balanced validation list (20 per class) is the
    meta set; training labels are clean (the setting is the long tail itself)."""
    root = (Path(data_dir) if data_dir else default_data_dir()) / "places_lt"
    _require_files("Places-LT", root, PLACES_LT_FILES)
    lists = {}
    for split, file in zip(("train", "val", "test"), PLACES_LT_FILES):
        pairs = _read_path_labels(root / file, 365)
        lists[split] = ([p.lstrip("/") for p, _ in pairs], np.array([label for _, label in pairs], dtype=np.int64))
    train_files, train_labels = lists["train"]
    return FileSource(name="places_lt", num_classes=365, root=root, train_files=train_files, train_labels=train_labels,
                      train_true=train_labels.copy(), meta_files=lists["val"][0], meta_labels=lists["val"][1],
                      test_files=lists["test"][0], test_labels=lists["test"][1])


# ----- the user's own data ------------------------------------------------------------------------
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def _as_nchw(images: np.ndarray, where: str) -> np.ndarray:
    """(N, H, W) → (N, 1, H, W); (N, H, W, C) with C ∈ {1, 3} → (N, C, H, W); (N, C, H, W) kept."""
    if images.ndim == 3:
        return images[:, None]
    if images.ndim == 4 and images.shape[1] in (1, 3):
        return images
    if images.ndim == 4 and images.shape[-1] in (1, 3):
        return np.ascontiguousarray(images.transpose(0, 3, 1, 2))
    raise UserInputError(f"{where}: images of shape {images.shape}; valid: (N, H, W), (N, H, W, C) or (N, C, H, W) "
                         f"with C = 1 or 3")


MAX_CLASSES = 100_000  # labels beyond this are refused before anything is sized by them
MAX_ARRAY_BYTES = 16 * 2**30  # an .npz array declaring more than this is refused before it is read


def _integer_labels(labels, where: str, split: str) -> np.ndarray:
    """Labels as int64, refusing text, fractions and non-finite values (never silently truncated)."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "uif" or labels.dtype.kind == "b":
        raise UserInputError(f"{where}: {split} labels are of type {labels.dtype}; valid: integers 0, 1, …, K−1")
    labels = labels.ravel()
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            bad = labels[~(np.isfinite(labels) & (labels == np.round(np.nan_to_num(labels))))][0]
            raise UserInputError(f"{where}: {split} label {float(bad):g} is not an integer; valid: integers 0, 1, …, "
                                 f"K−1")
    return labels.astype(np.int64)


def _array_source(name: str, train_x, train_y, test_x, test_y, where: str) -> ArraySource:
    train_x, test_x = _as_nchw(np.asarray(train_x), where), _as_nchw(np.asarray(test_x), where)
    for split, images in (("training", train_x), ("test", test_x)):
        if images.dtype.kind not in "uif" or images.dtype.kind == "b":
            raise UserInputError(f"{where}: {split} images are of type {images.dtype}; valid: uint8 or float pixels")
        if images.dtype.kind == "f" and not np.all(np.isfinite(images)):
            raise UserInputError(f"{where}: {split} images hold NaN or infinite pixels; valid: finite values")
    train_y, test_y = _integer_labels(train_y, where, "training"), _integer_labels(test_y, where, "test")
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise UserInputError(f"{where}: {len(train_x)} training images but {len(train_y)} labels, or {len(test_x)} "
                             f"test images but {len(test_y)} labels")
    if len(train_x) == 0 or len(test_x) == 0:
        raise UserInputError(f"{where}: {len(train_x)} training and {len(test_x)} test images; valid: both splits "
                             f"non-empty (a score needs a test set)")
    if train_x.shape[1:] != test_x.shape[1:]:
        raise UserInputError(f"{where}: training images {train_x.shape[1:]} and test images {test_x.shape[1:]} differ")
    if min(train_y.min(), test_y.min()) < 0:
        raise UserInputError(f"{where}: label {min(train_y.min(), test_y.min())} is negative; labels must be 0, 1, "
                             f"…, K−1")
    largest = int(max(train_y.max(), test_y.max()))
    if largest >= min(len(train_y), MAX_CLASSES):  # every class needs a training image, so K ≤ N
        raise UserInputError(f"{where}: label {largest} implies {largest + 1} classes but there are "
                             f"{len(train_y)} training images; labels must be 0, 1, …, K−1 with every class present")
    num_classes = largest + 1
    present = np.bincount(train_y, minlength=num_classes) > 0
    if not present.all():
        missing = np.flatnonzero(~present).tolist()
        raise UserInputError(f"{where}: classes {missing[:5]} have no training image; labels must be 0, 1, …, K−1")
    if num_classes < 2:
        raise UserInputError(f"{where}: every label is 0, a single class; valid: at least 2 classes (label noise "
                             f"needs another class to flip to)")
    scale = 255.0 if train_x.dtype == np.uint8 else 1.0
    if scale == 1.0:
        train_x, test_x = train_x.astype(np.float32), test_x.astype(np.float32)
    mean, std = _channel_stats(train_x[:10000], scale)
    return ArraySource(name=name, num_classes=num_classes, train_images=train_x, train_labels=train_y,
                       test_images=test_x, test_labels=test_y, scale=scale, mean=mean, std=std, augment=Augment())


def _npz_headers(path: Path) -> dict[str, tuple[tuple, np.dtype]]:
    """Each array's declared (shape, dtype) from its .npy header inside the zip, read before any data."""

    headers = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if not member.endswith(".npy"):
                continue
            with archive.open(member) as handle:
                version = np.lib.format.read_magic(handle)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                    np.lib.format.read_array_header_2_0
                shape, _, dtype = read(handle)
            headers[member[:-4]] = (shape, dtype)
    return headers


def load_npz_source(name: str, path: Path) -> ArraySource:
    """A ``.npz`` with ``x_train``, ``y_train``, ``x_test``, ``y_test``: images as uint8 (0–255) or
    floats (any range, finite; normalised by the training split's statistics), labels integers
    0 … K−1 (K ≥ 2, every class in the training split). Declared sizes are checked before any array is
    read, so a damaged header never allocates what it claims."""
    path = Path(path)
    wrong = statefile.regular_file_problem(path)  # a FIFO would block np.load; a folder is no archive
    if wrong:
        raise UserInputError(f"{path}: {wrong}; valid: an .npz with {', '.join(NPZ_KEYS)}")
    try:
        headers = _npz_headers(path)
    except Exception as exc:  # noqa: BLE001 - a truncated zip, a .npy named .npz, a damaged header
        raise UserInputError(f"{path} cannot be read as .npz ({type(exc).__name__}: "
                             f"{first_line(exc, 'damaged')}); valid: a file written by "
                             f"numpy.savez with {', '.join(NPZ_KEYS)}") from None
    missing = [k for k in NPZ_KEYS if k not in headers]
    if missing:
        raise UserInputError(f"{path} lacks {', '.join(missing)}; valid: an .npz with {', '.join(NPZ_KEYS)}")
    for key in NPZ_KEYS:
        shape, dtype = headers[key]
        size = int(np.prod(shape, dtype=object)) * dtype.itemsize
        if dtype.hasobject or dtype.kind not in "uifb":
            raise UserInputError(f"{path}: {key} holds {dtype} values; valid: numbers (uint8 or float pixels, "
                                 f"integer labels)")
        if size > MAX_ARRAY_BYTES:
            raise UserInputError(f"{path}: {key} declares shape {tuple(shape)} ({size / 2**30:,.0f} GiB), over the "
                                 f"{MAX_ARRAY_BYTES // 2**30} GiB this loader reads into memory")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in NPZ_KEYS}
    except Exception as exc:  # noqa: BLE001 - data that ends before its header says
        raise UserInputError(f"{path} cannot be read as .npz ({type(exc).__name__}: "
                             f"{first_line(exc, 'damaged')})") from None
    return _array_source(name, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"], str(path))


def _read_image(file: Path) -> np.ndarray:
    """One image as an (H, W) grey or (H, W, 3) colour array; one line naming the file if it cannot be read."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            image.load()
            image = image.convert("RGB" if image.mode not in ("L", "1", "I;16") else "L")
            return np.asarray(image)
    except Exception as exc:  # noqa: BLE001 - truncated, corrupt, or not an image at all
        raise UserInputError(f"{file} cannot be read as an image ({type(exc).__name__}: "
                             f"{first_line(exc, 'damaged')}); replace or remove it") from None


def _folder_split(root: Path, classes: list[str] | None):
    """(images as a list of arrays, labels, class names). ``classes``: the training split's, which the
    test split's folders must be among."""
    if not root.is_dir():
        raise UserInputError(f"{root} is not a folder; valid: <path>/train/<class>/<image> and "
                             f"<path>/test/<class>/<image> (torchvision's ImageFolder layout)")
    found = sorted(p.name for p in root.iterdir() if p.is_dir())
    if classes is not None:
        unknown = [name for name in found if name not in classes and
                   any(f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES for f in (root / name).iterdir())]
        if unknown:
            raise UserInputError(f"{root}: class folders {', '.join(unknown[:5])} are not among the training "
                                 f"classes ({', '.join(classes[:10])}); valid: test classes ⊆ train classes")
    classes = classes or found
    images, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((root / name).iterdir()) if (root / name).is_dir() else []:
            if file.is_file() and file.suffix.lower() in IMAGE_SUFFIXES:
                images.append(_read_image(file))
                labels.append(label)
    if not images:
        raise UserInputError(f"{root} holds no images in class folders ({', '.join(IMAGE_SUFFIXES)})")
    return images, np.asarray(labels), classes


def _uniform_images(images: list[np.ndarray], size: tuple[int, int], colour: bool) -> np.ndarray:
    """One mode and one size per dataset: grey images made RGB where any image of the training split is
    colour, and every image resized to the training split's first image's size (width, height)."""
    from PIL import Image

    out = []
    for array in images:
        if colour and array.ndim == 2:
            array = np.repeat(array[:, :, None], 3, axis=2)
        if (array.shape[1], array.shape[0]) != size:
            array = np.asarray(Image.fromarray(array).resize(size))
        out.append(array)
    return np.stack(out)


def load_image_folder_source(name: str, path: Path) -> ArraySource:
    """torchvision's ImageFolder layout, with a train and a test split: ``<path>/train/<class>/*.png``
    and ``<path>/test/<class>/*.png``; class indices follow the sorted training class folders, and a
    test class folder must be one of them. Images are read into memory in one mode (RGB where any
    training image is colour, else grey) at one size (the first training image's; others resized)."""
    path = Path(path)
    train, train_y, classes = _folder_split(path / "train", None)
    test, test_y, _ = _folder_split(path / "test", classes)
    colour = any(a.ndim == 3 for a in train)
    if not colour and any(a.ndim == 3 for a in test):
        raise UserInputError(f"{path}: the test split holds colour images but every training image is grey; valid: "
                             f"one image mode per dataset")
    size = (train[0].shape[1], train[0].shape[0])
    return _array_source(name, _uniform_images(train, size, colour), train_y, _uniform_images(test, size, colour),
                         test_y, str(path))
