"""Shared helpers for the benchmark scripts (not part of the package)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPORA = ROOT.parent / "shared" / "corpora"


def corpus_or_exit(name: str) -> Path:
    d = CORPORA / name
    if not d.is_dir():
        sys.exit(f"benchmark needs {d} (the shared corpora beside the checkout); not found")
    return d


def table(headers: list[str], rows: list[list]) -> str:
    """A GitHub-markdown table."""
    fmt = lambda v: f"{v:.3g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def judged(feat: Path, eval_ids: list[str], systems: dict) -> str:
    """Reconstructions judged as listeners judge them (speechvae.evaluation.quality; needs speechvae[quality]): a
    markdown table of PESQ-WB and STOI against the original recording and DNSMOS (P.808, OVRL), one row per system
    (name -> (MCD dB, rebuild(features) -> features)) beside WORLD copy synthesis (the ceiling of any system
    resynthesised through WORLD) and the recordings themselves."""
    from speechvae.evaluation.quality import reconstruction_quality

    first = reconstruction_quality(feat, eval_ids, lambda u, f: f, progress=False, versions=("original", "copy"))
    rows = [["original recording", "", None, None, *_dns(first["overall"]["original"])],
            ["WORLD copy synthesis (ceiling)", 0.0, *_intrusive(first["overall"]["copy"]),
             *_dns(first["overall"]["copy"])]]
    for name, (mcd, rebuild) in systems.items():
        q = reconstruction_quality(feat, eval_ids, lambda u, f: rebuild(f), progress=False, versions=("model",))
        o = q["overall"]["model"]
        rows.append([name, mcd, *_intrusive(o), *_dns(o)])
        print(f"  judged {name}", flush=True)
    rows = [["-" if v is None else v for v in r] for r in rows]
    return table(["system", "MCD dB", "PESQ-WB", "STOI", "DNSMOS P.808", "DNSMOS OVRL"], rows)


def _intrusive(o: dict) -> list:
    return [o.get("pesq_wb"), o.get("stoi")]


def _dns(o: dict) -> list:
    return [o.get("dnsmos_p808"), o.get("dnsmos_ovrl")]


def trained(feat: Path, exp: Path, cfg, train_list: Path, valid_list: Path) -> Path:
    """``exp`` holding ``cfg`` trained to its end on ``feat``: trained when absent, resumed when a killed run left
    an unfinished checkpoint (a checkpoint is written every epoch, so its presence alone does not mean done),
    untouched when finished."""
    from speechvae.models.checkpoint import CheckpointError, load_checkpoint
    from speechvae.training.loop import finished, fit

    try:
        ck = load_checkpoint(exp)
    except CheckpointError:
        ck = None
    if ck is None or not finished(ck, cfg):
        if ck is not None:
            print(f"  {exp.name}: resuming from epoch {ck.epoch} of {cfg.train.epochs}", flush=True)
        fit(feat, exp, cfg, resume=ck is not None, overwrite=ck is None, train_list=train_list,
            valid_list=valid_list, progress=False)
    return exp


def aishell_split(out: Path) -> tuple[Path, Path]:
    """The AISHELL-1 S0913 features and the fixed 64 / 8 / 8 split by id (``out/lists/{train,dev,eval}.list``)
    that the compact-codes and VQ benchmarks share: (feature folder, lists folder)."""
    from speechvae.analysis.inputs import collect_inputs
    from speechvae.analysis.splits import write_split_lists

    feat = aishell_features()
    lists = out / "lists"
    write_split_lists(collect_inputs([corpus_or_exit("aishell1_S0913")]), lists, 8, 8)
    return feat, lists


def aishell_features(jobs: int = 2) -> Path:
    """Analyse the AISHELL-1 speaker once into data/bench/aishell1_S0913 (re-runs skip done files)."""
    from speechvae.analysis.corpus import analyze_corpus
    from speechvae.analysis.inputs import collect_inputs
    from speechvae.config import AnalysisConfig

    out = ROOT / "data" / "bench" / "aishell1_S0913"
    rep = analyze_corpus(collect_inputs([corpus_or_exit("aishell1_S0913")]), out, AnalysisConfig(), jobs=jobs)
    if rep.failures:
        sys.exit(f"analysis failures: {rep.failures}")
    return out
