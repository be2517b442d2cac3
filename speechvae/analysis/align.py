"""Dynamic time warping of two feature sequences, for comparing or mixing utterances of the same text.

:func:`dtw_path` maps every frame of ``a`` to one frame of ``b`` (monotone, first to first, last to
last) with local steps of 0, 1 or 2 frames in ``b`` per frame of ``a`` (slope at most 2), minimising the
summed Euclidean distance. That step set lets each row of the cost table be computed in one vectorised
operation (no step stays in the same row of ``a``).

>>> import numpy as np
>>> a = np.array([[0.], [1.], [2.], [3.]]); b = np.array([[0.], [0.], [1.], [2.], [2.], [3.]])
>>> path = dtw_path(a, b)
>>> int(path[0]), int(path[-1]), float(np.abs(a - b[path]).sum())   # ends pinned, every frame matched exactly
(0, 5, 0.0)
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist


def dtw_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For ``a (Ta, D)`` and ``b (Tb, D)``: ``(Ta,)`` indices into ``b``. Needs ``Tb <= 2 Ta - 1``."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ta, tb = len(a), len(b)
    if ta == 0 or tb == 0 or tb > 2 * ta - 1 and not (ta == tb == 1):
        raise ValueError(f"cannot align {ta} frames to {tb}: at most 2 frames of the second per frame of the first")
    # (Ta, Tb) Euclidean distances; scipy builds no (Ta, Tb, D) difference array (1 GB for two 10-s utterances)
    dist = cdist(a, b)
    cost = np.full((ta, tb), np.inf)
    back = np.zeros((ta, tb), dtype=np.int8)  # step taken into (i, j): 0, 1 or 2 frames of b
    cost[0, 0] = dist[0, 0]
    for i in range(1, ta):
        prev = cost[i - 1]
        cand = np.stack([prev, np.r_[np.inf, prev[:-1]], np.r_[np.inf, np.inf, prev[:-2]]])
        back[i] = np.argmin(cand, axis=0)
        cost[i] = dist[i] + cand[back[i], np.arange(tb)]
    if not np.isfinite(cost[-1, -1]):
        raise ValueError(f"cannot align {ta} frames to {tb}")
    path = np.empty(ta, dtype=np.int64)
    j = tb - 1
    for i in range(ta - 1, -1, -1):
        path[i] = j
        j -= int(back[i, j])
    return path


SILENCE_DB = 30.0  # frames more than this far below an utterance's loudest frame are silence (dropped for DTW MCD)


def speech_frames(power_db: np.ndarray, floor_db: float = SILENCE_DB) -> np.ndarray:
    """Boolean ``(T,)``: frames within ``floor_db`` of the utterance's loudest frame (``power_db`` in dB)."""
    p = np.asarray(power_db)
    return p > p.max() - floor_db
