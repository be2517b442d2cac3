"""The whole pipeline on a real corpus, stage by stage: CMU ARCTIC bdl + slt (800 utterances, about 38 minutes of
speech) through `speechvae` commands, each in its own process: wall seconds (start-up included), real-time
factor, peak RSS.

    python benchmarks/corpus.py [--epochs 30] [--out data/bench/corpus] [--synthetic 2000000,20000000]

Stages: analyze with -j 1 and -j 2 into fresh folders (parallel efficiency = t1 / (2 t2)); stats over the
training list; train (default config, the training list; the dev list gives the held-out MCD of every epoch:
training frames/s, and the epoch and wall seconds at which the held-out MCD reaches its plateau, the first
epoch within 2% of the run's best); evaluate (the eval list) beside PCA-k on the same utterances (k = 16, 32, 39:
the default model's 64 latent dims can hold all 39); resynth (the eval list through the model).
Split by sentence number, the same for both speakers: <= 300 train, 301-350 dev, > 350 eval.

--synthetic: training's peak RSS on synthetic feature folders of these sizes (generated, trained one epoch
streamed from the frame store, deleted; benchmarks/framestore.py's cells), to show memory flat as the corpus
grows 10x. About 12 minutes for 20 million frames; '' skips it.
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

from _common import ROOT, corpus_or_exit, table
from framestore import UTT_FRAMES, peak_rss_mb, synthetic_featdir
from vc import RECIPE, SPEAKERS, split

from speechvae.analysis.featdir import read_manifest

CLI = [sys.executable, "-m", "speechvae.cli", "-q"]


def plateau(log: list[dict]) -> tuple[dict, float]:
    """The first epoch whose held-out MCD is within 2% of the run's best: its row of log.csv, and the best (dB)."""
    best = min(float(r["valid_mcd_db"]) for r in log)
    return next(r for r in log if float(r["valid_mcd_db"]) <= 1.02 * best), best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "bench" / "corpus")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--db", type=Path, default=None, help="a folder with bdl/ and slt/ (default: the shared corpus)")
    ap.add_argument("--synthetic", default="2000000,20000000", help="frame counts of the memory run ('' = skip)")
    args = ap.parse_args()
    db = args.db or corpus_or_exit("cmu_arctic_bdl_slt")
    out = args.out
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    wavs = [str(db / s) for s in SPEAKERS]
    ranges = ["--f0-ranges", str(RECIPE / "f0_ranges.txt")]
    rows, cells = [], {}

    def stage(name: str, cmd: list[str], seconds: float | None = None) -> tuple[float, float]:
        rss, wall = peak_rss_mb(CLI + cmd)
        cells[name] = {"wall_s": wall, "peak_rss_mb": rss}
        rows.append([name, wall, seconds and wall / seconds or "", rss, ""])
        print(f"({name}: {wall:.1f} s, {rss:.0f} MB)", flush=True)
        return rss, wall

    _, t1 = stage("analyze -j 1", ["analyze", *wavs, "-o", str(out / "feat_j1"), "-j", "1", *ranges])
    shutil.rmtree(out / "feat_j1")
    feat = out / "feat"
    _, t2 = stage("analyze -j 2", ["analyze", *wavs, "-o", str(feat), "-j", "2", *ranges])
    manifest = {r["utt_id"]: r for r in read_manifest(feat)}
    seconds = lambda ids: sum(float(manifest[u]["seconds"]) for u in ids)
    total = seconds(manifest)
    rows[0][2], rows[1][2] = t1 / total, t2 / total
    rows[1][4] = f"parallel efficiency {t1 / (2 * t2):.0%} ({t1 / t2:.2f}x)"
    ids = split(feat)
    lists = {k: out / f"{k}.list" for k in ids}
    for k, v in ids.items():
        lists[k].write_text("".join(f"{u}\n" for u in v))
    frames = sum(int(manifest[u]["frames"]) for u in ids["train"])

    stage("stats (train list)", ["stats", str(feat), "--list", str(lists["train"]), "-o", str(out / "stats.npz")],
          seconds(ids["train"]))
    exp = out / "exp"
    stage("train", ["train", str(feat), "-o", str(exp), "--stats", str(out / "stats.npz"), "--train-list",
                            str(lists["train"]), "--valid-list", str(lists["dev"]), "--epochs", str(args.epochs)],
                  seconds(ids["train"]) * args.epochs)
    with open(exp / "log.csv") as f:
        log = list(csv.DictReader(f))
    p, best = plateau(log)
    train_s = float(log[-1]["elapsed_s"])
    rows[-1][4] = (f"{frames:,} frames x {args.epochs} epochs: {frames * args.epochs / train_s:,.0f} frames/s in the "
                   f"loop; dev MCD plateau (within 2% of best {best:.2f} dB) "
                   f"at epoch {p['epoch']}, {float(p['elapsed_s']):.0f} s")
    stage("evaluate (eval list)", ["evaluate", str(feat), "--model", str(exp), "--list", str(lists["eval"]), "-o",
                                   str(out / "eval.json")], seconds(ids["eval"]))
    metrics = json.loads((out / "eval.json").read_text())
    rows[-1][4] = f"held-out MCD {metrics['mcd_db']:.2f} dB"
    # the linear reference on the same held-out utterances (PCA-k of the training frames, in the MCD's scale)
    stage("baseline pca (eval list)", ["baseline", "pca", str(feat), "-o", str(out / "pca"), "--dims", "16,32,39",
                                       "--train-list", str(lists["train"]), "--list", str(lists["eval"])],
          seconds(ids["eval"]))
    pca = {k: json.loads((out / "pca" / f"pca{k}.json").read_text())["mcd_db"] for k in (16, 32, 39)}
    rows[-1][4] = "held-out MCD " + ", ".join(f"PCA-{k} {v:.2f} dB" for k, v in pca.items())
    stage("resynth (eval list, through the model)", ["resynth", str(feat), "--model", str(exp), "--list",
                                                     str(lists["eval"]), "-o", str(out / "wav")], seconds(ids["eval"]))
    print(f"\n## The pipeline on CMU ARCTIC bdl + slt: {len(manifest)} utterances, {total / 60:.1f} min; "
          f"{len(ids['train'])} train / {len(ids['dev'])} dev / {len(ids['eval'])} eval\n")
    print(table(["stage", "wall s", "RTF", "peak RSS MB", "note"], rows))

    sizes = [int(v) for v in args.synthetic.split(",") if v]
    mem = []
    for n in sizes:
        d = synthetic_featdir(out / f"synthetic{n}", n)
        names = [f"u{i:06d}" for i in range(n // UTT_FRAMES)]
        (out / "syn_train.list").write_text("".join(f"{u}\n" for u in names[:-10]))
        (out / "syn_valid.list").write_text("".join(f"{u}\n" for u in names[-10:]))
        rss, wall = peak_rss_mb(CLI + ["train", str(d), "-o", str(out / "syn_exp"), "--overwrite", "--epochs", "1",
                                       "--train-list", str(out / "syn_train.list"), "--valid-list",
                                       str(out / "syn_valid.list"), "--set", "train.max_memory_mb=0",
                                       "--device", "cpu"])
        mem.append([f"{n:,}", rss, rss / mem[0][1] if mem else 1.0, wall])
        print(f"({n} synthetic frames: {rss:.0f} MB, {wall:.0f} s)", flush=True)
        shutil.rmtree(d)
        shutil.rmtree(out / "syn_exp", ignore_errors=True)
    if mem:
        print("\n## Training memory, one epoch streamed from the frame store (synthetic frames)\n")
        print(table(["training frames", "peak RSS MB", "vs smallest", "wall s"], mem))
    (out / "corpus.json").write_text(json.dumps({"stages": cells, "synthetic": mem}, indent=1))


if __name__ == "__main__":
    main()
