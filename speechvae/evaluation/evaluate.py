"""What a trained model did to a feature set: per-utterance metrics (JSON) and the plots."""
from __future__ import annotations

import logging
from pathlib import Path

from speechvae.analysis.featdir import utterance_speakers
from speechvae.evaluation.leakage import speaker_leakage
from speechvae.evaluation.metrics import score, summarize
from speechvae.evaluation.quality import reconstruction_quality, require
from speechvae.inference.model import Model, reconstruct
from speechvae.inference.rate import heldout_nll, rate

log = logging.getLogger(__name__)


def evaluate(
    tm: Model,
    featdir: str | Path,
    utt_ids: list[str],
    *,
    sample: bool = False,
    postfilter: bool | None = None,
    nll_samples: int = 0,
    quality: bool = False,
    progress: bool = True,
) -> dict:
    """:func:`~speechvae.evaluation.metrics.score` of the model's reconstructions, plus ``held_out``,
    ``training_utterances``, the rate (:func:`~speechvae.inference.rate.rate`), ``conventions`` and, with
    ``nll_samples`` K > 0, the importance-weighted estimate of the held-out negative log-likelihood
    (``nll_nats_per_frame`` of raw c1..c39, ``nll_bits_per_dim``, K samples). A speaker-conditioned model rebuilds each
    utterance with its own speaker's code and, when the utterances hold several of its speakers, adds
    ``speaker_leakage`` (:func:`speechvae.evaluation.leakage.speaker_leakage`: a linear speaker classifier fitted on
    its training utterances' z, tested on these).

    With ``quality``, ``quality`` holds how the resynthesis sounds beside WORLD copy synthesis and the original
    recording (:func:`speechvae.evaluation.quality.reconstruction_quality`: PESQ-WB, STOI, DNSMOS), per utterance too.

    ``held_out`` is False when some evaluated utterances were used for training (their ids in
    ``training_utterances``): such figures say how well the model fits, not how it generalises.
    None for a checkpoint that does not record its ids.
    """
    if quality:
        require()  # the extra is missing: refuse before any work
    trained_on = set(tm.checkpoint.train_utts)
    seen = sorted(trained_on & set(utt_ids))
    if seen:
        log.warning("%d of %d evaluated utterances were used for training: these figures are not held-out",
                    len(seen), len(utt_ids))
    spk = utterance_speakers(featdir) if tm.conditioned else {}
    per: dict = {}
    for s in dict.fromkeys(spk.get(u) for u in utt_ids):  # a conditioned model rebuilds each speaker as itself
        ids = [u for u in utt_ids if spk.get(u) == s]
        per.update(score(featdir, ids, lambda f: reconstruct(tm, f, sample=sample, postfilter=postfilter,
                                                             speaker=s))["per_utterance"])
    per = {u: per[u] for u in utt_ids}
    out = {**summarize(per), "per_utterance": per, "held_out": (not seen) if trained_on else None,
           "training_utterances": seen, **rate(tm, featdir, utt_ids)}
    known = [u for u in tm.checkpoint.train_utts if u in spk]
    if tm.conditioned and len({spk[u] for u in utt_ids}) > 1 and known:
        out["speaker_leakage"] = speaker_leakage(tm, featdir, known, utt_ids)
    if nll_samples > 0:
        out.update(heldout_nll(tm, featdir, utt_ids, nll_samples))
    if quality:
        q = reconstruction_quality(featdir, utt_ids, lambda u, f: reconstruct(
            tm, f, sample=sample, postfilter=postfilter, speaker=spk.get(u)), progress=progress)
        for u, row in q.pop("per_utterance").items():
            out["per_utterance"][u]["quality"] = row
        out["quality"] = q
    a = tm.cfg.analysis
    out["conventions"] = {"fs": a.fs, "alpha": a.alpha, "order": a.order, "c0": "excluded",
                          "z": "sampled" if sample else "posterior mean",
                          "gv_postfilter": bool(postfilter if postfilter is not None else tm.cfg.postfilter.gv)}
    return out
