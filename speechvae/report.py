"""What a trained model did to a feature set: per-utterance metrics (JSON) and the plots."""
from __future__ import annotations

import logging
from pathlib import Path


from . import plots
from .features import Features
from .metrics import score, summarize
from .reconstruct import TrainedModel, encode, heldout_nll, rate, reconstruct
from .featdir import feature_path, utterance_speakers

log = logging.getLogger(__name__)


def evaluate(tm: TrainedModel, featdir: str | Path, utt_ids: list[str], *, sample: bool = False,
             postfilter: bool | None = None, nll_samples: int = 0, quality: bool = False, progress: bool = True) -> dict:
    """:func:`~speechvae.metrics.score` of the model's reconstructions, plus ``held_out``,
    ``training_utterances``, the rate (:func:`~speechvae.reconstruct.rate`), ``conventions`` and, with ``nll_samples`` K > 0, the importance-weighted estimate of the held-out
    negative log-likelihood (``nll_nats_per_frame`` of raw c1..c39, ``nll_bits_per_dim``, K samples).
    A speaker-conditioned model rebuilds each utterance with its own speaker's code and, when the utterances
    hold several of its speakers, adds ``speaker_leakage`` (:func:`speechvae.leakage.speaker_leakage`: a linear
    speaker classifier fitted on its training utterances' z, tested on these).

    With ``quality``, ``quality`` holds how the resynthesis sounds beside WORLD copy synthesis and the original
    recording (:func:`speechvae.quality.reconstruction_quality`: PESQ-WB, STOI, DNSMOS), per utterance too.

    ``held_out`` is False when some evaluated utterances were used for training (their ids in
    ``training_utterances``): such figures say how well the model fits, not how it generalises.
    None for a checkpoint that does not record its ids.
    """
    if quality:
        from .quality import require

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
        from .leakage import speaker_leakage

        out["speaker_leakage"] = speaker_leakage(tm, featdir, known, utt_ids)
    if nll_samples > 0:
        out.update(heldout_nll(tm, featdir, utt_ids, nll_samples))
    if quality:
        from .quality import reconstruction_quality

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


def write_plots(tm: TrainedModel, history: list[dict], featdir: str | Path, utt_id: str, outdir: str | Path,
                dims: tuple[int, int] = (1, 2), traj_dim: int = 21) -> list[Path]:
    """scatter.png, trajectory.png (utterance ``utt_id``), loss.png, posterior.png, dead_units.png,
    latent_pca.png into ``outdir``; returns their paths."""
    outdir = Path(outdir)
    f = Features.load(feature_path(featdir, utt_id))
    order = f.order
    for d in (*dims, traj_dim):
        if not 1 <= d <= order:
            raise ValueError(f"dimension {d} out of range: mel-cepstrum dims are 1..{order} (c0 is power)")
    rec = reconstruct(tm, f, what=str(feature_path(featdir, utt_id)))
    mu, _ = encode(tm, f)
    figs = {
        "scatter.png": plots.scatter(f.mcep, rec.mcep, *dims),
        "trajectory.png": plots.trajectory(f.mcep, rec.mcep, traj_dim, f.frame_period, f"{utt_id}: c{traj_dim}"),
        "latent_pca.png": plots.latent_pca(mu, f.vuv[:: tm.model.stride][: len(mu)]),
    }
    if history:
        figs.update({"loss.png": plots.loss_curves(history), "posterior.png": plots.posterior_monitors(history),
                     "dead_units.png": plots.dead_units(history)})
    return [plots.save_figure(fig, outdir / name) for name, fig in figs.items()]
