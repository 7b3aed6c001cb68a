"""The one kernel behind every curve: confusion counts at every distinct score threshold.

Sorting the scores once (O(n log n)) and cumulating the labels gives, for each distinct score ``s`` in
decreasing order, the number of positives (``tp``) and negatives (``fp``) scored ``>= s``. Tied scores
are one threshold, so they make one point on every curve, as in scikit-learn's ``_ranking`` module.
"""

from __future__ import annotations

import numpy as np

from dlperf.errors import ArgumentError


def validate_binary(labels, scores) -> tuple[np.ndarray, np.ndarray]:
    """Check labels (0/1 or bool) and finite-or-infinite, non-NaN scores of the same length.

    Returns ``(labels as bool array, scores as float64 array)``; raises ``ValueError`` naming the
    argument, the value and the fix.
    """
    y = np.asarray(labels)
    try:
        s = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError):
        raise ArgumentError("scores", what="got non-numeric values", fix="give one real number per sample") from None
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(
            f"labels/scores: got shapes {y.shape} and {s.shape}; give two one-dimensional arrays"
        )
    if y.shape[0] != s.shape[0]:
        raise ValueError(
            f"labels/scores: got {y.shape[0]} labels and {s.shape[0]} scores; give one score per label"
        )
    if y.shape[0] == 0:
        raise ArgumentError("labels", what="got no samples", fix="give at least one positive and one negative")
    if np.isnan(s).any():
        bad = int(np.flatnonzero(np.isnan(s))[0])
        raise ArgumentError("scores", what=f"got NaN at index {bad}", fix="drop or impute NaN scores first")
    if y.dtype == bool:
        pos = y
    elif np.issubdtype(y.dtype, np.number) and ((y == 0) | (y == 1)).all():  # O(n), no sort
        pos = y == 1
    else:
        values = np.unique(y.astype(str))[:5].tolist()
        raise ArgumentError("labels", what=f"got values {values}", fix="give 0/1 (or bool) labels with 1 = positive")
    n_pos = int(pos.sum())
    if n_pos == 0 or n_pos == pos.shape[0]:
        only = "positives" if n_pos else "negatives"
        raise ValueError(
            f"labels: got only {only} ({pos.shape[0]} samples); ROC, PR and PRG curves need both classes"
        )
    return pos, s


def confusion_at_thresholds(labels, scores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(thresholds, tp, fp)`` with one entry per distinct score, highest score first.

    ``tp[i]`` / ``fp[i]`` count the positives / negatives whose score is ``>= thresholds[i]``; both are
    int64 and non-decreasing, and ``tp[-1] + fp[-1] == len(scores)``.

    >>> th, tp, fp = confusion_at_thresholds([1, 1, 0, 0, 1, 0], [.8, .8, .6, .4, .4, .2])
    >>> th.tolist(), tp.tolist(), fp.tolist()
    ([0.8, 0.6, 0.4, 0.2], [2, 2, 3, 3], [0, 1, 2, 3])
    """
    pos, s = validate_binary(labels, scores)
    order = np.argsort(s, kind="stable")[::-1]
    s_sorted = s[order]
    # last index of each run of equal scores (exact equality: ties are one point)
    ends = np.flatnonzero(s_sorted[1:] != s_sorted[:-1])
    ends = np.append(ends, s_sorted.shape[0] - 1)
    tp = np.cumsum(pos[order], dtype=np.int64)[ends]
    fp = ends.astype(np.int64) + 1 - tp
    return s_sorted[ends], tp, fp
