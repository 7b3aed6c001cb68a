"""The user's own model and data for the experiment commands: ``--model path.py:NAME`` and ``--data PATH``.

``--model path.py:NAME`` runs the file and takes ``NAME`` from it: an ``nn.Module`` instance, or a class
or function that builds one when called with no arguments. ``--data`` reads a ``.npz`` file (arrays ``x``
and ``y``, optionally ``x_val`` and ``y_val``; without them ``val_fraction`` of the rows is held out with
the seed) or an image folder in torchvision's ``ImageFolder`` layout (``root/CLASS/*.png``; classes in
sorted order, all images of one size; grey images give one channel, others three; pixels scaled to
[0, 1] and standardised with the training split's mean and standard deviation).

Examples
--------
>>> import numpy as np, pathlib, tempfile
>>> p = pathlib.Path(tempfile.mkdtemp()) / "d.npz"
>>> np.savez(p, x=np.zeros((10, 3), np.float32), y=np.arange(10) % 2)
>>> d = load_data_path(p, seed=0)
>>> d.train_x.shape, d.val_x.shape, d.num_classes
((8, 3), (2, 3), 2)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from dlperf.errors import ArgumentError
from mlcore.images import ImageData

__all__ = ["load_model_spec", "guard_model", "check_model", "load_data_path", "load_npz", "load_image_folder"]

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def check_model_spec(spec: str) -> tuple[str, str]:
    """``(path, NAME)`` of ``path.py:NAME`` when it is written so, the file exists and (as far as its syntax
    shows, :func:`dlperf.usercode.defined_names`) binds NAME (nothing imported or run: checked before any data
    or torch loads)."""
    path, sep, name = str(spec).rpartition(":")
    if not sep or not path.endswith(".py") or not name.isidentifier():
        raise ArgumentError("spec", spec, "give FILE.py:NAME, e.g. net.py:Net")
    if not Path(path).is_file():
        raise ArgumentError("spec", spec, "give FILE.py:NAME", what=f"file {path!r} does not exist")
    from dlperf.usercode import defined_names

    static = defined_names(path)
    if static is not None and name not in static[0]:  # a misspelt NAME: read from the file's syntax, not run
        raise ArgumentError("spec", spec, f"it defines {', '.join(static[1]) or 'nothing callable'}",
                            what=f"{path!r} defines no {name!r}")
    return path, name


def load_model_spec(spec: str):
    """The ``nn.Module`` named by ``path.py:NAME`` (an instance, or a class / function called with no arguments).

    The file runs inside :func:`dlperf.usercode.user_code` (its prints go to stderr; whatever it raises,
    ``sys.exit`` included, is one line), and so does every later ``forward`` of the model: see
    :func:`guard_model`.
    """
    path, name = check_model_spec(spec)
    import torch

    from dlperf.usercode import describe, load_source, user_code

    module = load_source(path, "spec", f"_mlcore_user_model_{abs(hash(str(Path(path).resolve())))}")
    if not hasattr(module, name):
        found = sorted(k for k, v in vars(module).items() if not k.startswith("_") and callable(v))
        raise ArgumentError("spec", spec, f"it defines {', '.join(found) or 'nothing callable'}",
                            what=f"{path!r} defines no {name!r}")
    obj = getattr(module, name)
    where = f"{name} in {path!r}"
    if not isinstance(obj, torch.nn.Module) and callable(obj):
        with user_code(where, f"{name}()", "give a class or factory that takes no arguments, or fix it", param="spec"):
            obj = obj()
    if not isinstance(obj, torch.nn.Module):
        raise ArgumentError("spec", what=f"{where} gives {describe(obj)}, not a torch.nn.Module",
                            fix="name a module, a module class or a function returning one")
    if not any(True for _ in obj.parameters()):
        raise ArgumentError("spec", what=f"{name!r} in {path!r} has no parameters to train",
                            fix="give a model with weights")
    obj._dlperf_where = where
    return obj


def guard_model(model, num_classes: int):
    """Make every ``forward`` of a user model (from :func:`load_model_spec`) run inside the user-code
    boundary and check what it returns: a floating tensor of shape (batch, ``num_classes``), else one line
    naming the file, the object and what it returned. Returns ``model`` (its class swapped in place for a
    subclass, so copies and state dicts are unchanged)."""
    import torch

    from dlperf.usercode import describe, guard_forward

    where = getattr(model, "_dlperf_where", None)
    if where is None:
        return model

    def check(out, args) -> None:
        batch = args[0].shape[0] if args and isinstance(args[0], torch.Tensor) and args[0].ndim else None
        if not isinstance(out, torch.Tensor):
            raise ArgumentError("model", what=f"{where}: forward returned {describe(out)}",
                                fix=f"return a tensor of class scores (logits) of shape (batch, {num_classes})")
        if not out.is_floating_point() or out.ndim != 2 or out.shape[1] != num_classes or \
                (batch is not None and out.shape[0] != batch):
            raise ArgumentError("model", what=f"{where}: forward returned a {str(out.dtype).replace('torch.', '')} "
                                f"tensor of shape {tuple(out.shape)} for a batch of {batch}",
                                fix=f"return logits of shape ({batch}, {num_classes}): one score per class of the data")

    return guard_forward(model, where, check, param="model")


def check_model(model, data: ImageData):
    """Guard ``model`` (:func:`guard_model`) and try it once before any work: a forward pass, the
    cross-entropy loss and its backward on a copy, on two training images (the random state is restored,
    so the run that follows is the same as without the check). Returns the guarded model."""
    import copy

    import torch

    from dlperf.usercode import user_code

    model = guard_model(model, data.num_classes)
    where = getattr(model, "_dlperf_where", None)
    if where is None:
        return model
    x = torch.as_tensor(np.array(data.train_x[:2]))  # a writable copy
    y = torch.as_tensor(np.array(data.train_y[:2]))
    with torch.random.fork_rng(devices=[]):
        with user_code(where, "copying the model (copy.deepcopy)", param="model"):
            probe = copy.deepcopy(model)
        out = probe(x)
        with user_code(where, "the cross-entropy loss of its output and its backward", param="model"):
            torch.nn.functional.cross_entropy(out.float(), y).backward()
    return model


def _bad(param: str, text: str) -> ArgumentError:
    """``ArgumentError(param)`` from one sentence ``WHAT; FIX``."""
    what, _, fix = text.rpartition("; ")
    return ArgumentError(param, what=what or fix, fix=fix if what else "")


def _split(x: np.ndarray, y: np.ndarray, seed: int, val_fraction: float) -> tuple[np.ndarray, ...]:
    order = np.random.default_rng(seed).permutation(len(y))
    n_val = int(round(val_fraction * len(y)))
    if n_val < 1 or n_val >= len(y):
        raise _bad("path", f"{len(y)} rows cannot be split {1 - val_fraction:g}/{val_fraction:g}; give "
                         "more rows or x_val / y_val arrays")
    val, train = order[:n_val], order[n_val:]
    return x[train], y[train], x[val], y[val]


def _labels(y: np.ndarray, where: str) -> np.ndarray:
    if y.ndim != 1 or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_)):
        raise _bad("path", f"{where} has shape {y.shape} and dtype {y.dtype}; give 1-d integer class labels")
    if len(y) and y.min() < 0:
        raise _bad("path", f"{where} holds the label {int(y.min())}; give class labels 0, 1, 2, ...")
    return y.astype(np.int64)


def _frozen(name: str, tx, ty, vx, vy) -> ImageData:
    classes = np.unique(ty)
    if len(classes) < 2:  # a classifier of one class learns nothing: every loss and accuracy would be moot
        what = f"only class {int(classes[0])}" if len(classes) else "no labels"
        raise _bad("path", f"{name}: the training labels hold {what}; give data with at least two classes")
    arrays = [np.ascontiguousarray(a) for a in (tx, ty, vx, vy)]
    for a in arrays:
        a.setflags(write=False)
    return ImageData(name, *arrays, num_classes=int(max(ty.max(), vy.max())) + 1)


def _features(x: np.ndarray, where: str) -> np.ndarray:
    """``x`` as float32 rows: numbers, at least one axis, every value finite; else one line naming ``where``."""
    if x.ndim < 1 or x.dtype.kind not in "biuf":
        raise _bad("path", f"{where} has shape {x.shape} and dtype {x.dtype}; give a numeric array with one "
                         "row per sample")
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is reported below, by row
        out = x.astype(np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise _bad("path", f"{where} holds a non-finite value (NaN, inf, or beyond float32) in row {row}; "
                         "give finite values")
    return out


def load_npz(path: str | os.PathLike[str], *, seed: int = 0, val_fraction: float = 0.2) -> ImageData:
    """Arrays ``x`` (n, ...) and ``y`` (n,) class labels, optionally ``x_val`` and ``y_val``; x as float32."""
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # a damaged file raises what its zip, zlib or header reader meets: one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise _bad("path", f"cannot read {str(p)!r} as .npz ({first}); give a file written by "
                         "numpy.savez") from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing or (("x_val" in arrays) != ("y_val" in arrays)):
        raise _bad("path", f"{str(p)!r} holds {sorted(arrays)}; give arrays x and y (and optionally "
                         "both x_val and y_val)")
    x, y = _features(arrays["x"], f"{p.name}:x"), _labels(arrays["y"], f"{p.name}:y")
    if len(x) != len(y):
        raise _bad("path", f"{str(p)!r} has {len(x)} rows in x and {len(y)} labels in y; give one label per row")
    if "x_val" in arrays:
        vx, vy = _features(arrays["x_val"], f"{p.name}:x_val"), _labels(arrays["y_val"], f"{p.name}:y_val")
        if len(vx) != len(vy) or vx.shape[1:] != x.shape[1:]:
            raise _bad("path", f"{str(p)!r}: x_val {vx.shape} / y_val {vy.shape} do not match x {x.shape}")
        return _frozen(f"npz:{p.name}", x, y, vx, vy)
    return _frozen(f"npz:{p.name}", *_split(x, y, seed, val_fraction))


def load_image_folder(path: str | os.PathLike[str], *, seed: int = 0, val_fraction: float = 0.2) -> ImageData:
    """Images under ``path/CLASS/``, one class per sub-folder (sorted names are classes 0, 1, ...)."""
    from PIL import Image, UnidentifiedImageError

    root = Path(path)
    classes = sorted(d for d in root.iterdir() if d.is_dir())
    files = [(f, k) for k, d in enumerate(classes) for f in sorted(d.iterdir())
             if f.suffix.lower() in _IMAGE_SUFFIXES]
    if len(classes) < 2 or not files:
        raise _bad("path", f"{str(root)!r} has {len(classes)} class folders and {len(files)} images; give "
                         "a folder with one sub-folder of images per class (at least two)")
    images = []
    for f, _ in files:
        try:
            with Image.open(f) as im:
                images.append((im.mode, im.copy()))
        except (OSError, UnidentifiedImageError):
            raise _bad("path", f"{str(f)!r} is not a readable image; remove it or replace it") from None
    grey = all(mode in ("L", "1", "I;16", "I") for mode, _ in images)
    arrays = [np.asarray(im.convert("L" if grey else "RGB"), dtype=np.float32) / 255.0 for _, im in images]
    first = arrays[0].shape
    for (f, _), a in zip(files, arrays, strict=True):
        if a.shape != first:
            raise _bad("path", f"{str(f)!r} is {a.shape[1]}x{a.shape[0]} but {str(files[0][0])!r} is "
                             f"{first[1]}x{first[0]}; resize the images to one size")
    x = np.stack(arrays)[:, None] if grey else np.stack(arrays).transpose(0, 3, 1, 2)
    y = np.array([k for _, k in files], dtype=np.int64)
    tx, ty, vx, vy = _split(x, y, seed, val_fraction)
    mean, std = float(tx.mean()), float(tx.std()) or 1.0
    return _frozen(f"images:{root.name}", ((tx - mean) / std).astype(np.float32), ty,
                   ((vx - mean) / std).astype(np.float32), vy)


def load_data_path(path: str | os.PathLike[str], *, seed: int = 0, val_fraction: float = 0.2) -> ImageData:
    """A ``.npz`` file or an image folder (see the module notes)."""
    p = Path(path)
    if not p.exists():
        raise _bad("path", f"{str(p)!r} does not exist; give a .npz file or an image folder")
    if p.is_dir():
        return load_image_folder(p, seed=seed, val_fraction=val_fraction)
    if p.suffix.lower() != ".npz":
        raise _bad("path", f"got {str(p)!r}; give a .npz file (arrays x, y) or a folder of class folders")
    return load_npz(p, seed=seed, val_fraction=val_fraction)
