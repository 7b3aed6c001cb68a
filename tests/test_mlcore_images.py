"""Image data: digits split and subset, FashionMNIST through torchvision on IDX files written here."""

import gzip
import struct

import numpy as np
import pytest

from mlcore.images import load_images, read_idx


def _idx_bytes(array: np.ndarray) -> bytes:
    # IDX: two zero bytes, type 0x08 (unsigned byte), number of dims, then each dim as big-endian uint32.
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_fashion(root, rng, n_train=30, n_test=12, compress=False):
    raw = root / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        arrays[split] = (images, labels)
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = f"{split}-{kind}-ubyte"
            data = _idx_bytes(arr)
            if compress:
                (raw / f"{name}.gz").write_bytes(gzip.compress(data))
            else:
                (raw / name).write_bytes(data)
    return arrays


@pytest.mark.torch
@pytest.mark.parametrize("compress", [False, True])
def test_fashion_mnist_through_torchvision(tmp_path, compress):
    rng = np.random.default_rng(3)
    arrays = _write_fashion(tmp_path, rng, compress=compress)
    data = load_images("fashion-mnist", root=tmp_path, download=False)
    images, labels = arrays["train"]
    # Standardised with the training split's own mean and std of pixel / 255.
    scaled = images.astype(np.float32) / 255.0
    expected = (scaled - scaled.mean()) / scaled.std()
    assert data.input_shape == (1, 28, 28)
    np.testing.assert_allclose(data.train_x[:, 0], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(data.train_y, labels)
    np.testing.assert_array_equal(data.val_y, arrays["t10k"][1])
    assert data.val_x.shape == (12, 1, 28, 28)
    # Our independent IDX reader agrees with the bytes written.
    np.testing.assert_array_equal(read_idx(tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte"), images)


@pytest.mark.torch
def test_fashion_mnist_subset(tmp_path):
    _write_fashion(tmp_path, np.random.default_rng(0), n_train=40, n_test=20)
    data = load_images("fashion-mnist", root=tmp_path, subset=20, seed=1)
    # subset 20 = 16 train + round(0.2 * 20) = 4 validation
    assert (len(data.train_y), len(data.val_y)) == (16, 4)


@pytest.mark.torch
def test_fashion_mnist_missing(tmp_path):
    with pytest.raises(ValueError, match="root: .*fashion-mnist.*download"):
        load_images("fashion-mnist", root=tmp_path, download=False)


def test_read_idx_gzip_and_errors(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a.gz").write_bytes(gzip.compress(_idx_bytes(arr)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), arr)
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03")
    with pytest.raises(ValueError, match="IDX header"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(_idx_bytes(arr)[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "short")


def test_digits_split_is_seeded_and_standardised():
    data = load_images("digits", seed=0)
    # scikit-learn's digits: 1797 images; 20 % = round(359.4) = 359 validation, 1438 training.
    assert (len(data.train_y), len(data.val_y)) == (1438, 359)
    assert data.input_shape == (1, 8, 8) and data.num_classes == 10
    assert abs(float(data.train_x.mean())) < 1e-5 and abs(float(data.train_x.std()) - 1) < 1e-4
    again = load_images("digits", seed=0)
    np.testing.assert_array_equal(data.train_y, again.train_y)
    assert not np.array_equal(data.train_y, load_images("digits", seed=1).train_y)
    assert not data.train_x.flags.writeable


def test_digits_matches_scikit_learn():
    from sklearn.datasets import load_digits

    data = load_images("digits", subset=100, seed=5)
    bunch = load_digits()
    # Undo the standardisation: every training image must be one of scikit-learn's images / 16.
    pixels = bunch.images.reshape(len(bunch.images), -1) / 16.0
    restored = data.train_x.reshape(len(data.train_x), -1).astype(float)
    for img, label in zip(restored[:5], data.train_y[:5], strict=True):
        # standardisation is affine: correlation with the original pixels is 1 for the matching row
        corr = [np.corrcoef(img, p)[0, 1] if p.std() > 0 else 0.0 for p in pixels[bunch.target == label]]
        assert max(corr) > 1 - 1e-6


@pytest.mark.parametrize(("kwargs", "match"), [({"dataset": "mnist"}, "^dataset: "), ({"subset": 3}, "^subset: "),
                                               ({"val_fraction": 1.0}, "val_fraction")])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_images(**kwargs)
