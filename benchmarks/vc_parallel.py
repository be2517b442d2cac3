"""The parallel term (loss.parallel) on CMU ARCTIC bdl <-> slt, on the dev sentences: its cells of benchmarks/vc.py
beside a parallel reference, each with the GV post-filter settings that choose recipes/arctic_vc's configuration.

    python benchmarks/vc_parallel.py [--cells NAME ...] [--settings 0,0.7,1,0.7@15x1,...]

For each model (a cell of benchmarks/vc.py, trained by it or here when absent) and each post-filter setting, per
direction over the 50 dev sentences (a0301-a0350): the DTW MCD (dB, c1..c39 over speech frames, pooled over aligned
frames as evaluate-vc pools it) and the GV ratio (per dimension, the conversions' mean per-utterance variance over
the target's recordings of the same sentences, averaged over c1..c39, as vc_postfilter.py measures it) of the
conversions against the target's recordings. Settings: ``0`` no post-filter; ``W`` the GV post-filter at weight W for
every dim; ``W@KxH`` W below cK and H from cK up (postfilter.gv_high_from / gv_weight_high).

The parallel reference (no VAE): per direction, one least-squares affine map of c1..c39 fitted on the same DTW
frame pairs of the training sentences that loss.parallel draws (speechvae.training.pairs, aligned by mean/std), F0
mapped as mean/std matching maps it; with the same post-filter settings toward the target's training GV. What a parallel
corpus gives a converter with no latent at all: the baseline the parallel term has to beat. About 1 min per model
(plus training: about 17 min per cell alone on 2 cores).
"""
from __future__ import annotations

import argparse
import dataclasses

import numpy as np
from _common import ROOT, table, trained
from vc import CELLS, SPEAKERS, _list, cell_config, cell_folder, features, split

import speechvae  # noqa: F401
from speechvae.analysis.featdir import feature_path, stats_for
from speechvae.analysis.features import Features
from speechvae.config import Config, PostfilterConfig, validate
from speechvae.inference.model import convert, load_model, with_postfilter
from speechvae.inference.postfilter import gv_postfilter, gv_weights
from speechvae.models.prosody import f0_map
from speechvae.training.pairs import aligned_pairs
from speechvae.vc.references import parallel_pairs, score_conversion

PARALLEL = [n for n in CELLS if "parallel term" in n]
ADOPTED_BEFORE = (
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, F0 and voicing into the decoder"
)
SETTINGS = "0,0.7,0.9,1,0.5@15x1,0.7@15x1,0.8@15x1,0.8@20x1,0.6@12x1,0.8@10x1"


def setting(text: str) -> PostfilterConfig:
    """``0`` (off), ``W`` or ``W@KxH`` -> the GV post-filter settings it names; another text is refused in one line."""
    try:
        if "@" not in text:
            pf = PostfilterConfig(gv=float(text) > 0, gv_weight=float(text))
        else:
            w, rest = text.split("@")
            k, h = rest.split("x")
            pf = PostfilterConfig(gv=True, gv_weight=float(w), gv_high_from=int(k), gv_weight_high=float(h))
        validate(Config(postfilter=pf))  # the bounds a model's config is held to
    except ValueError as e:  # ConfigError is one
        raise SystemExit(f"--settings: {text!r} is not W or W@KxH in bounds (e.g. 0.7 or 0.7@15x1): {e}") from None
    return pf


def score(feat, pairs: list[tuple[str, str]], conversions) -> list[float]:
    """[DTW MCD dB as evaluate-vc pools it, GV ratio] of ``conversions(source Features)`` against the targets."""
    conv_var = []

    def kept(f: Features) -> Features:  # the conversions' per-utterance variances, for the GV ratio
        est = conversions(f)
        conv_var.append(est.mcep[:, 1:].var(axis=0))
        return est

    mcd = score_conversion(feat, pairs, kept)["mcd_db"]
    ref_var = [Features.load(feature_path(feat, t)).mcep[:, 1:].var(axis=0) for _, t in pairs]
    return [mcd, float(np.mean(np.mean(conv_var, axis=0) / np.mean(ref_var, axis=0)))]


