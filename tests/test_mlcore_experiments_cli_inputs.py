"""``--model FILE.py:NAME``, ``--data`` (.npz, image folder), ``--amp``, "wrote FILE" and one-line errors of the
experiment commands, on files the tests write."""

import json

import numpy as np
import pytest

pytest.importorskip("torch")

from mlcore.cli import main  # noqa: E402

pytestmark = [pytest.mark.torch, pytest.mark.usefixtures("one_torch_thread")]
CPU = ["--device", "cpu", "--threads", "1"]

MODEL_FILE = '''
import torch

class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.flat = torch.nn.Flatten()
        self.fc = torch.nn.Linear({inputs}, {classes})

    def forward(self, x):
        return self.fc(self.flat(x))

instance = Tiny()
not_a_model = 3
'''


def _model(tmp_path, inputs, classes):
    path = tmp_path / "net.py"
    path.write_text(MODEL_FILE.format(inputs=inputs, classes=classes))
    return path


def _npz(tmp_path, n=60, features=4, classes=3):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, features)).astype(np.float32)
    y = (np.arange(n) % classes).astype(np.int64)
    path = tmp_path / "d.npz"
    np.savez(path, x=x, y=y)
    return path


def _image_folder(tmp_path, per_class=6, size=(9, 7)):
    from PIL import Image

    root = tmp_path / "imgs"
    rng = np.random.default_rng(1)
    for k, name in enumerate(("cat", "dog")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 128, size=(size[1], size[0]), dtype=np.uint8) + 127 * k
            Image.fromarray(pixels, mode="L").save(root / name / f"{i}.png")
    return root


def test_lr_range_test_with_model_file_and_npz_data(tmp_path, capsys):
    model, data = _model(tmp_path, 4, 3), _npz(tmp_path)
    plot = tmp_path / "lr.png"
    args = ["lr-range-test", "--model", f"{model}:Tiny", "--data", str(data), *CPU, "--num-iter", "12",
            "--batch", "16", "--json", "--plot", str(plot)]
    with pytest.warns(UserWarning, match="no suggestion"):  # 12 points: none after skipping 10 + 5
        assert main(args) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert len(out["lrs"]) == 12 and out["batch_size"] == 16 and out["amp"] is None
    assert captured.err.strip().splitlines()[-1] == f"wrote {plot}"
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_clr_with_an_image_folder_and_a_module_instance(tmp_path, capsys):
    root = _image_folder(tmp_path)  # 12 grey 9x7 images, 2 classes; 20 % (2) held out -> 10 training
    model = _model(tmp_path, 7 * 9, 2)
    args = ["clr", "--model", f"{model}:instance", "--data", str(root), *CPU, "--epochs", "2", "--batch", "4",
            "--base-lr", "0.01", "--max-lr", "0.1", "--json"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["lrs"]) == 2 * 3  # ceil(10 / 4) = 3 steps per epoch
    assert len(out["val_acc"]) == 2 and all(a in (0.0, 0.5, 1.0) for a in out["val_acc"])  # 2 images


def test_batch_sweep_with_npz_and_bf16(tmp_path, capsys):
    model, data = _model(tmp_path, 4, 3), _npz(tmp_path)  # 48 training rows
    args = ["batch-size-sweep", "--model", f"{model}:Tiny", "--data", str(data), "--amp", "bf16", *CPU,
            "--epochs", "1", "--min-batch", "8", "--max-batch", "16", "--csv"]
    assert main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("fixed,8,0.01,6,") and lines[2].startswith("fixed,16,0.01,3,")  # 48/8, 48/16


def test_npz_with_validation_arrays_is_used_as_given(tmp_path):
    from mlcore.user_inputs import load_data_path

    path = tmp_path / "v.npz"
    np.savez(path, x=np.zeros((5, 2)), y=np.array([0, 1, 0, 1, 2]), x_val=np.ones((3, 2)), y_val=np.array([1, 1, 0]))
    d = load_data_path(path)
    assert d.train_x.shape == (5, 2) and d.val_x.shape == (3, 2) and d.num_classes == 3
    assert d.train_x.dtype == np.float32 and not d.train_x.flags.writeable


def _error(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("mlcore: error: ")
    return err


@pytest.mark.parametrize(("spec", "message"), [
    ("net.py", "--model: got 'net.py'; give FILE.py:NAME"),
    ("missing.py:Net", "--model: file 'missing.py' does not exist"),
    ("{model}:Nope", "defines no 'Nope'; it defines Tiny"),
    ("{model}:not_a_model", "not_a_model in '{model}' gives an int (3), not a torch.nn.Module"),
])
def test_bad_model_specs_are_one_line(tmp_path, capsys, spec, message):
    model = _model(tmp_path, 64, 10)
    err = _error(capsys, ["lr-range-test", "--model", spec.format(model=model), "--subset", "20", *CPU])
    assert message.format(model=model) in err


def test_a_model_file_that_raises_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('boom')\nclass X:  # named, so the file runs (and raises) before X is looked up\n    pass\n")
    assert "raised RuntimeError: boom" in _error(capsys, ["clr", "--model", f"{bad}:X", "--subset", "20", *CPU])


def test_bad_data_is_one_line(tmp_path, capsys):
    np.savez(tmp_path / "nox.npz", a=np.zeros(3))
    assert "give arrays x and y" in _error(capsys, ["lr-range-test", "--data", str(tmp_path / "nox.npz"), *CPU])
    (tmp_path / "t.csv").write_text("1,2\n")
    assert "give a .npz file" in _error(capsys, ["lr-range-test", "--data", str(tmp_path / "t.csv"), *CPU])
    assert "does not exist" in _error(capsys, ["lr-range-test", "--data", str(tmp_path / "no.npz"), *CPU])
    root = _image_folder(tmp_path)
    from PIL import Image

    Image.fromarray(np.zeros((5, 5), np.uint8), mode="L").save(root / "dog" / "odd.png")
    assert "resize the images to one size" in _error(capsys, ["clr", "--data", str(root), *CPU])
    assert "--subset: applies to the built-in data" in _error(
        capsys, ["clr", "--data", str(_npz(tmp_path)), "--subset", "20", *CPU])


@pytest.mark.parametrize("command", ["lr-range-test", "clr", "batch-size-sweep"])
def test_seed_errors_name_seed(capsys, command):
    assert "--seed: got -1" in _error(capsys, [command, "--seed", "-1", "--subset", "20", *CPU])


@pytest.mark.parametrize("command", ["lr-range-test", "clr", "batch-size-sweep"])
def test_one_class_training_data_is_refused(tmp_path, capsys, command):
    # every label 3: a classifier of one class learns nothing, yet it trained quietly and printed curves
    path = tmp_path / "one.npz"
    np.savez(path, x=np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32), y=np.full(30, 3))
    err = _error(capsys, [command, "--data", str(path), *CPU])
    assert "--data: npz:one.npz: the training labels hold only class 3; give data with at least two classes" in err


def test_one_class_in_the_training_split_only_is_refused(tmp_path):
    # x_val holds two classes, the training arrays one: still nothing to learn
    from mlcore.user_inputs import load_npz

    np.savez(tmp_path / "v.npz", x=np.zeros((5, 2)), y=np.zeros(5, int), x_val=np.ones((3, 2)), y_val=np.array([1, 0, 1]))
    with pytest.raises(ValueError, match="training labels hold only class 0"):
        load_npz(tmp_path / "v.npz")
