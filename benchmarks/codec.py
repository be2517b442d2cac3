"""speechvae as a speech codec beside Codec2 and Opus: the bit-rate / quality curve on held-out CMU ARCTIC sentences
of its own speakers (bdl, slt: the last 10 sentence names, a0391..a0400) and on two ARCTIC speakers it never heard
(aew, axb: three utterances each), through recipes/codec/run.sh.

    python benchmarks/codec.py [--workdir data/bench/codec] [--nj 2] [--rates "1.2 1.6 2.4"] [--conf FILE]
                               [--docs-img DIR]

Needs speechvae[quality] for the measures, and the Debian packages codec2 (c2enc, c2dec) and opus-tools (opusenc,
opusdec) for the reference rows (`apt-get install codec2 opus-tools`); without them those rows are left out with a
warning. Prints the two tables (kbit/s measured from the file sizes, headers and containers included; PESQ-WB,
PESQ-NB, STOI after the codec delay is removed, DNSMOS P.808, speaker similarity); --docs-img copies the two
figures there. A re-run resumes the recipe where it stopped (stages: --stage passes through the recipe).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

from _common import CORPORA, ROOT, corpus_or_exit

UNSEEN = {"aew": "cmu_arctic_us_aew_a000[123].wav", "axb": "cmu_arctic_us_axb_a000[456].wav"}


def unseen_folder(workdir: Path) -> Path:
    """The unseen voices as speaker folders of links (their files sit in one folder of the shared corpora)."""
    src = CORPORA / "cmu_arctic"
    out = workdir / "unseen_voices"
    for spk, pattern in UNSEEN.items():
        (out / spk).mkdir(parents=True, exist_ok=True)
        for w in sorted(src.glob(pattern)):
            link = out / spk / w.name
            if not link.exists():
                link.symlink_to(w.resolve())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default=str(ROOT / "data" / "bench" / "codec"))
    ap.add_argument("--nj", type=int, default=2)
    ap.add_argument("--rates", default="1.2 1.6 2.4")
    ap.add_argument("--conf", default=str(ROOT / "recipes" / "codec" / "conf" / "codec.yaml"))
    ap.add_argument("--stage", default="0")
    ap.add_argument("--docs-img", help="copy the figures into this folder (docs/img)")
    args = ap.parse_args()
    db = corpus_or_exit("cmu_arctic_bdl_slt")
    work = Path(args.workdir)
    unseen = unseen_folder(work)
    t0 = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # the recipe runs --nj jobs side by side
    subprocess.run(["bash", str(ROOT / "recipes" / "codec" / "run.sh"), "--db", str(db), "--workdir", str(work),
                    "--conf", args.conf, "--nj", str(args.nj), "--rates", args.rates, "--unseen", str(unseen),
                    "--stage", args.stage], check=True, env=env)
    exp = work / "exp" / Path(args.conf).stem
    for part in ("eval", "unseen"):
        print((exp / part / "results.md").read_text())
        if args.docs_img:
            shutil.copy(exp / part / "rate_quality.png", Path(args.docs_img) / f"codec_{part}.png")
    print(f"wall time {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
