#!/usr/bin/env bash
# Demo: the whole loop on the CMU ARCTIC utterance shipped inside pysptk (no download).
# One utterance only, so train, dev and eval are the same utterance: a demo, not a benchmark.
# Usage: recipes/demo/run.sh [--stage N] [--stop-stage M] [--conf FILE]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=demo
conf=${here}/conf/demo.yaml
data_prep() {
    wav=$(python -W ignore -c "import pysptk.util; print(pysptk.util.example_audio_file())")
    speechvae lists "${wav}" -o "$1" --n-dev 1 --n-eval 1  # one utterance: it lands in every list
}
source "${here}/../TEMPLATE/stages.sh"