def affine_maps(feat, train: list[str]) -> tuple[dict, dict]:
    """The parallel reference: {(src, tgt): (40, 39) affine map of c1..c39 (last row: the offset)} fitted on the
    training pairs, and the speakers' training statistics."""
    stats = {s: stats_for(feat, [u for u in train if u.startswith(s + "/")]) for s in SPEAKERS}
    p = aligned_pairs(feat, train, stats)
    frames = [Features.load(feature_path(feat, u)) for u in train]
    x = np.concatenate([f.mcep[:, 1:] for f in frames])
    speaker = np.concatenate([np.full(f.frames, u.split("/")[0]) for u, f in zip(train, frames)])
    maps = {}
    for s, t in (SPEAKERS, SPEAKERS[::-1]):
        m = speaker[p.src] == s
        a = np.c_[x[p.src[m]], np.ones(int(m.sum()))]
        maps[(s, t)] = np.linalg.lstsq(a, x[p.tgt[m]], rcond=None)[0]
    return maps, stats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", nargs="+", choices=list(CELLS), default=[ADOPTED_BEFORE, *PARALLEL])
    ap.add_argument("--settings", default=SETTINGS, help="post-filter settings: W or W@KxH, comma-separated")
    args = ap.parse_args()
    settings = [(text, setting(text)) for text in args.settings.split(",")]
    feat = features(2)
    ids = split(feat)
    directions = (SPEAKERS, SPEAKERS[::-1])
    dev = {(s, t): parallel_pairs(feat, s, t, [u for u in ids["dev"] if u.startswith(s + "/")]) for s, t in directions}
    maps, stats = affine_maps(feat, ids["train"])
    rows = []
    for text, pf in settings:
        row = ["parallel reference: affine map on the aligned pairs", text]
        for s, t in directions:

            def affine(f, s=s, t=t):
                y = np.c_[f.mcep[:, 1:], np.ones(f.frames)] @ maps[(s, t)]
                y = gv_postfilter(y, stats[t].mcep_gv, gv_weights(pf, y.shape[1])) if pf.gv else y
                mcep = f.mcep.copy()
                mcep[:, 1:] = y
                return dataclasses.replace(f.replace_mcep(mcep), f0=f0_map(f.f0, stats[s], stats[t]))

            row += score(feat, dev[(s, t)], affine)
        rows.append(row)
        print(rows[-1], flush=True)
    out = ROOT / "data" / "bench" / "vc"
    for name in args.cells:
        exp = cell_folder(out, name)
        trained(
            feat, exp, cell_config(name), _list(exp / "train.list", ids["train"]), _list(exp / "dev.list", ids["dev"])
        )
        base = load_model(exp)
        for text, pf in settings:
            tm = with_postfilter(
                base, gv=pf.gv, weight=pf.gv_weight, high_from=pf.gv_high_from, weight_high=pf.gv_weight_high
            )
            row = [name[len(ADOPTED_BEFORE) + 2:] if name.startswith(ADOPTED_BEFORE + ", ") else name.split(", ")[-1],
                   text]
            for s, t in directions:
                row += score(
                    feat, dev[(s, t)], lambda f, s=s, t=t: convert(tm, f, s, t, tm.checkpoint.speaker_stats[s])
                )
            rows.append(row)
            print(rows[-1], flush=True)
    print(f"\nDev sentences ({len(dev[SPEAKERS])} per direction); "
          "post-filter: W for all dims, or W below cK and H from cK (W@KxH):\n")
    print(table(["model", "GV post-filter", f"{SPEAKERS[0]} -> {SPEAKERS[1]} DTW MCD dB", "GV ratio",
                 f"{SPEAKERS[1]} -> {SPEAKERS[0]} DTW MCD dB", "GV ratio"], rows))


if __name__ == "__main__":
    main()
