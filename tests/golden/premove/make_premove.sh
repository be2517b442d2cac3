#!/usr/bin/env bash
# How the pre-restructuring checkpoint fixture was made (at commit bdf4741, before the package moved into
# sub-packages): a 3-epoch model on the golden features, its reconstruction and its evaluate MCD. The test
# loads this checkpoint with today's code and expects the same reconstruction, so old experiment folders
# keep working. Run from the repository root with that commit checked out.
set -euo pipefail
d=$(mktemp -d)
speechvae -q train tests/golden/expected -o "$d/exp" --epochs 3 --set model.hidden=[16] --set model.latent=4 \
    --set train.seed=0
speechvae -q reconstruct --model "$d/exp" tests/golden/expected -o "$d/rec"
speechvae -q evaluate --model "$d/exp" tests/golden/expected -o "$d/metrics.json"
cp "$d/exp/checkpoint.pt" tests/golden/premove/checkpoint.pt
python - "$d" <<'PY'
import json, sys
import numpy as np
from speechvae.features import Features
d = sys.argv[1]
np.save("tests/golden/premove/reconstruction_mcep.npy", Features.load(f"{d}/rec/feats/golden.npz").mcep)
json.dump({"mcd_db": json.load(open(f"{d}/metrics.json"))["mcd_db"]}, open("tests/golden/premove/metrics.json", "w"))
PY
