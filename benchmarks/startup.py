"""The command line's fixed cost: `speechvae analyze --f0 dio -j 1` on a few files against a hand-written
pyworld + pysptk loop over the same files, each a fresh Python process (start-up and imports included).

    python benchmarks/startup.py [--files 30] [--repeats 3]

The hand loop is what a user would write without the toolkit: read, DIO + StoneMask, CheapTrick, D4C,
pysptk.sp2mc, np.savez. speechvae does more per file (high-pass, band aperiodicity, a manifest, statistics,
per-speaker F0 / power histograms). Cells alternate; the best of the repeats is shown (noise only slows).
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from _common import corpus_or_exit, table
from framestore import peak_rss_mb

HAND_LOOP = """
import sys
from pathlib import Path
import numpy as np, pysptk, pyworld, soundfile as sf
out = Path(sys.argv[1])
for p in sys.argv[2:]:
    x, fs = sf.read(p)
    f0, t = pyworld.dio(x, fs, frame_period=5.0)
    f0 = pyworld.stonemask(x, f0, t, fs)
    sp = pyworld.cheaptrick(x, f0, t, fs)
    ap = pyworld.d4c(x, f0, t, fs)
    mc = pysptk.sp2mc(sp, 39, pysptk.util.mcepalpha(fs))
    np.savez(out / (Path(p).stem + ".npz"), f0=f0, mcep=mc, ap=ap)
"""


def wall(cmd: list[str]) -> float:
    """Wall seconds of ``cmd`` as a child process (framestore.py's runner; exits naming a failure)."""
    return peak_rss_mb(cmd)[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    wavs = [str(p) for p in sorted((corpus_or_exit("cmu_arctic_bdl_slt") / "bdl").glob("*.wav"))[: args.files]]
    tmp = Path(tempfile.mkdtemp())
    cells = {
        "hand-written pyworld + pysptk loop": lambda: wall([sys.executable, "-c", HAND_LOOP, str(tmp / "hand"), *wavs]),
        "speechvae analyze --f0 dio -j 1": lambda: wall([sys.executable, "-m", "speechvae.cli", "-q", "analyze", *wavs,
                                                         "-o", str(tmp / "sv"), "--f0", "dio", "-j", "1",
                                                         "--overwrite"]),
        "python start-up + `import speechvae.cli`": lambda: wall([sys.executable, "-c", "import speechvae.cli"]),
        "python start-up + `import torch`": lambda: wall([sys.executable, "-c", "import torch"]),
    }
    best: dict[str, float] = {}
    try:
        for _ in range(args.repeats):
            (tmp / "hand").mkdir(exist_ok=True)
            for name, run in cells.items():
                best[name] = min(best.get(name, float("inf")), run())
    finally:
        shutil.rmtree(tmp)
    hand = best["hand-written pyworld + pysptk loop"]
    print(f"## Fixed cost: {len(wavs)} CMU ARCTIC bdl files, best of {args.repeats}\n")
    print(table(["process", "wall s", "vs hand loop"], [[k, v, f"{v / hand:.2f}x"] for k, v in best.items()]))


if __name__ == "__main__":
    main()
