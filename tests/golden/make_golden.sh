#!/usr/bin/env bash
# Regenerates the golden files of tests/test_golden.py. Run from the repository root:
#   bash tests/golden/make_golden.sh
# Only after a deliberate change of the analysis (then say why in the commit message).
set -euo pipefail
g=tests/golden
python - <<'PY'
import soundfile as sf, sys
sys.path.insert(0, "tests")
from conftest import FS, harmonic
sf.write("tests/golden/wav/spk/golden.wav", harmonic(0.5, f0=130.0, seed=7), FS, subtype="PCM_16")
PY
rm -rf "$g/expected" /tmp/golden_copy
speechvae -q analyze "$g/wav" -o "$g/expected"
rm -f "$g"/expected/*.png                                  # pictures are not compared
speechvae -q resynth "$g/expected" -o /tmp/golden_copy      # WORLD copy synthesis
speechvae -q analyze /tmp/golden_copy -o /tmp/golden_copy_feats
python - <<'PY'
import json
from speechvae.analysis.features import Features
from speechvae.evaluation.metrics import mcd_db
a = Features.load("tests/golden/expected/feats/golden.npz")
b = Features.load("/tmp/golden_copy_feats/feats/golden.npz")
n = min(a.frames, b.frames)
json.dump({"copy_synthesis_mcd_db": round(mcd_db(a.mcep[:n], b.mcep[:n]), 4), "frames": a.frames},
          open("tests/golden/expected/metrics.json", "w"), indent=2)
PY
