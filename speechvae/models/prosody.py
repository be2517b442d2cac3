"""The per-frame prosody a decoder with ``model.prosody`` takes beside z: ``(T, 2)`` float32 of log-F0 normalised by
the training set's voiced log-F0 mean and std (0 on unvoiced frames) and voicing (1 voiced, 0 not).

A conversion decodes with the F0 it will be voiced with, after the F0 map (:func:`speechvae.models.prosody.f0_map`);
training's cycle term maps a batch's prosody to the other speakers the same way, in normalised units
(:class:`SpeakerF0Map`), so the decoder learns with the inputs it will convert with.

>>> from speechvae.analysis.stats import Stats
>>> s = Stats.from_arrays({"mcep_mean": [0.0], "mcep_std": [1.0], "mcep_gv": [1.0], "lf0_mean": np.log(100),
...                        "lf0_std": 0.5, "frames": 1, "utterances": 1})
>>> prosody_inputs(np.array([0.0, 100.0, 100.0 * np.e]), s).tolist()   # unvoiced; at the mean; 1 neper = 2 stds up
[[0.0, 0.0], [0.0, 1.0], [2.0, 1.0]]
"""
from __future__ import annotations

import numpy as np
import torch

from speechvae.analysis.stats import Stats


def prosody_inputs(f0: np.ndarray, stats: Stats) -> np.ndarray:
    """F0 ``(T,)`` in Hz (0 = unvoiced) -> ``(T, 2)`` float32 [normalised log-F0 (0 when unvoiced), voicing]."""
    f0 = np.asarray(f0, dtype=np.float64)
    v = f0 > 0
    out = np.zeros((len(f0), 2), dtype=np.float32)
    out[v, 0] = (np.log(f0[v]) - stats.lf0_mean) / stats.lf0_std
    out[:, 1] = v
    return out


class SpeakerF0Map:
    """:func:`speechvae.models.prosody.f0_map` on prosody inputs: voiced log-F0 moved from each frame's speaker's
    mean/std to another speaker's, in the units of :func:`prosody_inputs` (``stats``: the model's normalisation
    statistics; ``speaker_stats``: each speaker's, in the order of ``names``)."""

    def __init__(self, stats: Stats, speaker_stats: dict[str, Stats], names: tuple[str, ...], device="cpu"):
        ms = [speaker_stats[n] for n in names]
        self.shift = torch.tensor([(s.lf0_mean - stats.lf0_mean) / stats.lf0_std for s in ms], device=device)
        self.scale = torch.tensor([s.lf0_std / stats.lf0_std for s in ms], device=device)

    def __call__(self, pros: torch.Tensor, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        """``pros (..., 2)`` of frames spoken by ``src (...)`` (speaker indices) -> the same as ``tgt (...)`` speaks."""
        lf0, voiced = pros[..., 0], pros[..., 1]
        moved = (lf0 - self.shift[src]) / self.scale[src] * self.scale[tgt] + self.shift[tgt]
        return torch.stack([moved * voiced, voiced], dim=-1).to(pros.dtype)


def f0_map(f0: np.ndarray, src: Stats, tgt: Stats) -> np.ndarray:
    """Voiced F0 (Hz) moved from the source's log-F0 mean/std to the target's; unvoiced (0) stays 0.

    >>> import dataclasses
    >>> s = Stats.from_arrays({"mcep_mean": [0.0], "mcep_std": [1.0], "mcep_gv": [1.0], "lf0_mean": np.log(100),
    ...                        "lf0_std": 0.1, "frames": 1, "utterances": 1})
    >>> t = dataclasses.replace(s, lf0_mean=float(np.log(200)), lf0_std=0.2)
    >>> f0_map(np.array([0.0, 100.0, 110.0]), s, t).round(1).tolist()   # 100 -> 200; 10% up -> 2 x the log step
    [0.0, 200.0, 242.0]
    """
    f0 = np.asarray(f0, dtype=np.float64)
    out = np.zeros_like(f0)
    v = f0 > 0
    out[v] = np.exp((np.log(f0[v]) - src.lf0_mean) / src.lf0_std * tgt.lf0_std + tgt.lf0_mean)
    return out
