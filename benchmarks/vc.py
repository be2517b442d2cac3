"""Voice conversion on CMU ARCTIC bdl <-> slt: speaker-conditioned VAEs beside the two references.

    python benchmarks/vc.py [--out data/bench/vc] [--cells NAME ...] [--dev] [--quality] [-j 2]

The split of recipes/arctic_vc (by sentence name, the same for both speakers): arctic_a0001-a0300 train (both
speakers' frames, no pairing), a0301-a0350 dev (held out during training), a0351-a0400 eval. Features: WORLD
analysis with the recipe's per-speaker F0 ranges, cached in data/bench/arctic_bdl_slt (re-runs skip done files).

Prints a markdown table: per model (a bottleneck: latent size x KL weight, which layers get the speaker code,
the weight of the cycle term) and direction, the DTW MCD (dB, c1..c39, silence dropped) and F0 RMSE (cents) of
the converted eval sentences against the target speaker's recordings, beside "no conversion" and per-dimension mean/std
matching on the same sentences, the model's MCD minus mean/std's, and the speaker leakage of z (accuracy of a
linear speaker classifier fitted on training z, tested on eval z of both speakers; chance 50%). With --dev, also
the model's MCD minus mean/std's on the dev sentences: the figure to choose among cells by, so that the eval
sentences stay unseen by the choice. Re-runs skip trained models.

With --quality (speechvae[quality]; about 12 s per sentence and direction), the first cell's eval sentences are
also judged as listeners judge them: per direction, every system (no conversion, mean/std matching, the model, the
target's WORLD copy synthesis and recordings) with the DTW MCD under both protocols (c1..c39 over speech frames;
c0..c39 over voiced frames), the F0 RMSE, speaker similarity (Resemblyzer) to the target and to the source (centroids
of their held-out recordings of the dev sentences), the share of sentences nearer the target, and DNSMOS.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from _common import ROOT, corpus_or_exit, table, trained

import speechvae  # noqa: F401
from speechvae.analysis.corpus import analyze_corpus
from speechvae.analysis.featdir import speakers
from speechvae.analysis.inputs import collect_inputs
from speechvae.config import AnalysisConfig, load_config
from speechvae.evaluation.evaluate import evaluate
from speechvae.inference.model import load_model
from speechvae.vc.convert import convert_folder
from speechvae.vc.evaluate import evaluate_conversion

RECIPE = ROOT / "recipes" / "arctic_vc" / "conf"  # its F0 ranges
# the cells' base config: recipes/vc's vc.yaml (what recipes/arctic_vc/conf/vc.yaml was until it added the parallel term
# and the two-band post-filter, which its cells here add as overrides)
VC_CONF = ROOT / "recipes" / "vc" / "conf" / "vc.yaml"
DEC = ["model.conditioning=decoder"]  # the speaker code into the decoder only: vc.yaml before it took "both"
PLAIN = DEC + ["loss.cycle=0"]  # no cycle term: the models before vc.yaml took loss.cycle 1
OLD = ["loss.beta=1", "train.epochs=20", "train.lr_schedule=constant"] + PLAIN  # the first vc.yaml: 20 epochs, beta 1
# the first vc.yaml (its name kept: it names the trained model's folder); vc.yaml now adds the F0 and voicing
# cell's model.prosody and the GV post-filter (judged in vc_postfilter.py)
VC_YAML = "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too (vc.yaml)"
CELLS = {  # name -> overrides of recipes/vc/conf/vc.yaml before the F0 input and the post-filter (BASE)
    VC_YAML: [],
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, seed 1": ["train.seed=1"],
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1": DEC,
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, seed 1": DEC + ["train.seed=1"],
    "mlp latent 8, beta 0.85, 60 epochs cosine, cycle 1": DEC + ["loss.beta=0.85"],
    "mlp latent 8, beta 0.5, 60 epochs cosine, cycle 1": DEC + ["loss.beta=0.5"],
    "mlp latent 8, beta 0.85, 60 epochs cosine, cycle 2": DEC + ["loss.beta=0.85", "loss.cycle=2"],
    "mlp latent 8, beta 1, 60 epochs cosine, cycle 2": DEC + ["loss.beta=1", "loss.cycle=2"],
    "mlp latent 8, beta 0.85, 60 epochs cosine, cycle 4": DEC + ["loss.beta=0.85", "loss.cycle=4"],
    "mlp latent 8, beta 0.7, 60 epochs cosine": PLAIN,
    "mlp latent 8, beta 0.7, 120 epochs cosine": PLAIN + ["train.epochs=120"],
    "mlp latent 8, beta 0.85, 60 epochs cosine": PLAIN + ["loss.beta=0.85"],
    "mlp latent 16, beta 0.7, 60 epochs cosine": PLAIN + ["model.latent=16"],
    "mlp latent 8, beta 1 (the first vc.yaml, 20 epochs)": OLD,
    "mlp latent 8, beta 1, 60 epochs cosine": PLAIN + ["loss.beta=1"],
    "mlp latent 8, beta 0.5, 20 epochs": OLD + ["loss.beta=0.5"],
    "mlp latent 8, beta 0.7, 20 epochs": OLD + ["loss.beta=0.7"],
    "mlp latent 8, beta 1.4, 20 epochs": OLD + ["loss.beta=1.4"],
    "mlp latent 8, beta 2": OLD + ["loss.beta=2"],
    "mlp latent 16, beta 1": OLD + ["model.latent=16"],
    "mlp latent 16, beta 0.3": OLD + ["model.latent=16", "loss.beta=0.3"],
    "mlp latent 4, beta 0.5, 20 epochs": OLD + ["model.latent=4", "loss.beta=0.5"],
    "mlp [512, 256], latent 8, beta 0.7, 20 epochs": OLD + ["model.hidden=[512, 256]", "loss.beta=0.7"],
    "mlp [256, 64], latent 8, beta 0.7, 20 epochs": OLD + ["model.hidden=[256, 64]", "loss.beta=0.7"],
    "mlp latent 8, beta 0.7, 20 epochs, batch 64": OLD + ["loss.beta=0.7", "train.batch_size=64"],
    "mlp latent 8, beta 1, code into encoder too": OLD + ["model.conditioning=both"],
    # temporal context with the code into the encoder and the cycle term: compact codes' block model
    # (4 frames side by side, block.yaml's init) at vc.yaml's rate of 8 latent dims per frame, no linear path (a
    # linear code of the frames would carry the speaker past the bottleneck)
    # the decoder told the F0 it will be voiced with: each frame's normalised log-F0 and voicing
    # beside the speaker code (a conversion: the mapped F0)
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, F0 and voicing into the decoder": [
        "model.prosody=true"],
    ("mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, F0 and voicing into the decoder, "
     "seed 1"): ["model.prosody=true", "train.seed=1"],
    # less over-smoothing: the F0 cell plus loss.gv, the decoder's posterior-mean decodes and
    # conversions asked to vary as much as the speakers' frames do (models.variance_term), and/or loss.mean_recon, the
    # squared error of that decode (models.mean_decode_error). Judged on dev only (README "Against over-smoothing")
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, F0 and voicing into the decoder, "
    "variance term 1": ["model.prosody=true", "loss.gv=1"],
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, F0 and voicing into the decoder, "
    "variance term 0.3": ["model.prosody=true", "loss.gv=0.3"],
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, F0 and voicing into the decoder, "
    "variance term 1, mean-decode error 1": ["model.prosody=true", "loss.gv=1", "loss.mean_recon=1"],
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, F0 and voicing into the decoder, "
    "variance term 0.3, mean-decode error 1": ["model.prosody=true", "loss.gv=0.3", "loss.mean_recon=1"],
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, F0 and voicing into the decoder, "
    "mean-decode error 1": ["model.prosody=true", "loss.mean_recon=1"],
    # less speaker in z: vc.yaml plus a speaker classifier on z that the encoder plays against
    # (models/adversary.py): pushing its posterior toward uniform, or by gradient reversal (crank's)
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, F0 and voicing into the decoder, "
    "parallel term 1": ["model.prosody=true", "loss.parallel=1"],
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, F0 and voicing into the decoder, "
    "parallel term 1 re-aligned every 20 epochs": ["model.prosody=true", "loss.parallel=1", "loss.parallel_realign=20"],
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, F0 and voicing into the decoder, "
    "parallel term 1 re-aligned every 20 epochs, seed 1": ["model.prosody=true", "loss.parallel=1",
                                                           "loss.parallel_realign=20", "train.seed=1"],
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, speaker-adversarial 1": [
        "loss.adversarial=1"],
    "mlp latent 8, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too, gradient-reversal adversary 1": [
        "loss.adversarial=1", "loss.adversarial_mode=reverse"],
    "block of 4 frames [512, 256], latent 32 per block, beta 0.7, 60 epochs cosine, cycle 1, code into encoder too": [
        "model.kind=block", "model.stride=4", "model.segment=64", "model.latent=32", "model.hidden=[512, 256]",
        "init.scale=0.5"],
    "conv k5 [256, 256], latent 8, beta 1": PLAIN + ["model.kind=conv", "model.hidden=[256, 256]",
                                                    "train.batch_size=512", "loss.beta=1", "train.epochs=40"],
}
SPEAKERS = ("bdl", "slt")


# vc.yaml as it was before the F0 input and the post-filter were adopted
BASE = ["postfilter.gv=false", "model.prosody=false"]


def cell_config(name: str):
    """The config of a cell of CELLS: recipes/vc/conf/vc.yaml as it was before the F0 input and the post-filter were
    adopted (no prosody into the decoder, the GV post-filter off) with the cell's overrides: the cells compare models
    bare, each change in its own cell; vc_postfilter.py judges the post-filter on the same models."""
    return load_config(VC_CONF, [*BASE, *CELLS[name]])


def cell_folder(out: Path, name: str) -> Path:
    """The folder of a cell of CELLS under ``out`` (its name up to " (", commas and spaces made safe)."""
    return out / name.split(" (")[0].replace(", ", "_").replace(" ", "-")


def split(featdir: Path) -> dict[str, list[str]]:
    """train / dev / eval ids by sentence number: <= 300, 301-350, > 350."""
    out: dict[str, list[str]] = {"train": [], "dev": [], "eval": []}
    for ids in speakers(featdir).values():
        for u in ids:
            n = int(u.split("_a")[-1])
            out["train" if n <= 300 else "dev" if n <= 350 else "eval"].append(u)
    return {k: sorted(v) for k, v in out.items()}


def features(jobs: int) -> Path:
    db = corpus_or_exit("cmu_arctic_bdl_slt")
    out = ROOT / "data" / "bench" / "arctic_bdl_slt"
    cfg = dataclasses.replace(AnalysisConfig(), f0_ranges=str(RECIPE / "f0_ranges.txt"))
    rep = analyze_corpus(collect_inputs([db / s for s in SPEAKERS]), out, cfg, jobs=jobs)
    if rep.failures:
        raise SystemExit(f"analysis failures: {rep.failures}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "bench" / "vc")
    ap.add_argument("--cells", nargs="+", choices=list(CELLS), default=list(CELLS))
    ap.add_argument("-j", type=int, default=2, help="analysis processes")
    ap.add_argument("--dev", action="store_true",
                    help="also score the dev sentences (a0301-a0350, held out from training; choose cells on these)")
    ap.add_argument("--quality", action="store_true",
                    help="also speaker similarity and DNSMOS of the first cell's conversions beside every reference")
    args = ap.parse_args()
    feat = features(args.j)
    ids = split(feat)
    print(f"{len(ids['train'])} train / {len(ids['dev'])} dev / {len(ids['eval'])} eval utterances", flush=True)
    rows, refs = [], {}
    for name in args.cells:
        exp = cell_folder(args.out, name)
        t0 = time.time()
        trained(
            feat, exp, cell_config(name), _list(exp / "train.list", ids["train"]), _list(exp / "dev.list", ids["dev"])
        )
        tm = load_model(exp)
        train_s = time.time() - t0
        leak = evaluate(tm, feat, ids["eval"])["speaker_leakage"]
        for s, t in (SPEAKERS, SPEAKERS[::-1]):
            m = _convert(tm, feat, ids["eval"], s, t, exp, "")
            refs[(s, t)] = m
            rows.append([name, f"{s} -> {t}", m["model"]["mcd_db"], m["model"]["mcd_db"] - m["meanstd"]["mcd_db"],
                         m["model"]["f0_rmse_cents"], f"{100 * leak['speaker_accuracy']:.0f}%",
                         round(train_s)])
            if args.dev:
                d = _convert(tm, feat, ids["dev"], s, t, exp, "dev_")
                rows[-1].insert(4, d["model"]["mcd_db"] - d["meanstd"]["mcd_db"])
        print(rows[-2], rows[-1], flush=True)
    ref_rows = [[name, f"{s} -> {t}", m[key]["mcd_db"], m[key]["f0_rmse_cents"]]
                for (s, t), m in refs.items() for name, key in (("no conversion", "none"), ("mean/std matching",
                                                                                            "meanstd"))]
    print(f"\nReferences, {refs[SPEAKERS]['pairs']} held-out sentences per direction:\n")
    print(table(["reference", "direction", "DTW MCD dB", "F0 RMSE cents"], ref_rows))
    print(
        "\nSpeaker-conditioned VAEs (same sentences; leakage: linear speaker classifier on held-out z, chance 50%):\n"
    )
    print(table(["model", "direction", "DTW MCD dB", "vs mean/std dB", *(["dev: vs mean/std dB"] if args.dev else []),
                 "F0 RMSE cents", "speaker leakage", "train s"], rows))
    (args.out / "vc.json").write_text(json.dumps({"rows": rows, "references": ref_rows}, indent=1))
    if args.quality:
        quality_table(args.out, args.cells[0], feat)


def quality_table(out: Path, name: str, feat: Path) -> None:
    """The first cell's eval conversions judged beside every reference (see the module docstring)."""
    exp = cell_folder(out, name)
    rows = []
    t0 = time.time()
    for s, t in (SPEAKERS, SPEAKERS[::-1]):
        m = evaluate_conversion(
            exp / f"convert_{s}_{t}", feat, outdir=exp / f"vc_quality_{s}_{t}.json", quality=True, progress=False
        )
        q = m["quality"]["systems"]
        for key, label in (
            ("none", "no conversion"),
            ("meanstd", "mean/std matching"),
            ("model", name),
            ("target_copy", "target, WORLD copy synthesis"),
            ("target_recording", "target recording"),
        ):
            r, x = m.get(key, {}), q.get(key, {})
            rows.append([label, f"{s} -> {t}", r.get("mcd_db", "-"), r.get("mcd_c0_voiced_db", "-"),
                         r.get("f0_rmse_cents", "-"), x.get("similarity_target"), x.get("similarity_source"),
                         x.get("nearer_target"), x.get("dnsmos_p808"), x.get("dnsmos_ovrl")])
            rows[-1] = ["-" if v is None else v for v in rows[-1]]
        c = m["quality"]["centroids"]
        print(f"{s} -> {t}: centroids " + "; ".join(f"{k}: {v['recordings']} recordings, {v['which']}"
                                                   for k, v in c.items()), flush=True)
    print(f"\nJudged beyond MCD ({m['pairs']} eval sentences per direction, {time.time() - t0:.0f} s):\n")
    print(table(["system", "direction", "DTW MCD dB", "MCD c0 voiced dB", "F0 RMSE cents", "similarity to target",
                 "similarity to source", "nearer target", "DNSMOS P.808", "DNSMOS OVRL"], rows))


def _convert(tm, feat: Path, ids: list[str], s: str, t: str, exp: Path, prefix: str) -> dict:
    """Convert the sentences of ``ids`` spoken by ``s`` to ``t`` and score them (evaluate_conversion's dict)."""
    out = exp / f"{prefix}convert_{s}_{t}"
    convert_folder(tm, feat, [u for u in ids if u.startswith(s + "/")], t, out, wav=False, progress=False)
    return evaluate_conversion(out, feat, outdir=exp / f"{prefix}vc_{s}_{t}.json")


def _list(path: Path, ids: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{u}\n" for u in ids))
    return path


if __name__ == "__main__":
    main()
