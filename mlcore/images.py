"""Image classification data for the training experiments: digits offline, FashionMNIST when present.

``load_images("digits")`` uses scikit-learn's bundled 8x8 digits (1797 images, 10 classes) and needs no
network. ``load_images("fashion-mnist", root=..., download=True)`` goes through
``torchvision.datasets.FashionMNIST``, which downloads the IDX files to ``root/FashionMNIST/raw/`` and reads
them; with ``download=False`` the files must already be there (gzip-compressed files are decompressed in
place first, as torchvision expects the plain files). :func:`read_idx` reads those IDX files independently.

Pixels are scaled to [0, 1] and standardised with the training split's mean and standard deviation.

Examples
--------
>>> data = load_images("digits", subset=300, seed=0)
>>> data.train_x.shape, data.val_x.shape, data.input_shape
((240, 1, 8, 8), (60, 1, 8, 8), (1, 8, 8))
"""

from __future__ import annotations

import gzip
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlperf.errors import ArgumentError, ref

__all__ = ["DATASETS", "ImageData", "load_images", "read_idx"]

DATASETS = ("digits", "fashion-mnist")

_IDX_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True)
class ImageData:
    """A train / validation split of images, ready for a torch model.

    Attributes
    ----------
    name : str
        ``"digits"`` or ``"fashion-mnist"``.
    train_x, val_x : numpy.ndarray
        float32 images of shape (n, channels, height, width), standardised (read-only).
    train_y, val_y : numpy.ndarray
        int64 class labels in ``range(num_classes)`` (read-only).
    num_classes : int
        Number of classes.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of one image."""
        return tuple(int(s) for s in self.train_x.shape[1:])


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (the MNIST / FashionMNIST format), plain or gzip-compressed.

    The header is two zero bytes, a type code (0x08 = uint8, ...), the number of dimensions, then each
    dimension as a big-endian 32-bit integer; the data follow in C order.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x-idx1-ubyte"
    >>> _ = p.write_bytes(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
    >>> read_idx(p).tolist()
    [7, 8, 9]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file: {str(path)!r} does not exist; download FashionMNIST first")
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"IDX file: {str(path)!r} has no IDX header; give a MNIST-format file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    count = int(np.prod(dims, dtype=np.int64))
    offset = 4 + 4 * ndim
    if len(raw) - offset != count * dtype.itemsize:
        raise ValueError(f"IDX file: {str(path)!r} holds {len(raw) - offset} data bytes, header says "
                         f"{count * dtype.itemsize}; the file is truncated, download it again")
    return np.frombuffer(raw, dtype=dtype, count=count, offset=offset).reshape(dims)


def _ensure_plain_idx(root: Path) -> None:
    """torchvision reads only the decompressed files; decompress any ``.gz`` left without them."""
    raw = root / "FashionMNIST" / "raw"
    if not raw.is_dir():
        return
    for gz in raw.glob("*-ubyte.gz"):
        plain = gz.with_suffix("")
        if not plain.exists():
            from dlperf.fileio import write_atomic_with

            def _unzip(tmp: str, gz: Path = gz) -> None:
                with gzip.open(gz, "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst)

            write_atomic_with(plain, _unzip, flag="--root")


def check_subset(subset: int | None) -> None:
    """``subset`` of :func:`load_images`: None or an integer >= 10 (checked before any data loads)."""
    if subset is not None and (isinstance(subset, bool) or int(subset) != subset or subset < 10):
        raise ArgumentError("subset", subset, "give an integer >= 10")


def check_root(root: str | os.PathLike[str], download: bool) -> None:
    """``root`` of fashion-mnist: without ``download`` it must be a folder (checked before torchvision loads)."""
    if not download and not Path(root).is_dir():
        what = "is a file" if Path(root).exists() else "does not exist"
        raise ArgumentError("root", str(root), what=f"{str(root)!r} {what}",
                            fix=f"give the folder holding FashionMNIST/raw/, or {ref('download')} with a network")


def _fashion(root: str | os.PathLike[str], download: bool) -> tuple[np.ndarray, ...]:
    check_root(root, download)
    import torchvision

    root = Path(root)
    _ensure_plain_idx(root)
    out = []
    for train in (True, False):
        try:
            ds = torchvision.datasets.FashionMNIST(str(root), train=train, download=download)
        except RuntimeError as exc:  # torchvision: "Dataset not found. You can use download=True ..."
            raise ArgumentError("root", str(root), what=f"no fashion-mnist IDX files under {str(root)!r} ({exc})",
                                fix=f"give {ref('download')} with a network, or the folder holding them") from None
        out += [ds.data.numpy()[:, None], ds.targets.numpy().astype(np.int64)]  # uint8 until subset
    return tuple(out)


def _digits(seed: int, val_fraction: float) -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[:, None]
    y = bunch.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = int(round(val_fraction * len(y)))
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def _take(x: np.ndarray, y: np.ndarray, n: int | None, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    if n is None or n >= len(y):
        return x, y
    keep = np.sort(rng.choice(len(y), size=n, replace=False))
    return x[keep], y[keep]


def load_images(dataset: str = "digits", *, root: str | os.PathLike[str] = "data", download: bool = False,
                subset: int | None = None, seed: int = 0, val_fraction: float = 0.2) -> ImageData:
    """Load a standardised train / validation split.

    Parameters
    ----------
    dataset : {"digits", "fashion-mnist"}
        digits: scikit-learn's 8x8 digits, split ``val_fraction`` for validation with ``seed``.
        fashion-mnist: torchvision's FashionMNIST train (60000) and test (10000) sets as validation.
    root : path
        Folder holding ``FashionMNIST/raw/`` (fashion-mnist only).
    download : bool
        Let torchvision download FashionMNIST when the files are missing (needs a network).
    subset : int, optional
        Keep this many images in total: ``subset - round(val_fraction * subset)`` training images and
        the rest for validation, drawn without replacement with ``seed``.
    seed : int
        Seed of the split and of the subset draw.
    val_fraction : float
        Share of the data (digits) or of ``subset`` kept for validation, in (0, 1).
    """
    if dataset not in DATASETS:
        raise ArgumentError("dataset", dataset, f"give one of {', '.join(DATASETS)}")
    check_subset(subset)
    if not 0.0 < val_fraction < 1.0:
        raise ArgumentError("val_fraction", val_fraction, "give a number in (0, 1)")
    if dataset == "digits":
        tx, ty, vx, vy = _digits(seed, val_fraction)
    else:
        tx, ty, vx, vy = _fashion(root, download)
    if subset is not None:
        rng = np.random.default_rng(seed + 1)
        n_val = int(round(val_fraction * subset))
        tx, ty = _take(tx, ty, subset - n_val, rng)
        vx, vy = _take(vx, vy, n_val, rng)
    if dataset == "fashion-mnist":  # scale after the subset draw: 60000 float images are 188 MB
        tx, vx = tx.astype(np.float32) / 255.0, vx.astype(np.float32) / 255.0
    mean, std = float(tx.mean()), float(tx.std()) or 1.0
    arrays = [((tx - mean) / std).astype(np.float32), ty, ((vx - mean) / std).astype(np.float32), vy]
    for a in arrays:
        a.setflags(write=False)
    return ImageData(dataset, arrays[0], arrays[1], arrays[2], arrays[3], num_classes=10)
