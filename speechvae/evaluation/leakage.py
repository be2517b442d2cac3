"""How much of the speaker a latent code still carries: a linear speaker classifier on the posterior means.

A speaker-conditioned decoder converts voices only when z does not already say who speaks; the classic check
(as in the VAE voice-conversion literature) is to train a linear classifier on training utterances' z and test
it on held-out utterances. Accuracy near chance (1 / speakers, or the larger class's share) means the
speaker left z; near 100% means the decoder can read the speaker from z and will ignore the speaker code.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from speechvae.analysis.featdir import feature_path, utterance_speakers
from speechvae.analysis.features import Features
from speechvae.inference.model import Model, encode


def latents_by_speaker(tm: Model, featdir: str | Path, utt_ids: list[str], names: list[str],
                       max_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means ``(N, latent)`` of the utterances (at most ``max_frames`` rows, drawn at random) and the
    index in ``names`` of each row's speaker ``(N,)``; utterances of other speakers are left out."""
    spk = utterance_speakers(featdir)
    zs, ys = [], []
    for u in utt_ids:
        if spk[u] in names:
            z = encode(tm, Features.load(feature_path(featdir, u)), spk[u])[0]
            zs.append(z)
            ys.append(np.full(len(z), names.index(spk[u])))
    if not zs:
        raise ValueError("no utterances of the named speakers")
    z, y = np.concatenate(zs), np.concatenate(ys)
    if len(z) > max_frames:
        keep = np.random.default_rng(seed).choice(len(z), max_frames, replace=False)
        z, y = z[keep], y[keep]
    return z, y


def fit_linear_classifier(z: np.ndarray, y: np.ndarray, classes: int, l2: float = 1e-4,
                          steps: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression on standardised ``z (N, d)`` with labels ``y (N,)``: returns the
    weights ``(d, classes)`` and biases ``(classes,)`` in z's own units (L-BFGS, L2 penalty ``l2``)."""
    mean, std = z.mean(axis=0), z.std(axis=0) + 1e-8
    x = torch.as_tensor((z - mean) / std, dtype=torch.float64)
    t = torch.as_tensor(y, dtype=torch.long)
    w = torch.zeros(z.shape[1], classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(x @ w + b, t) + l2 * (w**2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    w_raw = w.detach().numpy() / std[:, None]
    return w_raw, b.detach().numpy() - mean @ w_raw


def speaker_leakage(tm: Model, featdir: str | Path, train_ids: list[str], test_ids: list[str],
                    max_frames: int = 50_000) -> dict:
    """Frame accuracy of a linear speaker classifier fitted on the z of ``train_ids`` and tested on the z of
    ``test_ids`` (the model's speakers only). Returns ``speaker_accuracy``, ``chance`` (the largest speaker's
    share of the test frames), ``train_accuracy``, ``speakers`` and the frame counts."""
    names = list(tm.cfg.model.speakers) or sorted(set(utterance_speakers(featdir).values()))
    z_tr, y_tr = latents_by_speaker(tm, featdir, train_ids, names, max_frames)
    z_te, y_te = latents_by_speaker(tm, featdir, test_ids, names, max_frames, seed=1)
    w, b = fit_linear_classifier(z_tr, y_tr, len(names))
    acc = lambda z, y: float(np.mean(np.argmax(z @ w + b, axis=1) == y))
    return {"speaker_accuracy": acc(z_te, y_te), "chance": float(np.bincount(y_te).max() / len(y_te)),
            "train_accuracy": acc(z_tr, y_tr), "speakers": names, "train_frames": len(y_tr), "test_frames": len(y_te)}
