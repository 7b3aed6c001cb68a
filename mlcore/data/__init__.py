"""Data sets shipped inside mlcore (provenance and licence in this folder's README.md).

>>> ds = load_blood_transfusion()
>>> ds.features.shape, int(ds.labels.sum()), ds.feature_names[0]
((748, 4), 178, 'recency_months')
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Dataset", "load_blood_transfusion", "BLOOD_TRANSFUSION_SHA256"]

BLOOD_TRANSFUSION_SHA256 = "c3e5dc8f63e2bdc41e30f2b7a9398207203ac1c594bac206d450441a04d268c2"
_BLOOD_CSV = Path(__file__).with_name("blood-transfusion-service-center.csv")


@dataclass(frozen=True)
class Dataset:
    """A frozen, read-only tabular data set: ``features[i]`` and ``labels[i]`` (1 = positive) of row i."""

    name: str
    features: np.ndarray
    labels: np.ndarray
    feature_names: tuple[str, ...]
    positive_class: str
    source: str
    sha256: str


def load_blood_transfusion(verify: bool = True) -> Dataset:
    """Load the blood-transfusion data (748 x 4); label 1 = donated (Class 2), 0 = did not (Class 1).

    ``verify`` checks the file's sha256 against :data:`BLOOD_TRANSFUSION_SHA256`.
    """
    raw = _BLOOD_CSV.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if verify and digest != BLOOD_TRANSFUSION_SHA256:
        raise ValueError(
            f"{_BLOOD_CSV.name}: sha256 {digest} does not match the shipped file; reinstall mlcore"
        )
    lines = raw.decode("ascii").strip().splitlines()
    if lines[0].strip() != "V1,V2,V3,V4,Class":
        raise ValueError(f"{_BLOOD_CSV.name}: unexpected header {lines[0]!r}")
    table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
    features = table[:, :4].copy()
    labels = (table[:, 4] == 2).astype(np.int64)
    features.setflags(write=False)
    labels.setflags(write=False)
    return Dataset(
        name="blood-transfusion-service-center",
        features=features,
        labels=labels,
        feature_names=("recency_months", "frequency_donations", "monetary_cc", "time_months"),
        positive_class="donated (Class 2)",
        source="OpenML 1464 via datasets/openml-datasets (ODC-PDDL-1.0); Yeh, Yang & Ting 2008",
        sha256=digest,
    )
